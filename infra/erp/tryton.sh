#!/usr/bin/env bash
# Local/CI Tryton 8.2 (SQLite) for Stockbridge.
#   tryton.sh init   STATE_DIR [--catalogue FILE]   create db, bootstrap, snapshot (server must not run)
#   tryton.sh start  STATE_DIR                      start in background, wait for REST (30 s max)
#   tryton.sh stop   STATE_DIR
#   tryton.sh reset  STATE_DIR                      stop, restore snapshot, start
#   tryton.sh status STATE_DIR
# Env: VENV (default infra/local/.venv, relative to repo root), TRYTON_PORT (default 8000),
#      TRYTON_ADMIN_PASSWORD (default: stockbridge-admin), TRYTON_START_TIMEOUT (default 30).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
VENV="${VENV:-infra/local/.venv}"
case "$VENV" in /*) ;; *) VENV="$REPO_ROOT/$VENV" ;; esac
PORT="${TRYTON_PORT:-8000}"
DB=stockbridge
START_TIMEOUT="${TRYTON_START_TIMEOUT:-30}"

die() { echo "tryton.sh: $*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: $0 {init|start|stop|reset|status} STATE_DIR [--catalogue FILE]"
CMD="$1"; STATE_ARG="$2"; shift 2
mkdir -p "$STATE_ARG"
STATE="$(cd "$STATE_ARG" && pwd)"
CONF="$STATE/trytond.conf"
DBFILE="$STATE/$DB.sqlite"
SNAP="$STATE/snapshot.sqlite"
PIDFILE="$STATE/trytond.pid"
LOG="$STATE/trytond.log"
ENVFILE="$STATE/erp.env"

need_venv() {
  [ -x "$VENV/bin/trytond" ] && [ -x "$VENV/bin/trytond-admin" ] \
    || die "no trytond in VENV=$VENV (pip install 'trytond==8.2.*' 'trytond-stock==8.2.*' 'trytond-sale==8.2.*' 'trytond-purchase==8.2.*')"
}

is_running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

write_conf() {
  cat > "$CONF" <<CONF
[database]
uri = sqlite://
path = $STATE

[web]
listen = 127.0.0.1:$PORT
CONF
}

cmd_init() {
  local catalogue="$SCRIPT_DIR/sample-catalogue.csv"
  while [ $# -gt 0 ]; do
    case "$1" in
      --catalogue) catalogue="$2"; shift 2 ;;
      *) die "unknown init option $1" ;;
    esac
  done
  [ -f "$catalogue" ] || die "catalogue not found: $catalogue"
  catalogue="$(cd "$(dirname "$catalogue")" && pwd)/$(basename "$catalogue")"
  need_venv
  is_running && die "trytond is running for $STATE; stop it first"
  rm -f "$DBFILE" "$DBFILE-wal" "$DBFILE-shm" "$SNAP" "$ENVFILE"
  write_conf
  umask 077
  printf '%s\n' "${TRYTON_ADMIN_PASSWORD:-stockbridge-admin}" > "$STATE/admin.pass"
  umask 022
  touch "$DBFILE"
  echo "tryton.sh: initialising database (takes ~30-60 s)..." >&2
  # trytond-admin asks for the admin email on a new db: answer with an empty line
  # (--email '' is ignored, and a real address gets a DNS deliverability check).
  # stock_supply (order points, the ERP's reorder minimums) came after the first requirements:
  # installed here when the venv lacks it.
  "$VENV/bin/python" -c 'import trytond.modules.stock_supply' 2>/dev/null \
    || "$VENV/bin/pip" install -q --disable-pip-version-check 'trytond-stock-supply==8.2.*' \
    || die "pip install trytond-stock-supply failed"
  printf '\n' | TRYTONPASSFILE="$STATE/admin.pass" "$VENV/bin/trytond-admin" -c "$CONF" -d "$DB" \
    -u stock sale purchase stock_supply --activate-dependencies >"$STATE/init.log" 2>&1 \
    || { tail -n 40 "$STATE/init.log" >&2; die "trytond-admin failed (see $STATE/init.log)"; }
  echo "tryton.sh: bootstrapping company, users, warehouses, products..." >&2
  "$VENV/bin/python" "$SCRIPT_DIR/bootstrap.py" --config "$CONF" --database "$DB" \
    --catalogue "$catalogue" --env-file "$ENVFILE" --port "$PORT" \
    || die "bootstrap.py failed"
  # Marks a snapshot with stock_supply active (infra/test.sh re-initialises one without it).
  echo "TRYTON_STOCK_SUPPLY=1" >> "$ENVFILE"
  cp "$DBFILE" "$SNAP"
  echo "tryton.sh: initialised; env in $ENVFILE, snapshot $SNAP" >&2
}

cmd_start() {
  need_venv
  [ -f "$CONF" ] && [ -f "$ENVFILE" ] || die "$STATE is not initialised (run init)"
  if is_running; then echo "tryton.sh: already running (pid $(cat "$PIDFILE"))" >&2; return 0; fi
  rm -f "$PIDFILE"
  # Config written at init carries the port; rewrite it so TRYTON_PORT at start wins.
  write_conf
  sed -i "s#^TRYTON_URL=.*#TRYTON_URL=http://127.0.0.1:$PORT/$DB#" "$ENVFILE"
  # shellcheck disable=SC1090
  local key; key="$(. "$ENVFILE"; echo "$TRYTON_API_KEY")"
  setsid "$VENV/bin/trytond" -c "$CONF" -d "$DB" --pidfile "$PIDFILE" >>"$LOG" 2>&1 < /dev/null &
  local pid=$! waited=0
  echo "$pid" > "$PIDFILE"
  local url="http://127.0.0.1:$PORT/$DB/rest/model/stock.location?s=1"
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$LOG" >&2; rm -f "$PIDFILE"; die "trytond exited during start (see $LOG)"
    fi
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "$url" || true)"
    [ "$code" = 200 ] && break
    if [ "$waited" -ge $((START_TIMEOUT * 4)) ]; then
      tail -n 30 "$LOG" >&2
      kill "$pid" 2>/dev/null || true; rm -f "$PIDFILE"
      die "REST did not answer 200 within ${START_TIMEOUT}s (last HTTP code: $code) on port $PORT"
    fi
    sleep 0.25; waited=$((waited + 1))
  done
  echo "tryton.sh: trytond up on 127.0.0.1:$PORT (pid $pid)" >&2
}

cmd_stop() {
  if ! [ -f "$PIDFILE" ]; then echo "tryton.sh: not running" >&2; return 0; fi
  local pid; pid="$(cat "$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$PIDFILE"
  echo "tryton.sh: stopped" >&2
}

cmd_reset() {
  [ -f "$SNAP" ] || die "no snapshot in $STATE (run init)"
  cmd_stop
  rm -f "$DBFILE-wal" "$DBFILE-shm" "$DBFILE-journal"
  cp "$SNAP" "$DBFILE"
  cmd_start
}

cmd_status() {
  if is_running; then
    echo "running pid $(cat "$PIDFILE") port $PORT state $STATE"
  else
    echo "stopped (state $STATE)"; return 3
  fi
}

case "$CMD" in
  init) cmd_init "$@" ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  reset) cmd_reset ;;
  status) cmd_status ;;
  *) die "unknown command $CMD" ;;
esac
