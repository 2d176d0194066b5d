#!/usr/bin/env python3
"""A local stand-in for the subset of Shopify's Admin GraphQL API (2026-04) that Stockbridge uses.

Not Shopify: a test double that answers in Shopify's documented shapes, validates every query
against an SDL subset of the Admin schema (graphql-core), charges calculated query cost to a
leaky bucket like Shopify does, and sends signed ``inventory_levels/update`` webhooks.
See README.md next to this file for exactly what is and is not implemented.

    python standin.py --port 8788 --token shpat_test --shop stockbridge-demo.myshopify.com \
        --webhook-url http://127.0.0.1:8787/webhooks/shopify \
        --webhook-secret stockbridge-local-secret --bucket 1000 --restore 100
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import logging
import queue
import re
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    build_schema,
    execute,
    parse,
    validate,
)
from graphql.execution.values import (
    get_argument_values,
    get_directive_values,
    get_variable_values,
)
from graphql.language import (
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
)

API_VERSION = "2026-04"
GRAPHQL_PATH = f"/admin/api/{API_VERSION}/graphql.json"
MUTATION_COST = 10
MAX_INPUT_ARRAY = 250
MAX_METAFIELDS = 25
MAX_PAGE = 250

log = logging.getLogger("shopify-standin")

# -------------------------------------------------------------------------------------------------
# Schema: an SDL subset of Shopify's Admin API, field names and types as documented.

SDL = """
directive @idempotent(key: String!) on FIELD

scalar DateTime
scalar URL

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

type InventoryQuantity {
  id: ID!
  name: String!
  quantity: Int!
  updatedAt: DateTime
}

type InventoryItem {
  id: ID!
  sku: String
  tracked: Boolean!
  legacyResourceId: String!
  createdAt: DateTime!
  updatedAt: DateTime!
  inventoryLevel(locationId: ID!): InventoryLevel
  inventoryLevels(first: Int, after: String): InventoryLevelConnection!
}

type InventoryItemEdge { cursor: String! node: InventoryItem! }
type InventoryItemConnection {
  edges: [InventoryItemEdge!]!
  nodes: [InventoryItem!]!
  pageInfo: PageInfo!
}

type Location {
  id: ID!
  name: String!
  isActive: Boolean!
  legacyResourceId: String!
  inventoryLevel(inventoryItemId: ID!): InventoryLevel
  inventoryLevels(first: Int, after: String, query: String): InventoryLevelConnection!
}

type LocationEdge { cursor: String! node: Location! }
type LocationConnection {
  edges: [LocationEdge!]!
  nodes: [Location!]!
  pageInfo: PageInfo!
}

type InventoryLevel {
  id: ID!
  item: InventoryItem!
  location: Location!
  quantities(names: [String!]!): [InventoryQuantity!]!
  createdAt: DateTime!
  updatedAt: DateTime!
}

type InventoryLevelEdge { cursor: String! node: InventoryLevel! }
type InventoryLevelConnection {
  edges: [InventoryLevelEdge!]!
  nodes: [InventoryLevel!]!
  pageInfo: PageInfo!
}

type InventoryChange {
  name: String!
  delta: Int!
  quantityAfterChange: Int
  item: InventoryItem
  location: Location
}

type InventoryAdjustmentGroup {
  id: ID!
  createdAt: DateTime!
  reason: String!
  referenceDocumentUri: String
  changes(inventoryItemIds: [ID!], locationIds: [ID!], quantityNames: [String!]): [InventoryChange!]!
}

enum InventorySetQuantitiesUserErrorCode {
  CHANGE_FROM_QUANTITY_STALE
  COMPARE_QUANTITY_REQUIRED
  COMPARE_QUANTITY_STALE
  IDEMPOTENCY_CONCURRENT_REQUEST
  IDEMPOTENCY_KEY_PARAMETER_MISMATCH
  IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED
  INVALID_INVENTORY_ITEM
  INVALID_LOCATION
  INVALID_NAME
  INVALID_QUANTITY_NEGATIVE
  INVALID_QUANTITY_TOO_HIGH
  INVALID_QUANTITY_TOO_LOW
  INVALID_REASON
  INVALID_REFERENCE_DOCUMENT
  ITEM_NOT_STOCKED_AT_LOCATION
  NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR
  NON_MUTABLE_INVENTORY_ITEM
  INVALID_INPUT
}

type InventorySetQuantitiesUserError {
  field: [String!]
  message: String!
  code: InventorySetQuantitiesUserErrorCode
}

type InventorySetQuantitiesPayload {
  inventoryAdjustmentGroup: InventoryAdjustmentGroup
  userErrors: [InventorySetQuantitiesUserError!]!
}

input InventorySetQuantityInput {
  inventoryItemId: ID!
  locationId: ID!
  quantity: Int!
  changeFromQuantity: Int
}

input InventorySetQuantitiesInput {
  name: String!
  reason: String!
  referenceDocumentUri: String
  quantities: [InventorySetQuantityInput!]!
  ignoreCompareQuantity: Boolean
}

type Metafield {
  id: ID!
  namespace: String!
  key: String!
  value: String!
  type: String!
  ownerType: String
  createdAt: DateTime!
  updatedAt: DateTime!
}

input MetafieldsSetInput {
  ownerId: ID!
  namespace: String
  key: String!
  value: String!
  type: String
  compareDigest: String
}

type MetafieldsSetUserError {
  field: [String!]
  message: String!
  code: String
  elementIndex: Int
}

type MetafieldsSetPayload {
  metafields: [Metafield!]
  userErrors: [MetafieldsSetUserError!]!
}

enum BulkOperationStatus { CANCELED CANCELING COMPLETED CREATED EXPIRED FAILED RUNNING }

type BulkOperation {
  id: ID!
  status: BulkOperationStatus!
  errorCode: String
  objectCount: String!
  rootObjectCount: String!
  url: String
  partialDataUrl: String
  query: String!
  createdAt: String!
  completedAt: String
}

type BulkOperationUserError {
  field: [String!]
  message: String!
  code: String
}

type BulkOperationRunQueryPayload {
  bulkOperation: BulkOperation
  userErrors: [BulkOperationUserError!]!
}

type Shop {
  id: ID!
  name: String!
  myshopifyDomain: String!
}

type QueryRoot {
  shop: Shop!
  location(id: ID): Location
  locations(first: Int, after: String, query: String): LocationConnection!
  inventoryItem(id: ID!): InventoryItem
  inventoryItems(first: Int, after: String, query: String): InventoryItemConnection!
  inventoryLevel(id: ID!): InventoryLevel
  currentBulkOperation: BulkOperation
}

type Mutation {
  bulkOperationRunQuery(query: String!, groupObjects: Boolean): BulkOperationRunQueryPayload
  inventorySetQuantities(input: InventorySetQuantitiesInput!): InventorySetQuantitiesPayload
  metafieldsSet(metafields: [MetafieldsSetInput!]!): MetafieldsSetPayload
}

schema { query: QueryRoot mutation: Mutation }
"""

SCHEMA = build_schema(SDL)
IDEMPOTENT = SCHEMA.get_directive("idempotent")
KNOWN_REASONS = {
    "correction", "cycle_count_available", "damaged", "movement_created", "movement_updated",
    "movement_received", "movement_canceled", "other", "promotion", "quality_control",
    "received", "reservation_created", "reservation_deleted", "reservation_updated", "restock",
    "safety_stock", "shrinkage",
}
# Mutations that need @idempotent from 2026-04 (of those this stand-in implements).
IDEMPOTENT_REQUIRED = {"inventorySetQuantities"}


def now_iso() -> str:
    """Shopify's REST-style timestamp, second precision, with an offset."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def triggered_at() -> str:
    """`X-Shopify-Triggered-At` shape: nanoseconds, `Z`."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


GID_RE = re.compile(r"^gid://shopify/(?P<kind>[A-Za-z]+)/(?P<id>\d+)(\?.*)?$")


def parse_id(value: Any, kind: str) -> int | None:
    """A gid (`gid://shopify/<kind>/<n>`), a decimal string or an int -> int. Never a float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < 2**64 else None
    if not isinstance(value, str):
        return None
    m = GID_RE.match(value)
    if m:
        if m.group("kind") != kind:
            return None
        n = int(m.group("id"))
    elif value.isdigit():
        n = int(value)
    else:
        return None
    return n if 0 < n < 2**64 else None


def gid(kind: str, n: int) -> str:
    return f"gid://shopify/{kind}/{n}"


def encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode()


def decode_cursor(cursor: str | None) -> list | None:
    if cursor is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if isinstance(value, list):
            return value
    except Exception:  # noqa: BLE001 - any malformed cursor is the same error
        pass
    raise GraphQLError("Invalid cursor for current pagination sort.")


# -------------------------------------------------------------------------------------------------
# The store


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


# -------------------------------------------------------------------------------------------------
# Resolvers. Each object resolves from plain dicts; ids are ints internally, gids outside.


# Set while a bulk operation runs its query: connections return every node, as in Shopify.
BULK = threading.local()


def connection(rows: list, first: int | None, after: str | None, key, make_node) -> dict:
    bulk = getattr(BULK, "active", False)
    if bulk and first is not None:
        raise GraphQLError("Bulk queries cannot contain connections with pagination arguments")
    if bulk:
        first = len(rows)
    elif first is None:
        raise GraphQLError("you must provide one of first or last")
    elif first < 0 or first > MAX_PAGE:
        raise GraphQLError(f"The first argument must be between 0 and {MAX_PAGE}")
    start = decode_cursor(after)
    if start is not None:
        rows = [r for r in rows if key(r) > start[0]]
    page = rows[:first]
    nodes = [make_node(r) for r in page]
    cursors = [encode_cursor(key(r)) for r in page]
    return {
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes)],
        "nodes": nodes,
        "pageInfo": {
            "hasNextPage": len(rows) > first,
            "hasPreviousPage": start is not None,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


class Resolvers:
    def __init__(self, store: Store):
        self.s = store

    # nodes
    def item_node(self, n: int) -> dict:
        it = self.s.items[n]
        return {
            "id": gid("InventoryItem", n),
            "sku": it.get("sku"),
            "tracked": it.get("tracked", True),
            "legacyResourceId": str(n),
            "createdAt": it["created_at"],
            "updatedAt": it["created_at"],
            "inventoryLevel": lambda info, locationId: self.level_node_opt(
                n, parse_id(locationId, "Location")),
            "inventoryLevels": lambda info, first=None, after=None: connection(
                sorted(loc for (i, loc) in self.s.levels if i == n), first, after,
                lambda loc: loc, lambda loc: self.level_node(n, loc)),
        }

    def location_node(self, n: int) -> dict:
        loc = self.s.locations[n]
        return {
            "id": gid("Location", n),
            "name": loc["name"],
            "isActive": loc.get("active", True),
            "legacyResourceId": str(n),
            "inventoryLevel": lambda info, inventoryItemId: self.level_node_opt(
                parse_id(inventoryItemId, "InventoryItem"), n),
            "inventoryLevels": lambda info, first=None, after=None, query=None: connection(
                sorted(i for (i, l) in self.s.levels if l == n), first, after,
                lambda i: i, lambda i: self.level_node(i, n)),
        }

    def level_node_opt(self, item: int | None, location: int | None) -> dict | None:
        if item is None or location is None or (item, location) not in self.s.levels:
            return None
        return self.level_node(item, location)

    def level_node(self, item: int, location: int) -> dict:
        level = self.s.levels[(item, location)]

        def quantities(info, names):
            out = []
            for name in names:
                q = self.s.quantity(level, name)
                if q is None:
                    raise GraphQLError(f"Invalid quantity name: {name}")
                out.append({
                    "id": f"gid://shopify/InventoryQuantity/{location}?inventory_item_id={item}&name={name}",
                    "name": name, "quantity": q, "updatedAt": level["updated_at"],
                })
            return out

        return {
            "id": f"gid://shopify/InventoryLevel/{location}?inventory_item_id={item}",
            "item": lambda info: self.item_node(item) if item in self.s.items else None,
            "location": lambda info: self.location_node(location),
            "quantities": quantities,
            "createdAt": level["created_at"],
            "updatedAt": level["updated_at"],
        }

    # query root
    def root(self) -> dict:
        s = self.s

        def location(info, id=None):
            n = parse_id(id, "Location") if id is not None else min(s.locations, default=None)
            return self.location_node(n) if n in s.locations else None

        def locations(info, first=None, after=None, query=None):
            return connection(sorted(s.locations), first, after, lambda n: n, self.location_node)

        def inventory_item(info, id):
            n = parse_id(id, "InventoryItem")
            return self.item_node(n) if n in s.items else None

        def inventory_items(info, first=None, after=None, query=None):
            rows = sorted(s.items)
            if query:
                rows = [n for n in rows if item_matches(s.items[n], n, query)]
            return connection(rows, first, after, lambda n: n, self.item_node)

        def inventory_level(info, id):
            m = re.match(r"^gid://shopify/InventoryLevel/(\d+)\?inventory_item_id=(\d+)$", id)
            if not m:
                return None
            return self.level_node_opt(int(m.group(2)), int(m.group(1)))

        return {
            "shop": {"id": "gid://shopify/Shop/1", "name": s.args.shop.split(".")[0],
                     "myshopifyDomain": s.args.shop},
            "location": location,
            "locations": locations,
            "inventoryItem": inventory_item,
            "inventoryItems": inventory_items,
            "inventoryLevel": inventory_level,
            "currentBulkOperation": lambda info: s.bulk_operations[-1] if s.bulk_operations else None,
        }

    # mutation root
    def mutation_root(self) -> dict:
        return {
            "inventorySetQuantities": self.inventory_set_quantities,
            "metafieldsSet": self.metafields_set,
            "bulkOperationRunQuery": self.bulk_operation_run_query,
        }

    def bulk_operation_run_query(self, info, query, groupObjects=None):  # noqa: N803
        """Runs the query at once (no cost beyond the mutation's) and keeps its JSONL: one line
        per node of each connection, nested nodes with `__parentId`, in a shuffled order, since
        Shopify does not promise any order of the lines."""
        s = self.s

        def error(message: str, code: str = "INVALID") -> dict:
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": message, "code": code}]}

        if any(op["status"] in ("CREATED", "RUNNING") for op in s.bulk_operations):
            return error("A bulk query operation for this app and shop is already in progress.",
                         "OPERATION_IN_PROGRESS")
        try:
            doc = parse(query)
        except GraphQLError as e:
            return error(f"Invalid bulk query: {e.message}")
        problems = validate(SCHEMA, doc)
        if problems:
            return error(f"Invalid bulk query: {problems[0].message}")
        BULK.active = True
        try:
            result = execute(SCHEMA, doc, root_value=Resolvers(s).root(), field_resolver=field_resolver)
        finally:
            BULK.active = False
        if result.errors:
            return error(f"Invalid bulk query: {result.errors[0].message}")
        lines: list[dict] = []
        roots = flatten_connections(result.data or {}, None, lines)
        if roots == 0:
            return error("Bulk queries must contain at least one connection.")
        random_order = __import__("random").Random(len(s.bulk_operations))
        random_order.shuffle(lines)
        n = len(s.bulk_operations) + 1
        op_id = gid("BulkOperation", n)
        s.bulk_files[n] = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
        stamp = now_iso()
        op = {
            "id": op_id, "status": "COMPLETED", "errorCode": None,
            "objectCount": str(len(lines)), "rootObjectCount": str(roots),
            "url": f"{s.base_url}/_standin/bulk/{n}.jsonl" if lines else None,
            "partialDataUrl": None, "query": query, "createdAt": stamp, "completedAt": stamp,
        }
        s.bulk_operations.append(op)
        s.stats["bulk_operations"] += 1
        return {"bulkOperation": op, "userErrors": []}

    def inventory_set_quantities(self, info, input):
        s = self.s
        key = idempotency_key(info)
        fingerprint = json.dumps(input, sort_keys=True)
        if key is not None and key in s.idempotency:
            first_fingerprint, result = s.idempotency[key]
            if first_fingerprint != fingerprint:
                return {"inventoryAdjustmentGroup": None, "userErrors": [{
                    "field": ["input"], "code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                    "message": "The same idempotency key cannot be used with different operation parameters.",
                }]}
            s.stats["idempotent_replays"] += 1
            return result
        result, changed = self.apply_set(input)
        if key is not None:
            s.idempotency[key] = (fingerprint, result)
        s.notify(changed)
        return result

    def apply_set(self, input: dict) -> tuple[dict, list]:
        """Validates everything first; applies all quantities or none."""
        s = self.s
        errors = []

        def err(field, code, message):
            errors.append({"field": field, "code": code, "message": message})

        name = input["name"]
        if name not in ("available", "on_hand"):
            err(["input", "name"], "INVALID_NAME",
                "The quantity name must be either 'available' or 'on_hand'.")
        if input["reason"] not in KNOWN_REASONS:
            err(["input", "reason"], "INVALID_REASON", "The specified reason is invalid.")
        quantities = input["quantities"]
        if len(quantities) > MAX_INPUT_ARRAY:
            err(["input", "quantities"], "INVALID_INPUT",
                f"The input array size of {len(quantities)} is greater than the maximum allowed of {MAX_INPUT_ARRAY}.")
        seen = set()
        plan = []
        for i, q in enumerate(quantities):
            field = ["input", "quantities", str(i)]
            item = parse_id(q["inventoryItemId"], "InventoryItem")
            location = parse_id(q["locationId"], "Location")
            if item is None or item not in s.items:
                err(field + ["inventoryItemId"], "INVALID_INVENTORY_ITEM",
                    "The specified inventory item could not be found.")
                continue
            if location is None or location not in s.locations:
                err(field + ["locationId"], "INVALID_LOCATION",
                    "The specified location could not be found.")
                continue
            if (item, location) in seen:
                err(field, "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                    "The combination of inventoryItemId and locationId must be unique.")
                continue
            seen.add((item, location))
            level = s.level(item, location)
            if level is None:
                err(field + ["locationId"], "ITEM_NOT_STOCKED_AT_LOCATION",
                    "The specified inventory item is not stocked at the location.")
                continue
            if "changeFromQuantity" not in q and not input.get("ignoreCompareQuantity"):
                err(field + ["changeFromQuantity"], "INVALID_INPUT",
                    "changeFromQuantity is required from 2026-04: pass the expected quantity, or null to opt out.")
                continue
            current = s.quantity(level, name) if name in ("available", "on_hand") else 0
            expected = q.get("changeFromQuantity")
            if expected is not None and expected != current:
                err(field + ["changeFromQuantity"], "CHANGE_FROM_QUANTITY_STALE",
                    "The changeFromQuantity value does not match persisted value.")
                continue
            if q["quantity"] < 0 and name == "on_hand":
                err(field + ["quantity"], "INVALID_QUANTITY_NEGATIVE",
                    "The quantity can't be negative.")
                continue
            if abs(q["quantity"]) > 1_000_000_000:
                err(field + ["quantity"], "INVALID_QUANTITY_TOO_HIGH",
                    "The quantity can't be higher than 1,000,000,000.")
                continue
            plan.append((item, location, level, current, q["quantity"]))
        if errors:
            if any(e["code"] == "CHANGE_FROM_QUANTITY_STALE" for e in errors):
                s.stats["stale"] += 1
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}, []
        changes = []
        changed = []
        for item, location, level, current, target in plan:
            delta = target - current
            # Setting `available` (or on_hand, a count) moves available and on_hand together.
            _, did_change = s.set_level(item, location, available=level["available"] + delta)
            changes.append({"name": "available", "delta": delta, "item": item, "location": location,
                            "after": level["available"]})
            changes.append({"name": "on_hand", "delta": delta, "item": item, "location": location,
                            "after": level["available"] + level["committed"]})
            if did_change:
                changed.append((item, location))
        s.stats["mutations_applied"] += 1
        group = {
            "id": gid("InventoryAdjustmentGroup", s.new_id()),
            "createdAt": now_iso(),
            "reason": input["reason"],
            "referenceDocumentUri": input.get("referenceDocumentUri"),
            "_changes": changes,
        }
        return {"inventoryAdjustmentGroup": self.group_node(group), "userErrors": []}, changed

    def group_node(self, group: dict) -> dict:
        def changes(info, inventoryItemIds=None, locationIds=None, quantityNames=None):
            items = {parse_id(i, "InventoryItem") for i in inventoryItemIds} if inventoryItemIds else None
            locs = {parse_id(i, "Location") for i in locationIds} if locationIds else None
            out = []
            for c in group["_changes"]:
                if items is not None and c["item"] not in items:
                    continue
                if locs is not None and c["location"] not in locs:
                    continue
                if quantityNames is not None and c["name"] not in quantityNames:
                    continue
                out.append({
                    "name": c["name"], "delta": c["delta"], "quantityAfterChange": c["after"],
                    "item": lambda info, n=c["item"]: self.item_node(n),
                    "location": lambda info, n=c["location"]: self.location_node(n),
                })
            return out

        node = {k: v for k, v in group.items() if not k.startswith("_")}
        node["changes"] = changes
        return node

    def metafields_set(self, info, metafields):
        s = self.s
        if len(metafields) > MAX_METAFIELDS:
            return {"metafields": None, "userErrors": [{
                "field": ["metafields"], "code": "LESS_THAN_OR_EQUAL_TO", "elementIndex": None,
                "message": f"Exceeded the maximum metafields input limit of {MAX_METAFIELDS}.",
            }]}
        errors = []
        for i, m in enumerate(metafields):
            if not GID_RE.match(m["ownerId"]):
                errors.append({"field": ["metafields", str(i), "ownerId"], "code": "INVALID",
                               "elementIndex": i, "message": "Owner id is not a valid gid."})
            if m.get("namespace") is not None and not (3 <= len(m["namespace"]) <= 255):
                errors.append({"field": ["metafields", str(i), "namespace"], "code": "INVALID",
                               "elementIndex": i, "message": "Namespace must be 3-255 characters."})
            if not (2 <= len(m["key"]) <= 64):
                errors.append({"field": ["metafields", str(i), "key"], "code": "INVALID",
                               "elementIndex": i, "message": "Key must be 2-64 characters."})
            existing = s.metafields.get((m["ownerId"], m.get("namespace") or "$app", m["key"]))
            if m.get("compareDigest") is not None and (
                    existing is None or existing["digest"] != m["compareDigest"]):
                errors.append({"field": ["metafields", str(i)], "code": "STALE_OBJECT",
                               "elementIndex": i, "message": "The resource has been updated since it was loaded."})
        if errors:  # atomic: all or nothing
            return {"metafields": None, "userErrors": errors}
        out = []
        for m in metafields:
            ns = m.get("namespace") or "$app"
            k = (m["ownerId"], ns, m["key"])
            existing = s.metafields.get(k)
            stamp = now_iso()
            record = {
                "id": existing["id"] if existing else gid("Metafield", s.new_id()),
                "namespace": ns, "key": m["key"], "value": m["value"],
                "type": m.get("type") or (existing or {}).get("type") or "single_line_text_field",
                "ownerType": GID_RE.match(m["ownerId"]).group("kind").upper(),
                "createdAt": existing["createdAt"] if existing else stamp, "updatedAt": stamp,
                "digest": hashlib.sha256(m["value"].encode()).hexdigest(),
            }
            s.metafields[k] = record
            out.append({k2: v for k2, v in record.items() if k2 != "digest"})
        return {"metafields": out, "userErrors": []}


def item_matches(item: dict, n: int, query: str) -> bool:
    """A small part of Shopify's search syntax: `sku:X`, `id:N`, or free text (in the SKU)."""
    for term in query.split():
        if ":" in term:
            field, value = term.split(":", 1)
            value = value.strip("'\"")
            if field == "sku" and (item.get("sku") or "") != value:
                return False
            if field == "id" and str(n) != value:
                return False
        elif term.lower() not in (item.get("sku") or "").lower():
            return False
    return True


def idempotency_key(info) -> str | None:
    for node in info.field_nodes:
        values = get_directive_values(IDEMPOTENT, node, info.variable_values)
        if values is not None:
            return values["key"]
    if info.field_name in IDEMPOTENT_REQUIRED:
        raise GraphQLError(
            f"The @idempotent directive is required for {info.field_name} from API version {API_VERSION}.",
            extensions={"code": "BAD_REQUEST"},
        )
    return None


def flatten_connections(value: Any, parent_id: str | None, lines: list[dict]) -> int:
    """Appends every node of every connection under `value` to `lines` (without its nested
    connections, with `__parentId` when nested), as a bulk operation's JSONL has them. Returns how
    many top-level nodes there were."""
    roots = 0
    if isinstance(value, dict):
        for field, v in value.items():
            if isinstance(v, dict) and isinstance(v.get("edges"), list):
                for edge in v["edges"]:
                    node = edge.get("node") or {}
                    line = {k: x for k, x in node.items()
                            if not (isinstance(x, dict) and isinstance(x.get("edges"), list))}
                    if parent_id is not None:
                        line["__parentId"] = parent_id
                    else:
                        roots += 1
                    lines.append(line)
                    flatten_connections(node, node.get("id", parent_id), lines)
            elif isinstance(v, dict):
                roots += flatten_connections(v, parent_id, lines)
    return roots


def field_resolver(source, info, **args):
    value = source.get(info.field_name) if isinstance(source, dict) else getattr(source, info.field_name, None)
    if callable(value):
        return value(info, **args)
    return value


# -------------------------------------------------------------------------------------------------
# Cost: 0 per scalar/enum, 1 per object, connections 2 + first x (node cost), mutations 10.


def unwrap(t):
    while isinstance(t, (GraphQLNonNull, GraphQLList)):
        t = t.of_type
    return t


def collect_fields(selection_set, fragments) -> list[FieldNode]:
    out = []
    if selection_set is None:
        return out
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            out.append(sel)
        elif isinstance(sel, InlineFragmentNode):
            out.extend(collect_fields(sel.selection_set, fragments))
        elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
            out.extend(collect_fields(fragments[sel.name.value].selection_set, fragments))
    return out


def selection_cost(selection_set, parent, fragments, variables, data) -> int:
    """Cost of a selection set on `parent`. With `data` (the result) connections count what was
    returned (actual cost); without, what `first` asks for (requested cost)."""
    total = 0
    for field in collect_fields(selection_set, fragments):
        if field.name.value.startswith("__"):
            continue
        fdef = parent.fields.get(field.name.value)
        if fdef is None:
            continue
        rtype = unwrap(fdef.type)
        if not isinstance(rtype, GraphQLObjectType):
            continue
        key = field.alias.value if field.alias else field.name.value
        sub = data.get(key) if isinstance(data, dict) else None
        if rtype.name.endswith("Connection"):
            node_type = unwrap(rtype.fields["nodes"].type)
            inner = []
            for f in collect_fields(field.selection_set, fragments):
                if f.name.value == "nodes":
                    inner.append(f.selection_set)
                elif f.name.value == "edges":
                    for g in collect_fields(f.selection_set, fragments):
                        if g.name.value == "node":
                            inner.append(g.selection_set)
            per_node = 1 + sum(selection_cost(s, node_type, fragments, variables, None) for s in inner)
            if data is not None:
                if isinstance(sub, dict):
                    n = len(sub.get("nodes") or sub.get("edges") or [])
                else:
                    n = 0
            else:
                try:
                    args = get_argument_values(fdef, field, variables)
                except Exception:  # noqa: BLE001 - invalid args fail in execution anyway
                    args = {}
                n = args.get("first") or 0
            total += 2 + n * per_node
        else:
            child = sub[0] if isinstance(sub, list) and sub else sub
            if data is not None and sub is None:
                total += 1
                continue
            total += 1 + selection_cost(field.selection_set, rtype, fragments, variables, child)
    return total


def query_cost(doc, operation: OperationDefinitionNode, variables, data=None) -> int:
    fragments = {d.name.value: d for d in doc.definitions if hasattr(d, "name") and d.name
                 and not isinstance(d, OperationDefinitionNode)}
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * len(collect_fields(operation.selection_set, fragments))
    root = SCHEMA.query_type
    return selection_cost(operation.selection_set, root, fragments, variables, data)


# -------------------------------------------------------------------------------------------------
# HTTP


class Handler(BaseHTTPRequestHandler):
    server_version = "ShopifyStandin/1.0"
    protocol_version = "HTTP/1.1"
    store: Store

    def log_message(self, fmt, *args):  # noqa: N802 - stdlib name
        log.debug("%s " + fmt, self.address_string(), *args)

    def send_json(self, status: int, body: Any, headers: dict | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw or b"null")

    def do_GET(self):  # noqa: N802
        s = self.store
        with s.lock:
            s.stats["requests"] += 1
            if self.path == "/_standin/state":
                levels = [s.level_json(i, l) for (i, l) in sorted(s.levels)]
                return self.send_json(200, {
                    "items": [{"id": gid("InventoryItem", n), "sku": it.get("sku"),
                               "tracked": it.get("tracked", True)} for n, it in sorted(s.items.items())],
                    "locations": [{"id": gid("Location", n), "name": loc["name"]}
                                  for n, loc in sorted(s.locations.items())],
                    "levels": levels,
                    "metafields": [{k: v for k, v in m.items() if k != "digest"} | {"ownerId": o}
                                   for (o, _, _), m in sorted(s.metafields.items())],
                })
            m = re.match(r"^/_standin/bulk/(\d+)\.jsonl$", self.path)
            if m and int(m.group(1)) in s.bulk_files:
                data = s.bulk_files[int(m.group(1))]
                self.send_response(200)
                self.send_header("Content-Type", "application/jsonl")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if self.path == "/_standin/stats":
                s.refill()
                return self.send_json(200, {
                    **s.stats,
                    "bucket": s.throttle_status(),
                    "deliveries": dict(s.delivery_counts),
                    "recent_deliveries": s.deliveries[-100:],
                })
        self.send_json(404, {"errors": "Not Found"})

    def do_POST(self):  # noqa: N802
        s = self.store
        path = self.path.split("?", 1)[0]
        try:
            body = self.read_json()
        except (ValueError, UnicodeDecodeError):
            with s.lock:
                s.stats["requests"] += 1
            return self.send_json(400, {"errors": "Invalid JSON in request body"})
        with s.lock:
            s.stats["requests"] += 1
            if path == GRAPHQL_PATH:
                return self.graphql(body)
            if path == "/_standin/seed":
                return self.seed(body or {})
            if path == "/_standin/set":
                return self.manual_set(body or {})
            if path == "/_standin/reset-bucket":
                s.available, s.bucket_at = s.maximum, time.monotonic()
                return self.send_json(200, {"bucket": s.throttle_status()})
        self.send_json(404, {"errors": "Not Found"})

    # --- GraphQL --------------------------------------------------------------------------------

    def graphql(self, body: Any) -> None:
        s = self.store
        token = self.headers.get("X-Shopify-Access-Token")
        if not token or not hmac.compare_digest(token, s.args.token):
            s.stats["unauthorized"] += 1
            return self.send_json(401, {
                "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
        s.stats["graphql_requests"] += 1
        s.refill()

        def reply(payload: dict, requested: int | None, actual: int | None) -> None:
            payload.setdefault("extensions", {})["cost"] = {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": s.throttle_status(),
            }
            self.send_json(200, payload)

        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return self.send_json(400, {"errors": {"query": "Required parameter missing or invalid"}})
        variables = body.get("variables") or {}
        try:
            doc = parse(body["query"])
        except GraphQLError as e:
            return reply({"errors": [e.formatted]}, 0, 0)
        problems = validate(SCHEMA, doc)
        if problems:
            return reply({"errors": [p.formatted for p in problems]}, 0, 0)
        operations = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
        name = body.get("operationName")
        if name:
            operations = [o for o in operations if o.name and o.name.value == name]
        if len(operations) != 1:
            return reply({"errors": [{"message": "An operation name is required (or exactly one operation)."}]}, 0, 0)
        operation = operations[0]
        try:
            coerced = get_variable_values(SCHEMA, operation.variable_definitions or [], variables)
        except Exception as e:  # noqa: BLE001
            return reply({"errors": [{"message": str(e)}]}, 0, 0)
        if isinstance(coerced, list):
            return reply({"errors": [e.formatted for e in coerced]}, 0, 0)
        requested = query_cost(doc, operation, coerced)
        if requested > s.maximum:
            return reply({"errors": [{
                "message": f"Query cost is {requested}, which exceeds the single query max cost limit ({int(s.maximum)}).",
                "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": int(s.maximum)},
            }]}, requested, None)
        if requested > s.available:
            s.stats["throttled"] += 1
            return reply({"errors": [{"message": "Throttled", "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits"}}]}, requested, None)
        s.available -= requested
        s.observe()
        resolvers = Resolvers(s)
        root = resolvers.mutation_root() if operation.operation == OperationType.MUTATION else resolvers.root()
        result = execute(SCHEMA, doc, root_value=root, variable_values=variables,
                         operation_name=name, field_resolver=field_resolver)
        actual = query_cost(doc, operation, coerced, data=result.data or {})
        if operation.operation == OperationType.MUTATION:
            actual = requested
        actual = min(actual, requested)
        s.available = min(s.maximum, s.available + (requested - actual))
        payload: dict = {"data": result.data}
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
        reply(payload, requested, actual)

    # --- operator endpoints ---------------------------------------------------------------------

    def seed(self, body: dict) -> None:
        s = self.store
        if body.get("reset"):
            s.items.clear(), s.locations.clear(), s.levels.clear(), s.metafields.clear()
            s.idempotency.clear()
        stamp = now_iso()
        for it in body.get("items", []):
            n = parse_id(it.get("id"), "InventoryItem")
            if n is None:
                return self.send_json(400, {"error": f"bad item id {it.get('id')!r}"})
            s.items[n] = {"sku": it.get("sku"), "tracked": it.get("tracked", True), "created_at": stamp}
        for loc in body.get("locations", []):
            n = parse_id(loc.get("id"), "Location")
            if n is None:
                return self.send_json(400, {"error": f"bad location id {loc.get('id')!r}"})
            s.locations[n] = {"name": loc.get("name") or f"Location {n}", "active": loc.get("active", True)}
        changed = []
        for lv in body.get("levels", []):
            item = parse_id(lv.get("item"), "InventoryItem")
            location = parse_id(lv.get("location"), "Location")
            if item not in s.items or location not in s.locations:
                return self.send_json(400, {"error": f"level names an unknown item or location: {lv!r}"})
            _, did = s.set_level(item, location, int(lv.get("available", 0)), int(lv.get("committed", 0)))
            if did:
                changed.append((item, location))
        if body.get("notify"):
            s.notify(changed)
        self.send_json(200, {"items": len(s.items), "locations": len(s.locations),
                             "levels": len(s.levels), "notified": len(changed) if body.get("notify") else 0})

    def manual_set(self, body: dict) -> None:
        """A merchant's change in the Shopify admin: sets `available` (and optionally
        `committed`); sends the webhook unless `silent`."""
        s = self.store
        item = parse_id(body.get("item"), "InventoryItem")
        location = parse_id(body.get("location"), "Location")
        if item not in s.items or location not in s.locations:
            return self.send_json(404, {"error": "unknown item or location"})
        available = body.get("available")
        _, did = s.set_level(item, location, None if available is None else int(available),
                             None if body.get("committed") is None else int(body["committed"]))
        if did and not body.get("silent"):
            s.notify([(item, location)])
        self.send_json(200, {"level": s.level_json(item, location), "notified": did and not body.get("silent")})


# -------------------------------------------------------------------------------------------------
# Webhook delivery (background thread)


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
    p.add_argument("--bucket", type=float, default=1000, help="bucket size, points")
    p.add_argument("--restore", type=float, default=100, help="restore rate, points per second")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    urllib.request.install_opener(urllib.request.build_opener(NoRedirect))
    store = Store(args)
    Handler.store = store
    threading.Thread(target=deliver_forever, args=(store,), daemon=True, name="webhooks").start()
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
