"""All of the stand-in's state, in memory: items (with their variant), locations, inventory levels
and all eight quantity names, orders with their line items, fulfillment orders, fulfillments and
refunds, metafields, idempotency keys, the log of applied inventory adjustment groups (with the
key each was made under), bulk operations and their JSONL files, the leaky bucket (refill,
throttle status, stats), and the webhooks: queued for delivery, held back for a test, or
recently emitted. The JSON views of orders, fulfillment orders, levels and adjustment groups that
``/_standin/state``, ``/_standin/adjustments`` and the operator endpoints answer with are here
too.
"""

from __future__ import annotations

import argparse
import queue
import threading
import time
import uuid
from typing import Any

from formats import gid, now_iso, triggered_at

# Shopify's quantity names. `on_hand` is derived; the others are stored per level.
STORED_NAMES = ("available", "committed", "reserved", "damaged", "safety_stock",
                "quality_control", "incoming")
ON_HAND_PARTS = ("available", "committed", "reserved", "damaged", "safety_stock",
                 "quality_control")
QUANTITY_NAMES = ("available", "committed", "on_hand", "reserved", "damaged", "safety_stock",
                  "quality_control", "incoming")

# Generated ids per kind: distinct ranges so a mixed-up id is visibly wrong, and line item ids
# above 2^53 so a float anywhere on the way loses them.
ID_BASES = {
    "Order": 6_100_000_000_000,
    "LineItem": 9_007_199_254_800_000,
    "FulfillmentOrder": 7_100_000_000_000,
    "FulfillmentOrderLineItem": 15_100_000_000_000,
    "Fulfillment": 5_100_000_000_000,
    "Refund": 9_100_000_000_000,
    "RefundLineItem": 9_200_000_000_000,
    "ProductVariant": 43_100_000_000_000,
    "Product": 8_600_000_000_000,
}
FIRST_ORDER_NUMBER = 1001
CLOSED_STATUSES = ("CLOSED", "CANCELLED", "INCOMPLETE")
RECENT_EMITTED = 500


class Store:
    """All state, guarded by one lock (requests are served one at a time inside it)."""

    def __init__(self, args: argparse.Namespace):
        self.lock = threading.RLock()
        self.args = args
        self.items: dict[int, dict] = {}
        self.locations: dict[int, dict] = {}
        # (item, location) -> the stored quantity names, "updated_at", "created_at"
        self.levels: dict[tuple[int, int], dict] = {}
        self.orders: dict[int, dict] = {}
        self.fulfillment_orders: dict[int, dict] = {}
        self.fulfillments: dict[int, dict] = {}
        self.refunds: dict[int, dict] = {}
        self.metafields: dict[tuple[str, str, str], dict] = {}
        self.idempotency: dict[str, tuple[str, Any]] = {}
        # Every applied inventorySetQuantities group, in order (replays and failures add none).
        self.adjustments: list[dict] = []
        # A storefront sale armed by /_standin/race: made right before the next
        # inventorySetQuantities is judged (a sale between a writer's read and its write).
        self.race: dict | None = None
        self.next_id = 1_000_000
        self.counters = {kind: 0 for kind in ID_BASES}
        self.order_number = FIRST_ORDER_NUMBER - 1
        # Leaky bucket.
        self.maximum = float(args.bucket)
        self.restore = float(args.restore)
        self.available = self.maximum
        self.bucket_at = time.monotonic()
        self.stats = {
            "requests": 0,
            "graphql_requests": 0,
            "unauthorized": 0,
            "throttled": 0,
            "mutations_applied": 0,
            "idempotent_replays": 0,
            "stale": 0,
            "min_available": self.maximum,
            "max_debt": 0.0,
            "bulk_operations": 0,
            "metafields_set": 0,
            "metafields_deleted": 0,
            "races": 0,
        }
        self.bulk_operations: list[dict] = []
        self.bulk_files: dict[int, bytes] = {}
        self.base_url = f"http://{args.host}:{args.port}"
        # Webhooks: `webhooks` is the delivery thread's queue; `held` waits for a flush or drop.
        self.deliveries: list[dict] = []
        self.delivery_counts = {"queued": 0, "delivered": 0, "failed": 0, "attempts": 0,
                                "held": 0, "dropped": 0, "duplicated": 0}
        self.webhooks: queue.Queue = queue.Queue()
        self.hold_all = bool(getattr(args, "hold_webhooks", False))
        self.held: list[dict] = []
        self.emitted: list[dict] = []
        self.webhook_seq = 0

    def take_race(self) -> dict | None:
        race, self.race = self.race, None
        return race

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def new_kind_id(self, kind: str) -> int:
        self.counters[kind] += 1
        return ID_BASES[kind] + self.counters[kind]

    def reset(self) -> None:
        """Everything a seed with `reset: true` clears (not the bucket, stats or webhooks)."""
        for table in (self.items, self.locations, self.levels, self.orders,
                      self.fulfillment_orders, self.fulfillments, self.refunds,
                      self.metafields, self.idempotency, self.adjustments):
            table.clear()

    # --- bucket ---------------------------------------------------------------------------------

    def refill(self) -> None:
        now = time.monotonic()
        self.available = min(self.maximum, self.available + (now - self.bucket_at) * self.restore)
        self.bucket_at = now

    def observe(self) -> None:
        self.stats["min_available"] = min(self.stats["min_available"], self.available)
        self.stats["max_debt"] = max(self.stats["max_debt"], self.maximum - self.available)

    def throttle_status(self) -> dict:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": int(self.available),
            "restoreRate": self.restore,
        }

    # --- levels ---------------------------------------------------------------------------------

    def primary_location(self) -> int | None:
        """The shop's primary location: the lowest id (as `location` without an id answers)."""
        return min(self.locations, default=None)

    def level(self, item: int, location: int) -> dict | None:
        return self.levels.get((item, location))

    def set_level(self, item: int, location: int, **quantities: int | None) -> tuple[dict, bool]:
        """Upserts a level with absolute quantities (names in STORED_NAMES; `None` leaves one
        as it is); returns it and whether `available` changed (a new level counts as changed
        when `available` is given)."""
        stamp = now_iso()
        level = self.levels.get((item, location))
        created = level is None
        if created:
            level = {name: 0 for name in STORED_NAMES} | {"created_at": stamp, "updated_at": stamp}
            self.levels[(item, location)] = level
        before = level["available"]
        for name, value in quantities.items():
            if name not in STORED_NAMES:
                raise KeyError(name)
            if value is not None:
                level[name] = int(value)
        level["updated_at"] = stamp
        changed = quantities.get("available") is not None and (created or level["available"] != before)
        return level, changed

    def change_level(self, item: int, location: int, **deltas: int) -> bool:
        """Adds deltas to stored quantity names of an existing level; returns whether
        `available` changed."""
        level = self.levels[(item, location)]
        for name, delta in deltas.items():
            if name not in STORED_NAMES:
                raise KeyError(name)
            level[name] += int(delta)
        level["updated_at"] = now_iso()
        return deltas.get("available", 0) != 0

    def quantity(self, level: dict, name: str) -> int | None:
        if name == "on_hand":
            return sum(level[n] for n in ON_HAND_PARTS)
        if name in STORED_NAMES:
            return level[name]
        return None

    def level_json(self, item: int, location: int) -> dict:
        level = self.levels[(item, location)]
        return {
            "item": gid("InventoryItem", item),
            "location": gid("Location", location),
            "item_id": item,
            "location_id": location,
            "sku": self.items.get(item, {}).get("sku"),
            **{name: self.quantity(level, name) for name in QUANTITY_NAMES},
            "updated_at": level["updated_at"],
        }

    # --- inventory adjustment groups ------------------------------------------------------------

    def log_adjustment(self, group: dict, name: str, key: str | None) -> None:
        """Records an applied group (its `_changes` as mutations.apply_set built them)."""
        self.adjustments.append({"group": group, "name": name, "key": key})

    def adjustment_json(self, seq: int, entry: dict) -> dict:
        group = entry["group"]
        return {
            "seq": seq,
            "id": group["id"],
            "createdAt": group["createdAt"],
            "reason": group["reason"],
            "referenceDocumentUri": group["referenceDocumentUri"],
            "idempotencyKey": entry["key"],
            "quantityName": entry["name"],
            "changes": [{
                "item": gid("InventoryItem", c["item"]), "item_id": c["item"],
                "location": gid("Location", c["location"]), "location_id": c["location"],
                "name": c["name"], "delta": c["delta"], "after": c["after"],
            } for c in group["_changes"]],
        }

    # --- orders and fulfillment orders (JSON views) ---------------------------------------------

    def order_json(self, n: int) -> dict:
        o = self.orders[n]
        return {
            "id": n, "gid": gid("Order", n), "name": o["name"], "location_id": o["location_id"],
            "source_name": o["source_name"], "cancelled_at": o["cancelled_at"],
            "financial_status": o["financial_status"], "test": o["test"],
            "fulfillment_status": order_fulfillment_status(o), "created_at": o["created_at"],
            "updated_at": o["updated_at"],
            "line_items": [{
                "id": li["id"], "gid": gid("LineItem", li["id"]), "variant_id": li["variant_id"],
                "sku": li["sku"], "inventory_item_id": li["inventory_item_id"],
                "gift_card": li["gift_card"],
                "quantity": li["quantity"], "current_quantity": li["current_quantity"],
                "fulfillable_quantity": li["fulfillable_quantity"],
                "fulfilled_quantity": li["fulfilled_quantity"],
            } for li in o["line_items"]],
            "fulfillment_order_ids": sorted(f for f, fo in self.fulfillment_orders.items()
                                            if fo["order_id"] == n),
        }

    def fulfillment_order_json(self, n: int) -> dict:
        fo = self.fulfillment_orders[n]
        return {
            "id": n, "gid": gid("FulfillmentOrder", n), "order_id": fo["order_id"],
            "location_id": fo["location_id"], "status": fo["status"],
            "open": fo["status"] not in CLOSED_STATUSES,
            "created_at": fo["created_at"], "updated_at": fo["updated_at"],
            "line_items": [{
                "id": fl["id"], "gid": gid("FulfillmentOrderLineItem", fl["id"]),
                "line_item_id": fl["line_item_id"], "inventory_item_id": fl["inventory_item_id"],
                "total_quantity": fl["total_quantity"], "remaining_quantity": fl["remaining_quantity"],
            } for fl in fo["line_items"]],
        }

    # --- webhooks -------------------------------------------------------------------------------

    def event(self, hold: bool = False) -> "Event":
        """One merchant action: its webhooks share an `X-Shopify-Event-Id`."""
        return Event(self, hold or self.hold_all)

    def notify(self, changes: list[tuple[int, int]], hold: bool = False) -> list[dict]:
        """Queues one `inventory_levels/update` per changed level, as one action."""
        event = self.event(hold)
        event.levels(changes)
        return event.sent

    def level_webhook_body(self, item: int, location: int) -> dict:
        level = self.levels[(item, location)]
        return {
            "inventory_item_id": item,
            "location_id": location,
            "available": level["available"],
            "updated_at": level["updated_at"],
            "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{location}?inventory_item_id={item}",
        }


class Event:
    """The webhooks of one action: one event id and trigger time, each webhook its own id;
    queued for delivery at once, or held (see webhooks.py for flush and drop)."""

    def __init__(self, store: Store, hold: bool):
        self.store = store
        self.hold = hold
        self.id = str(uuid.uuid4())
        self.triggered_at = triggered_at()
        self.sent: list[dict] = []

    def emit(self, topic: str, body: dict) -> None:
        s = self.store
        if not s.args.webhook_url:
            return
        s.webhook_seq += 1
        entry = {"seq": s.webhook_seq, "topic": topic, "body": body, "event_id": self.id,
                 "webhook_id": str(uuid.uuid4()), "triggered_at": self.triggered_at,
                 "duplicate": False}
        s.emitted.append(entry)
        del s.emitted[:-RECENT_EMITTED]
        self.sent.append({"seq": entry["seq"], "topic": topic, "webhook_id": entry["webhook_id"],
                          "held": self.hold})
        if self.hold:
            s.held.append(entry)
            s.delivery_counts["held"] += 1
        else:
            s.delivery_counts["queued"] += 1
            s.webhooks.put(entry)

    def levels(self, changes: list[tuple[int, int]]) -> None:
        """One `inventory_levels/update` per distinct level, in the order first changed."""
        for item, location in dict.fromkeys(changes):
            self.emit("inventory_levels/update", self.store.level_webhook_body(item, location))


def order_fulfillment_status(order: dict) -> str | None:
    """Shopify's REST `fulfillment_status` of an order: null, `partial` or `fulfilled`."""
    lines = [li for li in order["line_items"] if li["current_quantity"] > 0]
    fulfilled = sum(li["fulfilled_quantity"] for li in lines)
    if fulfilled == 0:
        return None
    if all(li["fulfillable_quantity"] == 0 for li in lines):
        return "fulfilled"
    return "partial"


def line_fulfillment_status(line: dict) -> str | None:
    if line["fulfilled_quantity"] == 0:
        return None
    return "fulfilled" if line["fulfillable_quantity"] == 0 else "partial"
