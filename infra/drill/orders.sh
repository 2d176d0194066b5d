#!/usr/bin/env bash
# Runs `drill orders` (docs/PERFORMANCE.md, "Orders into the ERP") on its own stack: a moto server
# and a private Tryton 8.2 on the ports given, Tryton's database fresh from its snapshot (the state
# is initialised first if it has none, or none with the sales setup, as infra/test.sh does), the
# drill built with the `drill` profile and run with the arguments given, its report on stdout.
# The drill provisions its own tables and queue (template.yaml) and products; it exits 1 if any
# order does not hold exactly one sale in Tryton, and this script with it. Stops what it started.
#
#   bash infra/drill/orders.sh --orders 200 --rate 5        arguments go to `drill orders`
#   bash infra/drill/orders.sh --orders 200 --rate 2
#
# Env: MOTO_PORT (default 4727), TRYTON_PORT (default 8927), TRYTON_STATE (default
# infra/local/.state/tryton-orders-drill), WORK (logs and the report; default a new /tmp dir).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/infra/local/.venv"
MOTO_PORT="${MOTO_PORT:-4727}"
TRYTON_PORT="${TRYTON_PORT:-8927}"
TRYTON_STATE="${TRYTON_STATE:-$ROOT/infra/local/.state/tryton-orders-drill}"
WORK="${WORK:-$(mktemp -d /tmp/orders-drill.XXXXXX)}"
mkdir -p "$WORK"
export VENV TRYTON_PORT
MOTO_PID=""
cleanup() {
  [ -z "$MOTO_PID" ] || kill "$MOTO_PID" 2>/dev/null || true
  bash "$ROOT/infra/erp/tryton.sh" stop "$TRYTON_STATE" >/dev/null 2>&1 || true
}
trap cleanup EXIT

wait_http() { for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }

[ -x "$VENV/bin/python" ] || bash "$ROOT/infra/local/stack.sh" setup

echo "==> building the drill (profile drill)" >&2
(cd "$ROOT" && cargo build --quiet --profile drill -p stockbridge-drill)
BIN="$ROOT/target/drill/drill"

echo "==> moto on 127.0.0.1:$MOTO_PORT" >&2
"$VENV/bin/python" "$ROOT/infra/local/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT" > "$WORK/moto.log" 2>&1 &
MOTO_PID=$!
wait_http "http://127.0.0.1:$MOTO_PORT/moto-api/" || { echo "moto did not start (see $WORK/moto.log)" >&2; exit 2; }

echo "==> Tryton 8.2 on 127.0.0.1:$TRYTON_PORT (state $TRYTON_STATE, fresh from its snapshot)" >&2
bash "$ROOT/infra/erp/tryton.sh" stop "$TRYTON_STATE" >/dev/null 2>&1 || true
if [ ! -f "$TRYTON_STATE/snapshot.sqlite" ] || ! grep -q '^TRYTON_SALE_PARTY=' "$TRYTON_STATE/erp.env" 2>/dev/null; then
  bash "$ROOT/infra/erp/tryton.sh" init "$TRYTON_STATE" --catalogue "$ROOT/infra/erp/sample-catalogue.csv" \
    > "$WORK/tryton-init.log" 2>&1 || { cat "$WORK/tryton-init.log" >&2; exit 2; }
fi
bash "$ROOT/infra/erp/tryton.sh" reset "$TRYTON_STATE" > /dev/null

set -a; . "$TRYTON_STATE/erp.env"; set +a
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing STOCKBRIDGE_PYTHON="$VENV/bin/python" \
  STOCKBRIDGE_METRICS_OFF=1 RUST_LOG="${RUST_LOG:-warn}"

echo "==> drill orders $*" >&2
OUT=(--out "$WORK/report.md")
for a in "$@"; do case "$a" in --out|--out=*) OUT=() ;; esac; done
status=0
"$BIN" orders "${OUT[@]}" "$@" 2> >(tee "$WORK/drill.log" >&2) || status=$?
echo "(report, drill and service logs in $WORK)" >&2
exit "$status"
