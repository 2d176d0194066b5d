# Sourced by the drill scripts (orders.sh, two_way.sh): what each starts the same way, on the
# ports and state the script set (ROOT, VENV, MOTO_PORT, TRYTON_PORT, TRYTON_STATE, WORK).
#   drill_build          builds the drill with the `drill` profile; sets BIN
#   drill_moto           starts a private moto server; sets MOTO_PID
#   drill_tryton         a private Tryton fresh from its snapshot (initialised first if it has
#                        none, or one from before the sales setup or stock_supply, as
#                        infra/test.sh decides)
#   drill_env            exports the ERP's and the AWS endpoint's variables for the drill
#   drill_cleanup        stops what drill_moto and drill_tryton started
#   wait_http URL        waits up to 30 s for URL to answer

wait_http() { for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }

MOTO_PID=""
drill_cleanup() {
  [ -z "$MOTO_PID" ] || kill "$MOTO_PID" 2>/dev/null || true
  bash "$ROOT/infra/erp/tryton.sh" stop "$TRYTON_STATE" >/dev/null 2>&1 || true
}

drill_build() {
  [ -x "$VENV/bin/python" ] || bash "$ROOT/infra/local/stack.sh" setup
  echo "==> building the drill (profile drill)" >&2
  (cd "$ROOT" && cargo build --quiet --profile drill -p stockbridge-drill)
  BIN="$ROOT/target/drill/drill"
}

drill_moto() {
  echo "==> moto on 127.0.0.1:$MOTO_PORT" >&2
  "$VENV/bin/python" "$ROOT/infra/local/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT" > "$WORK/moto.log" 2>&1 &
  MOTO_PID=$!
  wait_http "http://127.0.0.1:$MOTO_PORT/moto-api/" || { echo "moto did not start (see $WORK/moto.log)" >&2; exit 2; }
}

drill_tryton() {
  export VENV TRYTON_PORT
  echo "==> Tryton 8.2 on 127.0.0.1:$TRYTON_PORT (state $TRYTON_STATE, fresh from its snapshot)" >&2
  bash "$ROOT/infra/erp/tryton.sh" stop "$TRYTON_STATE" >/dev/null 2>&1 || true
  if [ ! -f "$TRYTON_STATE/snapshot.sqlite" ] \
    || ! grep -q '^TRYTON_SALE_PARTY=' "$TRYTON_STATE/erp.env" 2>/dev/null \
    || ! grep -q '^TRYTON_STOCK_SUPPLY=' "$TRYTON_STATE/erp.env" 2>/dev/null; then
    bash "$ROOT/infra/erp/tryton.sh" init "$TRYTON_STATE" --catalogue "$ROOT/infra/erp/sample-catalogue.csv" \
      > "$WORK/tryton-init.log" 2>&1 || { cat "$WORK/tryton-init.log" >&2; exit 2; }
  fi
  bash "$ROOT/infra/erp/tryton.sh" reset "$TRYTON_STATE" > /dev/null
}

drill_env() {
  set -a; . "$TRYTON_STATE/erp.env"; set +a
  export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing STOCKBRIDGE_PYTHON="$VENV/bin/python" \
    STOCKBRIDGE_METRICS_OFF=1 RUST_LOG="${RUST_LOG:-warn}"
}
