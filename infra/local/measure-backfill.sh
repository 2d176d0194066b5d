#!/usr/bin/env bash
# Measures `stockbridge backfill` on a large catalogue (docs/PERFORMANCE.md, "Backfill"): its own
# moto server and Shopify stand-in on private ports, tables provisioned from template.yaml, the
# stand-in seeded in bulk (ITEMS items x 3 locations), the SKU map imported with
# `stockbridge skumap import`, and the ERP's on-hand from a recorded levels file
# (`--erp-levels`: the test Tryton cannot hold 150,000 products quickly). Then the backfill runs
# under /usr/bin/time -v, and a second time, which must find nothing to do.
#
#   bash infra/local/measure-backfill.sh            ITEMS=150000 by default
#   ITEMS=3000 bash infra/local/measure-backfill.sh a quick look
#
# moto runs through moto_measure.py: moto_server.py's fixes plus a `Query` that reads only its
# partition (moto's own visits and sorts the whole table: 10 s a page of the 150,000-item map).
# TEMPLATE=<file> provisions from another template than template.yaml.
# Builds the command with the `drill` profile (optimised, linked fast). Stops what it started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/infra/local/.venv"
ITEMS="${ITEMS:-150000}"
MOTO_PORT="${MOTO_PORT:-4726}"
SHOPIFY_PORT="${SHOPIFY_PORT:-8796}"
WORK="${WORK:-$(mktemp -d /tmp/measure-backfill.XXXXXX)}"
mkdir -p "$WORK"
SHOP="stockbridge-demo.myshopify.com"
TOKEN="shpat_measure_backfill"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_http() { for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }

echo "==> building stockbridge (profile drill)" >&2
(cd "$ROOT" && cargo build --quiet --profile drill -p stockbridge-cli)
BIN="$ROOT/target/drill/stockbridge"

"$VENV/bin/python" "$ROOT/infra/local/moto_measure.py" -H 127.0.0.1 -p "$MOTO_PORT" > "$WORK/moto.log" 2>&1 &
PIDS+=($!)
"$VENV/bin/python" "$ROOT/infra/shopify-standin/standin.py" --port "$SHOPIFY_PORT" --token "$TOKEN" \
  --shop "$SHOP" --webhook-secret unused > "$WORK/standin.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$MOTO_PORT/moto-api/" || { echo "moto did not start" >&2; exit 2; }
wait_http "http://127.0.0.1:$SHOPIFY_PORT/_standin/stats" || { echo "stand-in did not start" >&2; exit 2; }
"$VENV/bin/python" "$ROOT/infra/local/provision.py" --endpoint "http://127.0.0.1:$MOTO_PORT" \
  --prefix measure-backfill --env-file "$WORK/env" ${TEMPLATE:+--template "$TEMPLATE"} > /dev/null

echo "==> seeding $ITEMS items x 3 locations, the SKU map and the ERP's levels file" >&2
start=$(date +%s.%N)
"$VENV/bin/python" - "$ITEMS" "$SHOPIFY_PORT" "$WORK" "$SHOP" <<'PY'
import json, sys, urllib.request
items, port, work, shop = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
first, locations = 49000000000000000, [74000000001, 74000000002, 74000000003]
def post(body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/_standin/seed", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=600).read()
post({"reset": True, "locations": [{"id": l} for l in locations]})
chunk = 25000
for start in range(0, items, chunk):
    ns = range(start, min(items, start + chunk))
    post({"items": [{"id": first + n, "sku": f"BF-{n}"} for n in ns],
          "levels": [{"item": first + n, "location": l, "available": (n * 7 + i) % 23,
                      "damaged": int(n % 10 == 0)} for n in ns for i, l in enumerate(locations)]})
with open(f"{work}/items.csv", "w") as f:
    f.write("shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n")
    for n in range(items):
        f.write(f"{shop},{first + n},{51000000000000000 + n},BF-{n},E-{n},each,each\n")
with open(f"{work}/locations.csv", "w") as f:
    f.write("shop,location_id,name,erp_warehouse,master,default\n")
    for i, (l, m) in enumerate(zip(locations, ["erp", "shopify", "shopify"])):
        f.write(f"{shop},{l},Location {i},W{i},{m},{str(i == 0).lower()}\n")
with open(f"{work}/erp-levels.csv", "w") as f:
    f.write("warehouse,erp_item,on_hand\n")
    for n in range(items):
        for i in range(3):
            off = 1 if n % 1000 == 0 else 0  # one item in a thousand differs
            f.write(f"W{i},E-{n},{(n * 7 + i) % 23 + int(n % 10 == 0) + off}\n")
PY
echo "    stand-in seeded and files written in $(echo "$(date +%s.%N) - $start" | bc) s" >&2

set -a; . "$WORK/env"; set +a
export SHOPIFY_ADMIN_URL="http://127.0.0.1:$SHOPIFY_PORT" SHOPIFY_ACCESS_TOKEN="$TOKEN" RUST_LOG=warn
start=$(date +%s.%N)
"$BIN" skumap import --items "$WORK/items.csv" --locations "$WORK/locations.csv" > "$WORK/import.txt"
echo "    SKU map imported in $(echo "$(date +%s.%N) - $start" | bc) s" >&2

echo "==> stockbridge backfill --shop $SHOP --erp-levels erp-levels.csv" >&2
/usr/bin/time -v "$BIN" backfill --shop "$SHOP" --erp-levels "$WORK/erp-levels.csv" \
  > "$WORK/first.txt" 2> "$WORK/first.time"
head -c 4000 "$WORK/first.txt"
grep -E "Elapsed|Maximum resident" "$WORK/first.time"
echo "==> the same again: nothing to do" >&2
/usr/bin/time -v "$BIN" backfill --shop "$SHOP" --erp-levels "$WORK/erp-levels.csv" \
  > "$WORK/second.txt" 2> "$WORK/second.time"
cat "$WORK/second.txt"
grep -E "Elapsed|Maximum resident" "$WORK/second.time"
echo "(outputs kept in $WORK)" >&2
