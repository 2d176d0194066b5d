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
. "$ROOT/infra/drill/common.sh"
trap drill_cleanup EXIT

drill_build
drill_moto
drill_tryton
drill_env

echo "==> drill orders $*" >&2
OUT=(--out "$WORK/report.md")
for a in "$@"; do case "$a" in --out|--out=*) OUT=() ;; esac; done
status=0
"$BIN" orders "${OUT[@]}" "$@" 2> >(tee "$WORK/drill.log" >&2) || status=$?
echo "(report, drill and service logs in $WORK)" >&2
exit "$status"
