#!/usr/bin/env bash
# Runs `drill two-way` (docs/PERFORMANCE.md, "The ERP's changes to Shopify (two-way)") on its own
# stack: a moto server, a private Tryton 8.2 (its database fresh from its snapshot; the state is
# initialised first if it has none) and the Shopify stand-in, on the ports given; the stand-in's
# webhooks go to the drill's webhook router on WEBHOOK_PORT. The drill, built with the `drill`
# profile, provisions its own tables and queues (template.yaml) and products, runs the ERP
# poller, the ERP sync and the stock consumer in-process, and prints its report; it exits 1 if a
# change failed, was applied twice, or the ERP and Shopify disagree at the end, and this script
# with it. Stops what it started.
#
#   bash infra/drill/two_way.sh                             defaults: --changes 200 --rate 2
#   bash infra/drill/two_way.sh --rate 5 --every-ms 2000    arguments go to `drill two-way`
#
# Env: MOTO_PORT (default 4781), TRYTON_PORT (default 8781), STANDIN_PORT (default 8782),
# WEBHOOK_PORT (default a free one), TRYTON_STATE (default infra/local/.state/tryton-two-way-drill), WORK (logs and the report;
# default a new /tmp dir).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/infra/local/.venv"
MOTO_PORT="${MOTO_PORT:-4781}"
TRYTON_PORT="${TRYTON_PORT:-8781}"
STANDIN_PORT="${STANDIN_PORT:-8782}"
WEBHOOK_PORT="${WEBHOOK_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
TRYTON_STATE="${TRYTON_STATE:-$ROOT/infra/local/.state/tryton-two-way-drill}"
WORK="${WORK:-$(mktemp -d /tmp/two-way-drill.XXXXXX)}"
TOKEN="shpat_drill_two_way"
SECRET="drill-two-way-secret-$$"
mkdir -p "$WORK"
export VENV TRYTON_PORT
MOTO_PID=""
STANDIN_PID=""
cleanup() {
  [ -z "$STANDIN_PID" ] || kill "$STANDIN_PID" 2>/dev/null || true
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
if [ ! -f "$TRYTON_STATE/snapshot.sqlite" ]; then
  bash "$ROOT/infra/erp/tryton.sh" init "$TRYTON_STATE" --catalogue "$ROOT/infra/erp/sample-catalogue.csv" \
    > "$WORK/tryton-init.log" 2>&1 || { cat "$WORK/tryton-init.log" >&2; exit 2; }
fi
bash "$ROOT/infra/erp/tryton.sh" reset "$TRYTON_STATE" > /dev/null

echo "==> Shopify stand-in on 127.0.0.1:$STANDIN_PORT (webhooks to 127.0.0.1:$WEBHOOK_PORT)" >&2
"$VENV/bin/python" "$ROOT/infra/shopify-standin/standin.py" --port "$STANDIN_PORT" --token "$TOKEN" \
  --shop drill.myshopify.com --webhook-url "http://127.0.0.1:$WEBHOOK_PORT/webhooks/shopify" \
  --webhook-secret "$SECRET" --log-level WARNING > "$WORK/standin.log" 2>&1 &
STANDIN_PID=$!
wait_http "http://127.0.0.1:$STANDIN_PORT/_standin/stats" || { echo "the stand-in did not start (see $WORK/standin.log)" >&2; exit 2; }

set -a; . "$TRYTON_STATE/erp.env"; set +a
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing STOCKBRIDGE_PYTHON="$VENV/bin/python" \
  STOCKBRIDGE_METRICS_OFF=1 RUST_LOG="${RUST_LOG:-warn}"

echo "==> drill two-way $*" >&2
OUT=(--out "$WORK/report.md")
for a in "$@"; do case "$a" in --out|--out=*) OUT=() ;; esac; done
status=0
"$BIN" two-way "${OUT[@]}" --standin-url "http://127.0.0.1:$STANDIN_PORT" --standin-token "$TOKEN" \
  --webhook-secret "$SECRET" --webhook-port "$WEBHOOK_PORT" "$@" 2> >(tee "$WORK/drill.log" >&2) || status=$?
echo "(report, drill and service logs in $WORK)" >&2
exit "$status"
