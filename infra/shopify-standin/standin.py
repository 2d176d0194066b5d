#!/usr/bin/env python3
"""A local stand-in for the subset of Shopify's Admin GraphQL API (2026-04) that Stockbridge uses.

Not Shopify: a test double that answers in Shopify's documented shapes, validates every query
against an SDL subset of the Admin schema (graphql-core), charges calculated query cost to a
leaky bucket like Shopify does, models a multi-location shop's orders, fulfillment orders and all
eight quantity names, and sends Shopify's signed webhooks (inventory levels, orders, fulfillment
orders, fulfillments, refunds) when they change.
See README.md next to this file for exactly what is and is not implemented.

    python standin.py --port 8788 --token shpat_test --shop stockbridge-demo.myshopify.com \
        --webhook-url http://127.0.0.1:8787/webhooks/shopify \
        --webhook-secret stockbridge-local-secret --bucket 1000 --restore 100

This file is the entry point (command line, start-up); the stand-in itself is the modules next
to it, imported as top-level modules from this directory: schema.graphql + schema.py (the API
surface), formats.py (gids, cursors, timestamps), store.py (state, bucket), resolvers.py,
mutations.py and bulk.py (GraphQL), cost.py (query cost), server.py (HTTP), endpoints.py (the
operator endpoints), orders.py (orders and fulfillment orders), payloads.py (REST webhook
bodies), webhooks.py (delivery, hold, flush, drop).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

# Run as a script path from any working directory (and under `python -I`/`-P`, which leave the
# script's directory off sys.path): the sibling modules are imported from this file's directory.
HERE = os.path.dirname(os.path.realpath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from http.server import ThreadingHTTPServer  # noqa: E402

from schema import GRAPHQL_PATH  # noqa: E402
from server import Handler  # noqa: E402
from store import Store  # noqa: E402
from webhooks import start_delivery  # noqa: E402

log = logging.getLogger("shopify-standin")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8788)
    p.add_argument("--token", default="shpat_test", help="expected X-Shopify-Access-Token")
    p.add_argument("--shop", default="stockbridge-demo.myshopify.com")
    p.add_argument("--webhook-url", default="", help="where to POST webhooks (none if empty)")
    p.add_argument("--webhook-secret", default="stockbridge-local-secret")
    p.add_argument("--webhook-attempts", type=int, default=3,
                   help="delivery attempts per webhook (Shopify: 1 + 8 retries over 4 h)")
    p.add_argument("--hold-webhooks", action="store_true",
                   help="hold every webhook until POST /_standin/webhooks/flush (or /drop)")
    p.add_argument("--bucket", type=float, default=1000, help="bucket size, points")
    p.add_argument("--restore", type=float, default=100, help="restore rate, points per second")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    store = Store(args)
    Handler.store = store
    start_delivery(store)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    log.info("Shopify stand-in on http://%s:%d%s (bucket %g, restore %g/s, webhooks -> %s)",
             args.host, args.port, GRAPHQL_PATH, args.bucket, args.restore, args.webhook_url or "none")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
