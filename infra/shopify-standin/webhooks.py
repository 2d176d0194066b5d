"""Webhook delivery: a background thread takes the ``inventory_levels/update`` webhooks the store
queued and POSTs them to ``--webhook-url``, signed (``X-Shopify-Hmac-Sha256``) and with Shopify's
headers, retrying up to ``--webhook-attempts`` times and recording each result in the store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone

from schema import API_VERSION
from store import Store

log = logging.getLogger("shopify-standin")


def triggered_at() -> str:
    """`X-Shopify-Triggered-At` shape: nanoseconds, `Z`."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def deliver_forever(store: Store) -> None:
    args = store.args
    secret = args.webhook_secret.encode()
    while True:
        topic, body, event_id = store.webhooks.get()
        raw = json.dumps(body).encode()
        signature = base64.b64encode(hmac.new(secret, raw, hashlib.sha256).digest()).decode()
        webhook_id = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Shop-Domain": args.shop,
            "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Event-Id": event_id,
            "X-Shopify-Triggered-At": triggered_at(),
            "User-Agent": "Shopify-Captain-Hook",
        }
        record = {"webhook_id": webhook_id, "event_id": event_id, "topic": topic,
                  "inventory_item_id": body["inventory_item_id"], "location_id": body["location_id"],
                  "available": body["available"], "attempts": 0, "status": None, "error": None}
        for attempt in range(max(1, args.webhook_attempts)):
            if attempt:
                time.sleep(min(0.5 * 2 ** (attempt - 1), 5.0))
            record["attempts"] = attempt + 1
            try:
                req = urllib.request.Request(args.webhook_url, data=raw, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=5) as resp:
                    record["status"] = resp.status
                    record["error"] = None
                    ok = 200 <= resp.status < 300
            except urllib.error.HTTPError as e:
                record["status"], record["error"], ok = e.code, f"HTTP {e.code}", False
            except Exception as e:  # noqa: BLE001 - connection refused, timeout, ...
                record["status"], record["error"], ok = None, str(e), False
            with store.lock:
                store.delivery_counts["attempts"] += 1
            if ok:
                break
        with store.lock:
            store.delivery_counts["delivered" if ok else "failed"] += 1
            store.deliveries.append(record)
            del store.deliveries[:-1000]
        log.info("webhook %s %s -> %s", topic, webhook_id, record["status"] or record["error"])


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Shopify counts a 3xx as a failed delivery; so do we."""

    def redirect_request(self, *a, **kw):
        return None


def start_delivery(store: Store) -> threading.Thread:
    """Makes redirects fail (process-wide urllib opener) and starts the delivery thread."""
    urllib.request.install_opener(urllib.request.build_opener(NoRedirect))
    thread = threading.Thread(target=deliver_forever, args=(store,), daemon=True, name="webhooks")
    thread.start()
    return thread
