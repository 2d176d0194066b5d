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
. "$ROOT/infra/drill/common.sh"
STANDIN_PID=""
cleanup() {
  [ -z "$STANDIN_PID" ] || kill "$STANDIN_PID" 2>/dev/null || true
  drill_cleanup
}
trap cleanup EXIT

drill_build
drill_moto
drill_tryton

echo "==> Shopify stand-in on 127.0.0.1:$STANDIN_PORT (webhooks to 127.0.0.1:$WEBHOOK_PORT)" >&2
"$VENV/bin/python" "$ROOT/infra/shopify-standin/standin.py" --port "$STANDIN_PORT" --token "$TOKEN" \
  --shop drill.myshopify.com --webhook-url "http://127.0.0.1:$WEBHOOK_PORT/webhooks/shopify" \
  --webhook-secret "$SECRET" --log-level WARNING > "$WORK/standin.log" 2>&1 &
STANDIN_PID=$!
wait_http "http://127.0.0.1:$STANDIN_PORT/_standin/stats" || { echo "the stand-in did not start (see $WORK/standin.log)" >&2; exit 2; }

drill_env

echo "==> drill two-way $*" >&2
OUT=(--out "$WORK/report.md")
for a in "$@"; do case "$a" in --out|--out=*) OUT=() ;; esac; done
status=0
"$BIN" two-way "${OUT[@]}" --standin-url "http://127.0.0.1:$STANDIN_PORT" --standin-token "$TOKEN" \
  --webhook-secret "$SECRET" --webhook-port "$WEBHOOK_PORT" "$@" 2> >(tee "$WORK/drill.log" >&2) || status=$?
echo "(report, drill and service logs in $WORK)" >&2
exit "$status"
