#!/usr/bin/env python3
"""The stand-in's own check: starts it (a subprocess on a free port) with a webhook receiver in
this process, drives a multi-location day through the operator endpoints and checks quantities
(Shopify's arithmetic at every step), fulfillment orders, the contract's three GraphQL queries and
their cost, every webhook (topic, body, signature, headers, one event id per action, unique
webhook ids), the hold / flush / drop knobs, payments, order edits and refunds
(selfcheck_orders.py), webhook subscriptions and access scopes (selfcheck_subscriptions.py), and
metafields on variants and the log of inventory adjustment groups (selfcheck_twoway.py). Exits 0 when all pass, 1 with the first failure.

    infra/local/.venv/bin/python infra/shopify-standin/selfcheck.py
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import selfcheck_orders
import selfcheck_subscriptions
import selfcheck_twoway

HERE = os.path.dirname(os.path.realpath(__file__))
SECRET = "selfcheck-secret"
TOKEN = "shpat_selfcheck"
SHOP = "selfcheck.myshopify.com"
NAMES = ["available", "committed", "on_hand", "reserved", "damaged", "safety_stock",
         "quality_control", "incoming"]
WH, STORE, POPUP = 72000000001, 72000000002, 72000000003
TEE, MUG, CAP = 271878346596884015, 271878346596884016, 271878346596884017

FO_FIELDS = """
      id
      status
      updatedAt
      orderId
      assignedLocation { location { id } }
      lineItems(first: %d) {
        pageInfo { hasNextPage }
        nodes { id remainingQuantity totalQuantity inventoryItemId lineItem { id } }
      }"""
Q_FOS = "query StockbridgeFulfillmentOrders($ids: [ID!]!) {\n  nodes(ids: $ids) {\n    ... on FulfillmentOrder {%s\n    }\n  }\n}"
Q_LEVELS = """query StockbridgeLevelQuantities($ids: [ID!]!, $names: [String!]!) {
  nodes(ids: $ids) {
    ... on InventoryLevel {
      id
      updatedAt
      location { id }
      item { id }
      quantities(names: $names) { name quantity }
    }
  }
}"""
Q_OPEN = """query StockbridgeOpenFulfillmentOrders($query: String!, $after: String) {
  fulfillmentOrders(first: %d, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes {%s
    }
  }
}"""


class Failed(Exception):
    pass


def check(condition, message: str) -> None:
    if not condition:
        raise Failed(message)


received: list[dict] = []


class Receiver(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):  # noqa: N802
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "raw": raw,
                         "body": json.loads(raw)})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Standin:
    def __init__(self, *extra: str):
        receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "standin.py"), "--port", str(self.port), "--token", TOKEN,
             "--shop", SHOP, "--webhook-secret", SECRET, "--log-level", "WARNING",
             "--webhook-url", f"http://127.0.0.1:{receiver.server_address[1]}/hook", *extra])
        deadline = time.time() + 20
        while True:
            try:
                self.get("/_standin/stats")
                break
            except OSError:
                check(time.time() < deadline, "the stand-in did not start")
                time.sleep(0.1)

    def request(self, method: str, path: str, body=None, expect: int = 200, headers=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, answer = r.status, json.load(r)
        except urllib.error.HTTPError as e:
            status, answer = e.code, json.load(e)
        check(status == expect, f"{method} {path} {body}: HTTP {status} (expected {expect}): {answer}")
        return answer

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body, expect=200):
        return self.request("POST", path, body, expect)

    def gql(self, query, variables):
        self.post("/_standin/reset-bucket", {})  # these checks are about cost, not pacing
        return self.request("POST", "/admin/api/2026-04/graphql.json",
                            {"query": query, "variables": variables},
                            headers={"X-Shopify-Access-Token": TOKEN})

    def level(self, item, location):
        return next(l for l in self.get("/_standin/state")["levels"]
                    if l["item_id"] == item and l["location_id"] == location)

    def settle(self, n_expected: int | None = None):
        deadline = time.time() + 15
        while True:
            d = self.get("/_standin/stats")["deliveries"]
            if d["delivered"] + d["failed"] == d["queued"] and (n_expected is None or len(received) >= n_expected):
                check(d["failed"] == 0, f"a webhook failed: {d}")
                return
            check(time.time() < deadline, f"webhooks not delivered: {d}")
            time.sleep(0.05)

    def begin(self) -> int:
        """Waits for every queued webhook, then marks where this step's start."""
        self.settle()
        return len(received)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def quantities_hold(s: Standin) -> None:
    """Shopify's arithmetic at every level: on_hand = available + committed + unavailable."""
    for l in s.get("/_standin/state")["levels"]:
        parts = sum(l[n] for n in ("available", "committed", "reserved", "damaged", "safety_stock",
                                   "quality_control"))
        check(l["on_hand"] == parts, f"on_hand is not the sum of its parts: {l}")


def take(since: int) -> list[dict]:
    return received[since:]


def check_webhooks(batch: list[dict], topics: list[str], answer: dict) -> None:
    got = [w["headers"]["x-shopify-topic"] for w in batch]
    check(got == topics, f"topics {got}, expected {topics}")
    events = {w["headers"]["x-shopify-event-id"] for w in batch}
    check(events == {answer["event_id"]}, f"one event id per action: {events} vs {answer['event_id']}")
    ids = [w["headers"]["x-shopify-webhook-id"] for w in batch]
    check(len(set(ids)) == len(ids), "webhook ids are unique")
    check(ids == [w["webhook_id"] for w in answer["webhooks"]], "the answer lists the webhooks sent")
    for w in batch:
        h = w["headers"]
        digest = base64.b64encode(hmac.new(SECRET.encode(), w["raw"], hashlib.sha256).digest()).decode()
        check(hmac.compare_digest(h["x-shopify-hmac-sha256"], digest), "signature")
        check(h["x-shopify-shop-domain"] == SHOP and h["x-shopify-api-version"] == "2026-04", "headers")
        check(h["x-shopify-triggered-at"].endswith("Z") and len(h["x-shopify-triggered-at"]) == 30,
              f"triggered-at {h['x-shopify-triggered-at']}")


def fo_gid(n):
    return f"gid://shopify/FulfillmentOrder/{n}"


def run() -> int:
    s = Standin()
    checks = 0
    try:
        s.post("/_standin/seed", {
            "reset": True,
            "items": [{"id": TEE, "sku": "TEE"}, {"id": MUG, "sku": "MUG"},
                      {"id": CAP, "sku": "CAP", "tracked": False}],
            "locations": [{"id": WH, "name": "Warehouse"}, {"id": STORE, "name": "Shop floor"},
                          {"id": POPUP, "name": "Pop-up"}],
            "levels": [{"item": TEE, "location": WH, "available": 20, "damaged": 1},
                       {"item": TEE, "location": STORE, "available": 5},
                       {"item": TEE, "location": POPUP, "available": 2},
                       {"item": MUG, "location": WH, "available": 8, "safety_stock": 2, "incoming": 6},
                       {"item": MUG, "location": STORE, "available": 3}],
        })
        s.post("/_standin/seed", {"levels": [{"item": TEE, "location": WH, "on_hand": 3}]}, expect=400)
        quantities_hold(s)

        # An online order: routed to the primary location (lowest id), one FO.
        mark = s.begin()
        a = s.post("/_standin/order", {"lines": [{"sku": "TEE", "quantity": 3},
                                                 {"inventory_item_id": MUG, "quantity": 2},
                                                 {"custom": True, "title": "Gift wrap", "quantity": 1}]})
        s.settle(mark + 4)
        check_webhooks(take(mark), ["orders/create", "inventory_levels/update", "inventory_levels/update",
                                    "fulfillment_orders/order_routing_complete"], a)
        order, (fo,) = a["order"], a["fulfillment_orders"]
        check(fo["location_id"] == WH and fo["status"] == "OPEN", f"routed to the primary: {fo}")
        created = received[mark]["body"]
        check(created["id"] == order["id"] and created["location_id"] is None, "online order has no location")
        check([li["quantity"] for li in created["line_items"]] == [3, 2, 1], "lines")
        check(created["line_items"][0]["id"] > 2**53, "line ids above 2^53 survive as integers")
        check(created["line_items"][2]["variant_id"] is None and created["line_items"][2]["sku"] is None,
              "a custom line names no variant or SKU")
        check(created["email"] and created["customer"]["email"] and created["shipping_address"]["address1"],
              "customer details to filter")
        check(received[mark + 3]["body"] == {"fulfillment_order": {"id": fo_gid(fo["id"]), "status": "open"}},
              f"routing complete payload: {received[mark + 3]['body']}")
        check(received[mark + 1]["body"]["available"] == 17, "available -3")
        tee = s.level(TEE, WH)
        check((tee["available"], tee["committed"], tee["on_hand"]) == (17, 3, 21), f"TEE@WH {tee}")
        quantities_hold(s)
        checks += 1

        # A POS order names its location; lines route there.
        mark = s.begin()
        b = s.post("/_standin/order", {"pos_location": STORE, "lines": [{"sku": "TEE", "quantity": 1},
                                                                        {"sku": "CAP", "quantity": 1}]})
        s.settle(mark + 3)
        check_webhooks(take(mark), ["orders/create", "inventory_levels/update",
                                    "fulfillment_orders/order_routing_complete"], b)
        check(received[mark]["body"]["location_id"] == STORE and b["fulfillment_orders"][0]["location_id"] == STORE,
              "POS order at its location")
        s.post("/_standin/order", {"lines": [{"sku": "MUG", "quantity": 1, "location": POPUP}]}, expect=400)
        s.post("/_standin/order", {"lines": [{"sku": "NOPE", "quantity": 1}]}, expect=404)
        checks += 1

        # GraphQL: the contract's three queries.
        q1 = Q_FOS % (FO_FIELDS % 50)
        r = s.gql(q1, {"ids": [fo_gid(fo["id"]), fo_gid(1)]})
        node = r["data"]["nodes"][0]
        check(r["data"]["nodes"][1] is None, "an unknown FO is null")
        check(node["status"] == "OPEN" and node["orderId"] == f"gid://shopify/Order/{order['id']}", f"{node}")
        check(node["assignedLocation"]["location"]["id"] == f"gid://shopify/Location/{WH}", "assigned")
        lines = node["lineItems"]["nodes"]
        check([l["remainingQuantity"] for l in lines] == [3, 2, 1] and lines[2]["inventoryItemId"] is None,
              f"FO lines {lines}")
        check(lines[0]["lineItem"]["id"] == f"gid://shopify/LineItem/{order['line_items'][0]['id']}", "lineItem id")
        check(r["extensions"]["cost"]["requestedQueryCost"] == 2 * 105, "requested cost per id")
        r = s.gql(q1, {"ids": [fo_gid(i) for i in range(1, 21)]})
        check(r["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
              and r["extensions"]["cost"]["requestedQueryCost"] == 2100, "20 ids x lineItems(first: 50) = 2100")
        r = s.gql(Q_FOS % (FO_FIELDS % 20), {"ids": [fo_gid(i) for i in range(1, 21)]})
        check(r["extensions"]["cost"]["requestedQueryCost"] == 900 and "errors" not in r, "20 ids x first: 20 = 900")
        level_ids = [f"gid://shopify/InventoryLevel/{WH}?inventory_item_id={TEE}",
                     f"gid://shopify/InventoryLevel/{POPUP}?inventory_item_id={MUG}"]
        r = s.gql(Q_LEVELS, {"ids": level_ids, "names": NAMES})
        got = {q["name"]: q["quantity"] for q in r["data"]["nodes"][0]["quantities"]}
        check(got == {"available": 17, "committed": 3, "on_hand": 21, "reserved": 0, "damaged": 1,
                      "safety_stock": 0, "quality_control": 0, "incoming": 0}, f"quantities {got}")
        check(r["data"]["nodes"][1] is None, "a level that does not exist is null")
        r = s.gql(Q_LEVELS, {"ids": level_ids[:1] * 100, "names": NAMES})
        check(r["extensions"]["cost"]["requestedQueryCost"] == 400, f"100 levels: {r['extensions']}")
        q3 = Q_OPEN % (20, FO_FIELDS % 20)
        r = s.gql(q3, {"query": f"assigned_location_id:{STORE}"})
        got = [n["id"] for n in r["data"]["fulfillmentOrders"]["nodes"]]
        check(got == [fo_gid(b["fulfillment_orders"][0]["id"])], f"open FOs at the store: {got}")
        check(r["extensions"]["cost"]["requestedQueryCost"] == 902, f"{r['extensions']}")
        r = s.gql(q3, {"query": "colour:red"})
        check(r["extensions"]["search"][0]["warnings"][0]["field"] == "colour", "unknown search field warns")
        r = s.gql("{ nodes(ids: [\"nonsense\"]) { id } }", {})
        check("Invalid global id" in r["errors"][0]["message"], "a malformed id is an error")
        checks += 1

        # Move part of the FO to the store: a new FO there; committed/available move.
        tee_line = fo["line_items"][0]
        mark = s.begin()
        m = s.post("/_standin/move", {"fulfillment_order": fo["id"], "location": STORE,
                                      "lines": [{"id": tee_line["id"], "quantity": 2}]})
        s.settle(mark + 4)
        check_webhooks(take(mark), ["fulfillment_orders/moved", "inventory_levels/update",
                                    "inventory_levels/update", "orders/updated"], m)
        moved = m["moved_fulfillment_order"]
        check(moved["id"] != fo["id"] and moved["location_id"] == STORE, f"a new FO at the store: {moved}")
        check(received[mark]["body"] == {
            "original_fulfillment_order": {"id": fo_gid(fo["id"]), "status": "open",
                                           "assigned_location_id": f"gid://shopify/Location/{WH}"},
            "moved_fulfillment_order": {"id": fo_gid(moved["id"]), "status": "open",
                                        "assigned_location_id": f"gid://shopify/Location/{STORE}"},
            "destination_location_id": f"gid://shopify/Location/{STORE}",
            "fulfillment_order_line_items_requested": [
                {"id": f"gid://shopify/FulfillmentOrderLineItem/{tee_line['id']}", "quantity": 2}],
            "source_location": {"id": f"gid://shopify/Location/{WH}"}}, f"moved payload {received[mark]['body']}")
        check((s.level(TEE, WH)["committed"], s.level(TEE, WH)["available"]) == (1, 19), "origin gave back")
        check((s.level(TEE, STORE)["committed"], s.level(TEE, STORE)["available"]) == (3, 2), "destination took")
        quantities_hold(s)
        # Moving the store's new FO whole to the pop-up reassigns it (Shopify's first scenario).
        m2 = s.post("/_standin/move", {"fulfillment_order": moved["id"], "location": POPUP})
        check(m2["moved_fulfillment_order"]["id"] == moved["id"] == m2["original_fulfillment_order"]["id"]
              and m2["moved_fulfillment_order"]["location_id"] == POPUP, "whole move reassigns in place")
        # ...and with replace: the original closes, a new one opens.
        m3 = s.post("/_standin/move", {"fulfillment_order": moved["id"], "location": STORE, "replace": True})
        check(m3["original_fulfillment_order"]["status"] == "CLOSED"
              and m3["original_fulfillment_order"]["line_items"][0]["remaining_quantity"] == 0
              and m3["moved_fulfillment_order"]["location_id"] == STORE, f"replace: {m3}")
        # Moving the rest of the TEE line to the store merges into the open FO there.
        m4 = s.post("/_standin/move", {"fulfillment_order": fo["id"], "location": STORE,
                                       "lines": [{"id": tee_line["id"], "quantity": 1}]})
        check(m4["closed_fulfillment_orders"][0]["id"] == m3["moved_fulfillment_order"]["id"]
              and m4["moved_fulfillment_order"]["line_items"][0]["remaining_quantity"] == 3, f"merge: {m4}")
        s.post("/_standin/move", {"fulfillment_order": fo["id"], "location": POPUP}, expect=400)  # no MUG there
        quantities_hold(s)
        checks += 1

        # Fulfil: committed and on_hand fall, available stays; no level webhook.
        store_fo = m4["moved_fulfillment_order"]
        before = s.level(TEE, STORE)
        mark = s.begin()
        f = s.post("/_standin/fulfill", {"fulfillment_order": store_fo["id"],
                                         "lines": [{"id": store_fo["line_items"][0]["id"], "quantity": 2}]})
        s.settle(mark + 3)
        check_webhooks(take(mark), ["fulfillments/create", "orders/partially_fulfilled", "orders/updated"], f)
        after = s.level(TEE, STORE)
        check((after["committed"], after["on_hand"], after["available"])
              == (before["committed"] - 2, before["on_hand"] - 2, before["available"]), f"{before} -> {after}")
        body = received[mark]["body"]
        check(body["status"] == "success" and body["location_id"] == STORE
              and body["line_items"][0]["quantity"] == 2, f"fulfillment {body}")
        check(f["fulfillment_order"]["status"] == "IN_PROGRESS", "partly fulfilled FO is in progress")
        f2 = s.post("/_standin/fulfill", {"fulfillment_order": store_fo["id"]})
        check(f2["fulfillment_order"]["status"] == "CLOSED", "fully fulfilled FO closes")
        r = s.gql(q3, {"query": f"assigned_location_id:{STORE}"})
        check(fo_gid(store_fo["id"]) not in [n["id"] for n in r["data"]["fulfillmentOrders"]["nodes"]],
              "closed FOs are left out")
        quantities_hold(s)
        checks += 1

        # Cancel order A (restock): what is still open returns to available where it is.
        mug_before = s.level(MUG, WH)
        mark = s.begin()
        c = s.post("/_standin/cancel", {"order": order["id"]})
        s.settle(mark + 5)
        check_webhooks(take(mark), ["orders/cancelled", "refunds/create", "fulfillment_orders/cancelled",
                                    "inventory_levels/update", "orders/updated"], c)
        mug = s.level(MUG, WH)
        check((mug["committed"], mug["available"]) == (mug_before["committed"] - 2, mug_before["available"] + 2),
              f"restocked {mug_before} -> {mug}")
        refund = received[mark + 1]["body"]
        check({(rl["restock_type"], rl["location_id"], rl["quantity"]) for rl in refund["refund_line_items"]}
              == {("cancel", WH, 2), ("no_restock", None, 1)}, f"refund lines {refund['refund_line_items']}")
        check(received[mark + 2]["body"] == {"fulfillment_order": {"id": fo_gid(fo["id"]), "status": "cancelled"}},
              "FO cancelled payload")
        s.post("/_standin/cancel", {"order": order["id"]}, expect=400)
        quantities_hold(s)
        checks += 1

        # Quantity states, receipts, adjustments.
        mark = s.begin()
        st = s.post("/_standin/state", {"item": MUG, "location": WH, "from": "available", "to": "damaged",
                                        "quantity": 3})
        s.post("/_standin/state", {"item": MUG, "location": WH, "from": "damaged", "to": "quality_control",
                                   "quantity": 1})
        rc = s.post("/_standin/receive", {"item": MUG, "location": WH, "quantity": 4, "from_incoming": True})
        s.post("/_standin/adjust", {"item": MUG, "location": WH, "delta": -1})
        s.post("/_standin/incoming", {"item": MUG, "location": WH, "delta": 5})
        s.post("/_standin/state", {"item": MUG, "location": WH, "from": "committed", "to": "available",
                                   "quantity": 1}, expect=400)
        s.settle(mark + 3)
        check(st["level"]["damaged"] == 3 and len(st["webhooks"]) == 1, "available -> damaged")
        mug = s.level(MUG, WH)
        check((mug["available"], mug["damaged"], mug["quality_control"], mug["safety_stock"], mug["incoming"],
               mug["on_hand"]) == (mug_before["available"] + 2 - 3 + 4 - 1, 2, 1, 2, 7, mug["on_hand"]), f"{mug}")
        check(rc["level"]["incoming"] == 2, "received from incoming")
        check([w["headers"]["x-shopify-topic"] for w in take(mark)] == ["inventory_levels/update"] * 3,
              "a state move without available sends nothing")
        check(set(received[mark]["body"]) == {"inventory_item_id", "location_id", "available", "updated_at",
                                              "admin_graphql_api_id"}, "level webhook carries available only")
        quantities_hold(s)
        checks += 1

        # Hold, flush shuffled with duplicates, drop.
        mark = s.begin()
        h = s.post("/_standin/order", {"hold": True, "lines": [{"sku": "TEE", "quantity": 1},
                                                               {"sku": "MUG", "quantity": 1}]})
        check(all(w["held"] for w in h["webhooks"]) and len(h["webhooks"]) == 4, "held")
        time.sleep(0.3)
        check(len(received) == mark, "held webhooks are not sent")
        held = s.get("/_standin/webhooks")["held"]
        dropped = s.post("/_standin/webhooks/drop", {"topic": "fulfillment_orders/order_routing_complete"})
        check(len(dropped["dropped"]) == 1 and dropped["held"] == 3, f"drop {dropped}")
        fl = s.post("/_standin/webhooks/flush", {"shuffle": 7, "duplicate": 2})
        s.settle(mark + 5)
        sent = [w["headers"]["x-shopify-webhook-id"] for w in take(mark)]
        check(len(sent) == 5 and len(set(sent)) == 3, f"3 held + 2 duplicates with their ids: {fl}")
        check({w["webhook_id"] for w in held if w["topic"] != "fulfillment_orders/order_routing_complete"}
              == set(sent), "duplicates keep the webhook id")
        stats = s.get("/_standin/stats")["deliveries"]
        check(stats["dropped"] == 1 and stats["duplicated"] == 2 and stats["held"] == 0, f"{stats}")
        s.post("/_standin/webhooks/drop", {}, expect=400)
        # The global hold, and a flush in the order the caller names.
        s.post("/_standin/webhooks/hold", {"hold": True})
        mark = s.begin()
        s.post("/_standin/adjust", {"item": TEE, "location": WH, "delta": 1})
        s.post("/_standin/adjust", {"item": TEE, "location": WH, "delta": 1})
        s.post("/_standin/webhooks/hold", {"hold": False})
        seqs = [w["seq"] for w in s.get("/_standin/webhooks")["held"]]
        check(len(seqs) == 2 and len(received) == mark, "globally held")
        s.post("/_standin/webhooks/flush", {"seqs": seqs[::-1]})
        s.settle(mark + 2)
        check([w["body"]["available"] for w in take(mark)] == [s.level(TEE, WH)["available"],
                                                              s.level(TEE, WH)["available"] - 1],
              "flushed newest first, as asked")
        checks += 1

        # The existing inventorySetQuantities still moves available and on_hand together.
        r = s.gql("""mutation($input: InventorySetQuantitiesInput!) {
          inventorySetQuantities(input: $input) @idempotent(key: "selfcheck-1") {
            inventoryAdjustmentGroup { changes { name delta quantityAfterChange } } userErrors { code } } }""",
                  {"input": {"name": "available", "reason": "correction", "quantities": [
                      {"inventoryItemId": f"gid://shopify/InventoryItem/{MUG}",
                       "locationId": f"gid://shopify/Location/{WH}", "quantity": 10,
                       "changeFromQuantity": s.level(MUG, WH)["available"]}]}})
        changes = r["data"]["inventorySetQuantities"]["inventoryAdjustmentGroup"]["changes"]
        mug = s.level(MUG, WH)
        check(mug["available"] == 10 and changes[1]["quantityAfterChange"] == mug["on_hand"], f"{changes} {mug}")
        quantities_hold(s)
        checks += 1

        # Payment, order edits, refunds, gift card and custom lines (selfcheck_orders.py).
        selfcheck_orders.run(s, SimpleNamespace(check=check, check_webhooks=check_webhooks, take=take,
                                                quantities_hold=quantities_hold))
        checks += 1

        # Webhook subscriptions and access scopes (selfcheck_subscriptions.py).
        selfcheck_subscriptions.run(s, check)
        checks += 1

        # Metafields on variants and the adjustment log (selfcheck_twoway.py).
        selfcheck_twoway.run(s, check, MUG, WH)
        checks += 1
    except Failed as e:
        print(f"selfcheck FAILED after {checks} groups: {e}", file=sys.stderr)
        return 1
    finally:
        s.stop()
    print(f"selfcheck ok: {checks} groups of checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(run())
