"""Webhook delivery: a background thread takes the webhooks the store queued (any topic) and POSTs
them to ``--webhook-url``, signed (``X-Shopify-Hmac-Sha256``) and with Shopify's headers,
retrying up to ``--webhook-attempts`` times and recording each result in the store. Also the
test knobs over webhooks held back: flush them (optionally shuffled, with duplicates that keep
their ``X-Shopify-Webhook-Id`` as Shopify's redeliveries do) or drop chosen ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request

from schema import API_VERSION
from store import Store

log = logging.getLogger("shopify-standin")


class WebhookRequestError(ValueError):
    """A flush or drop request that names nothing sensible; the message says what to send."""


def deliver_forever(store: Store) -> None:
    args = store.args
    secret = args.webhook_secret.encode()
    while True:
        entry = store.webhooks.get()
        topic, body = entry["topic"], entry["body"]
        raw = json.dumps(body).encode()
        signature = base64.b64encode(hmac.new(secret, raw, hashlib.sha256).digest()).decode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Shop-Domain": args.shop,
            "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Webhook-Id": entry["webhook_id"],
            "X-Shopify-Event-Id": entry["event_id"],
            "X-Shopify-Triggered-At": entry["triggered_at"],
            "User-Agent": "Shopify-Captain-Hook",
        }
        record = {"seq": entry["seq"], "webhook_id": entry["webhook_id"],
                  "event_id": entry["event_id"], "topic": topic,
                  "duplicate": entry["duplicate"],
                  "inventory_item_id": body.get("inventory_item_id"),
                  "location_id": body.get("location_id"),
                  "available": body.get("available"), "attempts": 0, "status": None, "error": None}
        ok = False
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
        log.info("webhook %s %s -> %s", topic, entry["webhook_id"], record["status"] or record["error"])


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


# --- held webhooks ------------------------------------------------------------------------------

def summary(entry: dict) -> dict:
    return {"seq": entry["seq"], "topic": entry["topic"], "webhook_id": entry["webhook_id"],
            "event_id": entry["event_id"], "triggered_at": entry["triggered_at"],
            "duplicate": entry["duplicate"]}


def chosen(store: Store, body: dict, verb: str) -> list[dict]:
    """The held entries a flush or drop names: `seqs` (list of ints), `topic`, `webhook_ids`,
    ANDed; none of them means every held one for a flush and is an error for a drop."""
    seqs, topic, ids = body.get("seqs"), body.get("topic"), body.get("webhook_ids")
    if seqs is not None and (not isinstance(seqs, list) or not all(type(n) is int for n in seqs)):
        raise WebhookRequestError("`seqs` must be a list of integers (the `seq` of held webhooks)")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
        raise WebhookRequestError("`webhook_ids` must be a list of strings")
    if topic is not None and not isinstance(topic, str):
        raise WebhookRequestError("`topic` must be a string such as \"orders/create\"")
    if seqs is None and topic is None and ids is None and verb == "drop" and not body.get("all"):
        raise WebhookRequestError("say which held webhooks to drop: `seqs`, `topic`, `webhook_ids` or `all: true`")
    known = {e["seq"] for e in store.held}
    missing = sorted(set(seqs or []) - known)
    if missing:
        raise WebhookRequestError(f"no held webhook has seq {missing}; GET /_standin/webhooks lists them")
    out = []
    for e in store.held:
        if seqs is not None and e["seq"] not in seqs:
            continue
        if topic is not None and e["topic"] != topic:
            continue
        if ids is not None and e["webhook_id"] not in ids:
            continue
        out.append(e)
    return out


def flush(store: Store, body: dict) -> list[dict]:
    """Sends held webhooks (those `chosen` names, in held order or the order of `seqs`):
    `shuffle: <seed>` reorders them (random.Random(seed)), `duplicate:
    <n>` adds n extra deliveries of randomly chosen ones with the same webhook id (next to the
    original unless shuffled). Returns what was queued, in order."""
    shuffle, duplicate = body.get("shuffle"), body.get("duplicate", 0)
    if shuffle is not None and type(shuffle) is not int:
        raise WebhookRequestError("`shuffle` must be an integer seed (or absent: held order)")
    if type(duplicate) is not int or duplicate < 0:
        raise WebhookRequestError("`duplicate` must be a non-negative integer")
    entries = chosen(store, body, "flush")
    if body.get("seqs") is not None:  # in the order the caller listed them
        entries.sort(key=lambda e: body["seqs"].index(e["seq"]))
    picked = set(id(e) for e in entries)
    store.held = [e for e in store.held if id(e) not in picked]
    rng = random.Random(shuffle if shuffle is not None else 0)
    batch = [dict(e) for e in entries]
    if batch and duplicate:
        copies = [dict(rng.choice(entries), duplicate=True) for _ in range(duplicate)]
        for copy in copies:
            if shuffle is None:
                at = next(i for i, e in enumerate(batch) if e["seq"] == copy["seq"]) + 1
                batch.insert(at, copy)
            else:
                batch.append(copy)
    if shuffle is not None:
        rng.shuffle(batch)
    for e in batch:
        store.delivery_counts["queued"] += 1
        if e["duplicate"]:
            store.delivery_counts["duplicated"] += 1
        store.webhooks.put(e)
    store.delivery_counts["held"] -= len(entries)
    return [summary(e) for e in batch]


def drop(store: Store, body: dict) -> list[dict]:
    """Loses the chosen held webhooks for good (Shopify does not promise delivery)."""
    entries = chosen(store, body, "drop")
    picked = set(id(e) for e in entries)
    store.held = [e for e in store.held if id(e) not in picked]
    store.delivery_counts["held"] -= len(entries)
    store.delivery_counts["dropped"] += len(entries)
    return [summary(e) for e in entries]
