"""All of the stand-in's state, in memory: items, locations, inventory levels and their quantity
names, metafields, idempotency keys, bulk operations and their JSONL files, the leaky bucket
(refill, throttle status, stats), and the queue of webhooks waiting for delivery.
"""

from __future__ import annotations

import argparse
import queue
import threading
import time
import uuid
from typing import Any

from formats import gid, now_iso


class Store:
    """All state, guarded by one lock (requests are served one at a time inside it)."""

    def __init__(self, args: argparse.Namespace):
        self.lock = threading.RLock()
        self.args = args
        self.items: dict[int, dict] = {}
        self.locations: dict[int, dict] = {}
        # (item, location) -> {"available", "committed", "updated_at", "created_at"}
        self.levels: dict[tuple[int, int], dict] = {}
        self.metafields: dict[tuple[str, str, str], dict] = {}
        self.idempotency: dict[str, tuple[str, Any]] = {}
        self.next_id = 1_000_000
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
        }
        self.bulk_operations: list[dict] = []
        self.bulk_files: dict[int, bytes] = {}
        self.base_url = f"http://{args.host}:{args.port}"
        self.deliveries: list[dict] = []
        self.delivery_counts = {"queued": 0, "delivered": 0, "failed": 0, "attempts": 0}
        self.webhooks: queue.Queue = queue.Queue()

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

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

    def level(self, item: int, location: int) -> dict | None:
        return self.levels.get((item, location))

    def set_level(self, item: int, location: int, available: int | None = None,
                  committed: int | None = None) -> tuple[dict, bool]:
        """Upserts a level; returns it and whether `available` changed."""
        stamp = now_iso()
        level = self.levels.get((item, location))
        if level is None:
            level = {"available": 0, "committed": 0, "created_at": stamp, "updated_at": stamp}
            self.levels[(item, location)] = level
            changed = available is not None
        else:
            changed = available is not None and available != level["available"]
        if available is not None:
            level["available"] = int(available)
        if committed is not None:
            level["committed"] = int(committed)
        level["updated_at"] = stamp
        return level, changed

    def quantity(self, level: dict, name: str) -> int | None:
        if name == "available":
            return level["available"]
        if name == "committed":
            return level["committed"]
        if name == "on_hand":
            return level["available"] + level["committed"]
        if name in ("reserved", "incoming", "safety_stock", "damaged", "quality_control"):
            return 0
        return None

    def level_json(self, item: int, location: int) -> dict:
        level = self.levels[(item, location)]
        return {
            "item": gid("InventoryItem", item),
            "location": gid("Location", location),
            "item_id": item,
            "location_id": location,
            "sku": self.items.get(item, {}).get("sku"),
            "available": level["available"],
            "committed": level["committed"],
            "on_hand": level["available"] + level["committed"],
            "updated_at": level["updated_at"],
        }

    # --- webhooks -------------------------------------------------------------------------------

    def notify(self, changes: list[tuple[int, int]]) -> None:
        """Queues one `inventory_levels/update` per changed level; one event id per action."""
        if not self.args.webhook_url or not changes:
            return
        event_id = str(uuid.uuid4())
        for item, location in changes:
            level = self.levels[(item, location)]
            body = {
                "inventory_item_id": item,
                "location_id": location,
                "available": level["available"],
                "updated_at": level["updated_at"],
                "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{location}?inventory_item_id={item}",
            }
            self.delivery_counts["queued"] += 1
            self.webhooks.put(("inventory_levels/update", body, event_id))
