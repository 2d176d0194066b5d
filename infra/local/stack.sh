#!/usr/bin/env bash
# The local stack, without Docker: moto server (DynamoDB, SQS, SSM, EventBridge, S3) with the
# tables, queues and bucket provisioned from template.yaml, Tryton 8.2 (the ERP, on SQLite), the
# webhook function served on 127.0.0.1, the stock consumer fed by the local event-source poller,
# pushing to Tryton, the ERP poller and the ERP sync (the ERP's own changes to Shopify), and the
# Shopify Admin stand-in (its webhooks signed and sent to the local webhook).
# Same handler code as in Lambda.
#
#   infra/local/stack.sh up      install what is missing, start everything, write the env file
#   infra/local/stack.sh demo    up, import the sample SKU map, send the signed sample webhooks,
#                                wait until the queue is drained, show the stock and the ERP, then
#                                lose a webhook in the shop and let reconciliation find and fix it;
#                                then the other way: a receipt booked in the ERP reaches Shopify
#                                through the ERP poller and sync within seconds
#   infra/local/stack.sh down    stop everything started here
#   infra/local/stack.sh status
#
# Env (documented defaults): MOTO_PORT=4599, WEBHOOK_PORT=8787, TRYTON_PORT=8000, SHOPIFY_PORT=8788,
#   STOCKBRIDGE_WEBHOOK_SECRET=stockbridge-local-secret (the local test secret the samples use),
#   STOCKBRIDGE_SHOP=stockbridge-demo.myshopify.com, STOCKBRIDGE_ERP_WEBHOOK_SECRET (POST
#   /webhooks/erp), ERP_FEED=1 (up also starts the ERP poller and sync; demo starts them when
#   its first part is done, so the ERP's own opening stock is not written to Shopify first).
# Writes infra/local/.state/local.env: AWS endpoint, table, queue and bucket names, WEBHOOK_URL.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="$ROOT/infra/local/.state"
VENV="$ROOT/infra/local/.venv"
MOTO_PORT="${MOTO_PORT:-4599}"
WEBHOOK_PORT="${WEBHOOK_PORT:-8787}"
TRYTON_PORT="${TRYTON_PORT:-8000}"
SHOPIFY_PORT="${SHOPIFY_PORT:-8788}"
# The stand-in's Admin API token: a local test value, like the webhook secret.
SHOPIFY_TOKEN="${STOCKBRIDGE_SHOPIFY_TOKEN:-shpat_local_standin}"
ERP_STATE="$STATE/erp"
SECRET="${STOCKBRIDGE_WEBHOOK_SECRET:-stockbridge-local-secret}"
SHOP="${STOCKBRIDGE_SHOP:-stockbridge-demo.myshopify.com}"
ERP_SECRET="${STOCKBRIDGE_ERP_WEBHOOK_SECRET:-stockbridge-local-erp-secret}"
ENV_FILE="$STATE/local.env"
mkdir -p "$STATE"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { echo "stack.sh: $*" >&2; exit 1; }

setup_venv() {
  local stamp="$VENV/.requirements.sha"
  local want; want="$(sha256sum "$ROOT/infra/local/requirements.txt" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return; fi
  say "installing the Python tools (moto, Tryton, cfn-lint) into infra/local/.venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/infra/local/requirements.txt"
  echo "$want" > "$stamp"
}

running() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

wait_http() { # url seconds
  local i
  for i in $(seq 1 $(( $2 * 10 ))); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  return 1
}

FRESH_AWS=0
start_moto() {
  if running moto; then return; fi
  FRESH_AWS=1
  say "starting moto server on 127.0.0.1:$MOTO_PORT"
  "$VENV/bin/python" "$ROOT/infra/local/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT" > "$STATE/moto.log" 2>&1 &
  echo $! > "$STATE/moto.pid"
  wait_http "http://127.0.0.1:$MOTO_PORT/moto-api/" 30 || die "moto did not start (see $STATE/moto.log)"
}

start_tryton() {
  export VENV TRYTON_PORT
  if [ ! -f "$ERP_STATE/snapshot.sqlite" ]; then
    say "initialising Tryton 8.2 on SQLite (first run, about a minute)"
    bash "$ROOT/infra/erp/tryton.sh" init "$ERP_STATE" --catalogue "$ROOT/infra/erp/sample-catalogue.csv" \
      > "$STATE/tryton-init.log" 2>&1 || { cat "$STATE/tryton-init.log"; die "Tryton init failed"; }
  fi
  if [ "$FRESH_AWS" = 1 ]; then
    # moto keeps its data in memory: a new moto has no stock, so the ERP starts from its snapshot
    # too, or a second demo would push the same day into the ERP twice.
    say "starting Tryton from its snapshot on http://127.0.0.1:$TRYTON_PORT"
    bash "$ROOT/infra/erp/tryton.sh" reset "$ERP_STATE" >/dev/null
  elif ! bash "$ROOT/infra/erp/tryton.sh" status "$ERP_STATE" >/dev/null 2>&1; then
    say "starting Tryton on http://127.0.0.1:$TRYTON_PORT"
    bash "$ROOT/infra/erp/tryton.sh" start "$ERP_STATE" >/dev/null
  fi
}

provision() { # extra args for provision.py
  "$VENV/bin/python" "$ROOT/infra/local/provision.py" --endpoint "http://127.0.0.1:$MOTO_PORT" \
    --param QueueVisibilityTimeoutSeconds=5 --param MaxReceiveCount=3 "$@"
}

build() {
  say "building the functions and the stockbridge command"
  (cd "$ROOT" && cargo build --quiet --workspace --bins)
}

start_functions() {
  set -a; . "$ENV_FILE"; set +a
  export RUST_LOG="${RUST_LOG:-info}" STOCKBRIDGE_METRICS_OFF=1
  if ! running webhook; then
    say "starting the webhook function on http://127.0.0.1:$WEBHOOK_PORT/webhooks/shopify"
    STOCKBRIDGE_LISTEN="127.0.0.1:$WEBHOOK_PORT" "$ROOT/target/debug/webhook" > "$STATE/webhook.log" 2>&1 &
    echo $! > "$STATE/webhook.pid"
    wait_http "http://127.0.0.1:$WEBHOOK_PORT/healthz" 30 || die "webhook did not start (see $STATE/webhook.log)"
  fi
  if ! running consumer; then
    # An invocation lasts the queue's visibility timeout (5 s here, against Lambda's 60 s), so
    # the margin kept before its deadline and the ERP push's reserve are scaled down with it.
    say "starting the stock consumer (local SQS event source, batch 100, window 1 s)"
    STOCKBRIDGE_LOCAL_POLL=1 CONSUMER_BATCH_SIZE=100 CONSUMER_BATCH_WINDOW_SECONDS=1 \
      CONSUMER_DEADLINE_MARGIN_SECONDS=1 CONSUMER_ERP_RESERVE_SECONDS=2 \
      "$ROOT/target/debug/stock-consumer" > "$STATE/consumer.log" 2>&1 &
    echo $! > "$STATE/consumer.pid"
  fi
}

start_erp_feed() {
  set -a; . "$ENV_FILE"; set +a
  export RUST_LOG="${RUST_LOG:-info}" STOCKBRIDGE_METRICS_OFF=1
  if ! running erp-sync; then
    say "starting the ERP sync (the ERP changes queue -> Shopify's Admin API)"
    STOCKBRIDGE_LOCAL_POLL=1 "$ROOT/target/debug/erp-sync" > "$STATE/erp-sync.log" 2>&1 &
    echo $! > "$STATE/erp-sync.pid"
  fi
  if ! running erp-poller; then
    # A poller without a stored cursor starts after the ERP's newest change.
    say "starting the ERP poller (Tryton's done moves, purchases and items, every second here)"
    STOCKBRIDGE_LOCAL_POLL=1 ERP_URL="$TRYTON_URL" ERP_POLL_EVERY_SECONDS=1 \
      "$ROOT/target/debug/erp-poller" > "$STATE/erp-poller.log" 2>&1 &
    echo $! > "$STATE/erp-poller.pid"
  fi
}

start_standin() {
  if running standin; then return; fi
  say "starting the Shopify Admin stand-in on http://127.0.0.1:$SHOPIFY_PORT (webhooks to the local webhook)"
  "$VENV/bin/python" "$ROOT/infra/shopify-standin/standin.py" --port "$SHOPIFY_PORT" \
    --token "$SHOPIFY_TOKEN" --shop "$SHOP" --webhook-secret "$SECRET" \
    --webhook-url "http://127.0.0.1:$WEBHOOK_PORT/webhooks/shopify" > "$STATE/standin.log" 2>&1 &
  echo $! > "$STATE/standin.pid"
  wait_http "http://127.0.0.1:$SHOPIFY_PORT/_standin/stats" 30 || die "stand-in did not start (see $STATE/standin.log)"
}

cmd_up() {
  setup_venv
  start_moto
  start_tryton
  provision --env-file "$ENV_FILE" --shop-secret "$SHOP=$SECRET" \
    --param ReconcileShop="$SHOP" --param ShopifyAdminUrl="http://127.0.0.1:$SHOPIFY_PORT" \
    --param ErpShops="$SHOP" >/dev/null
  echo "ERP_WEBHOOK_SECRET=$ERP_SECRET" >> "$ENV_FILE"
  echo "WEBHOOK_URL=http://127.0.0.1:$WEBHOOK_PORT/webhooks/shopify" >> "$ENV_FILE"
  echo "STOCKBRIDGE_SHOP=$SHOP" >> "$ENV_FILE"
  echo "SHOPIFY_ACCESS_TOKEN=$SHOPIFY_TOKEN" >> "$ENV_FILE"
  grep -E '^TRYTON_(URL|API_KEY|COMPANY_ID|SALE_PARTY)=' "$ERP_STATE/erp.env" >> "$ENV_FILE"
  echo "ERP_BREAKER_COOLDOWN_SECONDS=5" >> "$ENV_FILE"
  build
  start_functions
  start_standin
  if [ "${ERP_FEED:-0}" = 1 ]; then start_erp_feed; fi
  say "stack is up; its addresses and names are in infra/local/.state/local.env"
}

queue_depth() {
  "$VENV/bin/python" - "$EVENTS_QUEUE_URL" <<'PY'
import os, sys, boto3
sqs = boto3.client("sqs", region_name=os.environ.get("AWS_REGION", "us-east-1"))
q = sqs.get_queue_attributes(QueueUrl=sys.argv[1], AttributeNames=["All"])["Attributes"]
print(int(q["ApproximateNumberOfMessages"]) + int(q["ApproximateNumberOfMessagesNotVisible"]))
PY
}

cmd_demo() {
  cmd_up
  set -a; . "$ENV_FILE"; set +a
  local sb="$ROOT/target/debug/stockbridge"
  say "importing the sample SKU map (infra/local/catalogue)"
  "$sb" skumap import --items "$ROOT/infra/local/catalogue/items.csv" --locations "$ROOT/infra/local/catalogue/locations.csv" >/dev/null
  say "ERP stock received before the day starts (the warehouse is counted in the ERP)"
  "$sb" erp apply --warehouse WH --key demo-opening-stock TEE-BLK-M=100 TEE-WHT-L=40 MUG=120 >/dev/null
  say "the shop (the Admin API stand-in) holds what the day ends with, as Shopify does when its webhooks arrive"
  # The consumer reads the levels the webhooks leave unexplained (a count on the shop floor) from
  # the stand-in before it tells the ERP anything; the figures are events/webhook/EXPECTED.json.
  "$VENV/bin/python" -c 'import json, sys
rows = [{"item": k.split("@")[0], "location": k.split("@")[1], "available": v["available"],
         "committed": v["committed"]}
        for shop in json.load(open(sys.argv[1])).values() for k, v in shop.items()]
print(json.dumps(rows))' "$ROOT/events/webhook/EXPECTED.json" \
    | "$VENV/bin/python" "$ROOT/infra/shopify-standin/seed_from_stock.py" "http://127.0.0.1:$SHOPIFY_PORT"
  # Order A's mug is still open: Shopify counts it committed at the warehouse it routed it to.
  # The story carries no fulfillment_orders webhook, so Stockbridge cannot know where; the
  # warehouse's on_hand stays confirmed by the read, and reconciliation reports the difference.
  curl -s -o /dev/null "http://127.0.0.1:$SHOPIFY_PORT/_standin/set" -H 'Content-Type: application/json' \
    -d '{"item": 45000000000000003, "location": 72000000001, "available": 9, "committed": 1, "silent": true}'
  say "sending the signed sample webhooks (events/webhook/*.json)"
  "$sb" send --url "$WEBHOOK_URL" "$ROOT"/events/webhook/[0-9]*.json
  say "waiting for the consumer to drain the queue"
  local i
  for i in $(seq 1 60); do
    [ "$(queue_depth)" = "0" ] && break
    sleep 0.5
  done
  say "stock in DynamoDB for $SHOP"
  "$sb" stock show --shop "$SHOP"
  say "parked (waiting for a mapping)"
  "$sb" parked list --shop "$SHOP"
  say "the ERP (Tryton) beside Shopify's figures, in ERP units"
  "$sb" erp levels --shop "$SHOP"

  say "reconciliation: the shop (the Admin API stand-in) holds what the day ended with"
  "$sb" reconcile run
  say "a merchant counts 21 SB-CAP-RED on the shop floor, types it into Shopify, and the webhook is lost"
  curl -s -o /dev/null "http://127.0.0.1:$SHOPIFY_PORT/_standin/set" -H 'Content-Type: application/json' \
    -d '{"item": 45000000000000004, "location": 72000000002, "available": 21, "silent": true}'
  "$sb" reconcile run
  for i in $(seq 1 60); do
    [ "$(queue_depth)" = "0" ] && break
    sleep 0.5
  done
  say "after the correction: DynamoDB and the ERP follow the shop (Shopify-master shop floor)"
  "$sb" stock history --shop "$SHOP" --item 45000000000000004 --location 72000000002 | tail -3
  "$sb" erp levels --shop "$SHOP"
  "$sb" reconcile run

  say "the other way: the ERP's own changes reach Shopify (ERP poller -> ERP changes queue -> ERP sync)"
  start_erp_feed
  local shown before after started
  shown() { curl -s "http://127.0.0.1:$SHOPIFY_PORT/_standin/state" | "$VENV/bin/python" -c 'import json, sys
s = json.load(sys.stdin)
print(next(l["available"] for l in s["levels"] if l["item_id"] == 45000000000000001 and l["location_id"] == 72000000001))'; }
  for i in $(seq 1 50); do grep -q "ERP feed starts\|poller run done\|polls" "$STATE/erp-poller.log" 2>/dev/null && break; sleep 0.2; done
  sleep 2
  before="$(shown)"
  say "24 SB-TEE-BLK-M received into WH in the ERP (Shopify shows $before available at the warehouse)"
  started=$(date +%s%N)
  "$sb" erp apply --warehouse WH --key "demo-receipt-$(date +%s)" TEE-BLK-M=24 >/dev/null
  after="$before"
  for i in $(seq 1 150); do
    after="$(shown)"
    [ "$after" != "$before" ] && break
    sleep 0.1
  done
  echo "Shopify now shows $after available at the warehouse, $(( ($(date +%s%N) - started) / 1000000 )) ms after the ERP booked it"
  "$sb" stock explain --shop "$SHOP" --item 45000000000000001 --location 72000000001
  echo
  echo "Stop with: infra/local/stack.sh down"
}

cmd_down() {
  local p
  for p in erp-poller erp-sync standin consumer webhook moto; do
    if running "$p"; then kill "$(cat "$STATE/$p.pid")" 2>/dev/null || true; fi
    rm -f "$STATE/$p.pid"
  done
  VENV="$VENV" bash "$ROOT/infra/erp/tryton.sh" stop "$ERP_STATE" >/dev/null 2>&1 || true
  say "stopped"
}

cmd_status() {
  local p
  for p in moto webhook consumer erp-sync erp-poller standin; do
    if running "$p"; then echo "$p: running (pid $(cat "$STATE/$p.pid"))"; else echo "$p: stopped"; fi
  done
  if VENV="$VENV" bash "$ROOT/infra/erp/tryton.sh" status "$ERP_STATE" >/dev/null 2>&1; then echo "tryton: running"; else echo "tryton: stopped"; fi
}

case "${1:-}" in
  up) cmd_up ;;
  demo) cmd_demo ;;
  down) cmd_down ;;
  status) cmd_status ;;
  setup) setup_venv ;;
  start-moto) setup_venv; start_moto ;;
  *) die "usage: $0 {up|demo|down|status}" ;;
esac
