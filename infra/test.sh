#!/usr/bin/env bash
# Runs every check and test on a fresh machine: installs the Python tools (venv), starts a private
# moto server, checks the template offline, runs fmt, clippy and all Rust tests, stops moto.
#   bash infra/test.sh                       everything (what CI runs)
#   bash infra/test.sh --test reconcile      only the services, then these args to cargo test -p stockbridge-testkit
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STATE="$ROOT/infra/local/.state"
VENV="$ROOT/infra/local/.venv"
TEST_MOTO_PORT="${TEST_MOTO_PORT:-4598}"
mkdir -p "$STATE"

bash infra/local/stack.sh setup

# The weekly report's test renders it in a real headless browser: Debian's chromium.
if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing Debian's chromium for the browser check of the weekly report"
  SUDO=""; [ "$(id -u)" = "0" ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null || echo "apt-get update failed; trying the install with the lists there are"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

if [ $# -eq 0 ]; then
  echo "==> template: cfn-lint and offline SAM transform"
  PY="$VENV/bin/python" bash infra/check-template.sh

  echo "==> layering: crates, dependencies, import circles, file sizes (infra/check_layers.py)"
  "$VENV/bin/python" infra/check_layers.py

  echo "==> the Shopify Admin stand-in's self-check (infra/shopify-standin/selfcheck.py)"
  "$VENV/bin/python" infra/shopify-standin/selfcheck.py

  echo "==> cargo fmt --check"
  cargo fmt --all -- --check

  echo "==> cargo clippy --all-targets -- -D warnings"
  cargo clippy --workspace --all-targets --quiet -- -D warnings
fi

echo "==> starting a private moto server on 127.0.0.1:$TEST_MOTO_PORT"
"$VENV/bin/python" "$ROOT/infra/local/moto_server.py" -H 127.0.0.1 -p "$TEST_MOTO_PORT" > "$STATE/test-moto.log" 2>&1 &
MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$TEST_MOTO_PORT/moto-api/" && break
  sleep 0.1
done

echo "==> Tryton 8.2 for the ERP tests on 127.0.0.1:${TEST_TRYTON_PORT:=8766}"
TRYTON_STATE="${TEST_TRYTON_STATE:-$STATE/tryton-test}"
export VENV TRYTON_PORT="$TEST_TRYTON_PORT"
bash infra/erp/tryton.sh stop "$TRYTON_STATE" >/dev/null 2>&1 || true
# A snapshot from before the sales setup (no TRYTON_SALE_PARTY in its env) is made again.
# So is one from before stock_supply (order points; no TRYTON_STOCK_SUPPLY in its env).
if [ ! -f "$TRYTON_STATE/snapshot.sqlite" ] || ! grep -q '^TRYTON_SALE_PARTY=' "$TRYTON_STATE/erp.env" 2>/dev/null \
  || ! grep -q '^TRYTON_STOCK_SUPPLY=' "$TRYTON_STATE/erp.env" 2>/dev/null; then
  bash infra/erp/tryton.sh init "$TRYTON_STATE" --catalogue infra/erp/sample-catalogue.csv > "$STATE/tryton-test-init.log" 2>&1 \
    || { cat "$STATE/tryton-test-init.log"; exit 1; }
fi
bash infra/erp/tryton.sh reset "$TRYTON_STATE" > /dev/null
trap 'kill $MOTO_PID 2>/dev/null || true; bash infra/erp/tryton.sh stop "$TRYTON_STATE" >/dev/null 2>&1 || true' EXIT
set -a; . "$TRYTON_STATE/erp.env"; set +a
export STOCKBRIDGE_TRYTON_STATE="$TRYTON_STATE"

echo "==> cargo test"
export AWS_ENDPOINT_URL="http://127.0.0.1:$TEST_MOTO_PORT" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  STOCKBRIDGE_TEST_PYTHON="$VENV/bin/python" STOCKBRIDGE_METRICS_OFF=1
if [ $# -eq 0 ]; then
  cargo test --workspace --all-targets
else
  cargo test -p stockbridge-testkit "$@"
fi
