"""The query side of the GraphQL API: node shapes (InventoryItem, ProductVariant with its
metafields (metafields.py), Location, InventoryLevel and its quantities, Order, LineItem,
FulfillmentOrder and its line items), the query root with
``node``/``nodes`` over gids, cursor-paginated connections (every node while a bulk operation
runs), the small ``query:`` search syntax (with Shopify's ``extensions.search`` warnings for
fields it does not know), and the field resolver that executes against plain dicts. Mutations
build on this in mutations.py.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timezone

from graphql import GraphQLError

import metafields
from formats import GID_RE, decode_cursor, encode_cursor, gid, parse_id
from store import CLOSED_STATUSES, Store

MAX_PAGE = 250
MAX_NODE_IDS = 250
LEVEL_GID_RE = re.compile(r"^gid://shopify/InventoryLevel/(\d+)\?inventory_item_id=(\d+)$")
FO_STATUSES = ("cancelled", "closed", "incomplete", "in_progress", "on_hold", "open", "scheduled")

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
    """Each object resolves from plain dicts; ids are ints internally, gids outside."""

    def __init__(self, store: Store):
        self.s = store

    # nodes
    def item_node(self, n: int) -> dict:
        it = self.s.items[n]
        return {
            "__typename": "InventoryItem",
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
            "variant": lambda info: self.variant_node(n),
            "variants": lambda info, first=None, after=None: connection(
                [n], first, after, lambda i: i, self.variant_node),
        }

    def variant_node(self, n: int) -> dict:
        """The item's variant (one per item, as Shopify has it today) and its product; the
        product's title is the seeded `title`, else `Product <id>`; the variant's title is
        `Default Title`, as a product without options has it."""
        it = self.s.items[n]
        product = it["product_id"]
        title = it.get("title") or f"Product {product}"
        return {
            "__typename": "ProductVariant",
            "id": gid("ProductVariant", it["variant_id"]),
            "sku": it.get("sku"),
            "title": "Default Title",
            "displayName": f"{title} - Default Title",
            "legacyResourceId": str(it["variant_id"]),
            "product": {"__typename": "Product", "id": gid("Product", product), "title": title,
                        "legacyResourceId": str(product)},
            "inventoryItem": lambda info: self.item_node(n),
            "updatedAt": self.variant_updated_at(n),
            **metafields.owner_fields(self.s, gid("ProductVariant", it["variant_id"]), connection),
        }

    def variant_updated_at(self, n: int) -> str:
        """The item's creation or its variant's newest metafield change, whichever is later (a
        metafield change counts as the variant's update, as Shopify's products search has it)."""
        owner = gid("ProductVariant", self.s.items[n]["variant_id"])
        stamps = [self.s.items[n]["created_at"]] + [
            r["updatedAt"] for (o, _, _), r in self.s.metafields.items() if o == owner]
        return max(stamps, key=parse_time)

    def product_variants(self, info, first=None, after=None, query=None, sortKey="ID",  # noqa: N803
                         reverse=False):
        if sortKey != "ID" or reverse:
            raise GraphQLError(f"The stand-in serves productVariants by sortKey ID only, not {sortKey}")
        rows = sorted(self.s.items, key=lambda n: self.s.items[n]["variant_id"])
        if query:
            rows = [n for n in rows if variant_matches(self, n, query)]
        return connection(rows, first, after, lambda n: self.s.items[n]["variant_id"],
                          self.variant_node)

    def location_node(self, n: int) -> dict:
        loc = self.s.locations[n]
        return {
            "__typename": "Location",
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
            "__typename": "InventoryLevel",
            "id": f"gid://shopify/InventoryLevel/{location}?inventory_item_id={item}",
            "item": lambda info: self.item_node(item) if item in self.s.items else None,
            "location": lambda info: self.location_node(location),
            "quantities": quantities,
            "createdAt": level["created_at"],
            "updatedAt": level["updated_at"],
        }

    def order_node(self, n: int) -> dict:
        o = self.s.orders[n]

        def fulfillment_orders(info, first=None, after=None, displayable=None, query=None):
            rows = sorted(f for f, fo in self.s.fulfillment_orders.items() if fo["order_id"] == n)
            if query:
                rows = [f for f in rows if fo_matches(self.s.fulfillment_orders[f], query,
                                                      info, "fulfillmentOrders")]
            return connection(rows, first, after, lambda f: f, self.fulfillment_order_node)

        return {
            "__typename": "Order",
            "id": gid("Order", n),
            "name": o["name"],
            "createdAt": o["created_at"],
            "updatedAt": o["updated_at"],
            "cancelledAt": o["cancelled_at"],
            "fulfillmentOrders": fulfillment_orders,
        }

    def line_item_node(self, order: int, line: int) -> dict:
        li = next(x for x in self.s.orders[order]["line_items"] if x["id"] == line)
        return {
            "__typename": "LineItem",
            "id": gid("LineItem", line),
            "name": li["title"],
            "sku": li["sku"],
            "quantity": li["quantity"],
            "currentQuantity": li["current_quantity"],
            "unfulfilledQuantity": li["fulfillable_quantity"],
        }

    def fulfillment_order_node(self, n: int) -> dict:
        fo = self.s.fulfillment_orders[n]
        location = fo["location_id"]

        def line_node(fl):
            return {
                "__typename": "FulfillmentOrderLineItem",
                "id": gid("FulfillmentOrderLineItem", fl["id"]),
                "totalQuantity": fl["total_quantity"],
                "remainingQuantity": fl["remaining_quantity"],
                "inventoryItemId": (gid("InventoryItem", fl["inventory_item_id"])
                                    if fl["inventory_item_id"] is not None else None),
                "lineItem": lambda info: self.line_item_node(fo["order_id"], fl["line_item_id"]),
            }

        return {
            "__typename": "FulfillmentOrder",
            "id": gid("FulfillmentOrder", n),
            "status": fo["status"],
            "createdAt": fo["created_at"],
            "updatedAt": fo["updated_at"],
            "orderId": gid("Order", fo["order_id"]),
            "orderName": self.s.orders[fo["order_id"]]["name"],
            "order": lambda info: self.order_node(fo["order_id"]),
            "assignedLocation": {
                "name": self.s.locations.get(location, {}).get("name", f"Location {location}"),
                "location": lambda info: self.location_node(location) if location in self.s.locations else None,
            },
            "lineItems": lambda info, first=None, after=None: connection(
                sorted(fo["line_items"], key=lambda fl: fl["id"]), first, after,
                lambda fl: fl["id"], line_node),
        }

    def node_by_gid(self, value) -> dict | None:
        """Any object by its gid; `None` for a well-formed gid of nothing here; an error for a
        string that is not a gid (as Shopify: "Invalid global id")."""
        s = self.s
        m = GID_RE.match(value) if isinstance(value, str) else None
        if not m:
            raise GraphQLError(f"Invalid global id '{value}'",
                               extensions={"code": "argumentLiteralsIncompatible", "typeName": "CoercionError"})
        kind, n = m.group("kind"), int(m.group("id"))
        if kind == "InventoryLevel":
            lm = LEVEL_GID_RE.match(value)
            return self.level_node_opt(int(lm.group(2)), int(lm.group(1))) if lm else None
        if kind == "InventoryItem":
            return self.item_node(n) if n in s.items else None
        if kind == "Location":
            return self.location_node(n) if n in s.locations else None
        if kind == "ProductVariant":
            item = next((i for i, it in s.items.items() if it.get("variant_id") == n), None)
            return self.variant_node(item) if item is not None else None
        if kind == "FulfillmentOrder":
            return self.fulfillment_order_node(n) if n in s.fulfillment_orders else None
        if kind == "Order":
            return self.order_node(n) if n in s.orders else None
        if kind == "LineItem":
            owner = next((o for o, order in s.orders.items()
                          if any(li["id"] == n for li in order["line_items"])), None)
            return self.line_item_node(owner, n) if owner is not None else None
        return None

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

        def nodes(info, ids):
            if len(ids) > MAX_NODE_IDS:
                raise GraphQLError(f"The input array size of {len(ids)} is greater than the maximum "
                                   f"allowed of {MAX_NODE_IDS}.", extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"})
            return [self.node_by_gid(i) for i in ids]

        def typed(kind):
            def resolve(info, id):
                n = parse_id(id, kind)
                return self.node_by_gid(gid(kind, n)) if n is not None else None
            return resolve

        def fulfillment_orders(info, first=None, after=None, query=None, includeClosed=False):  # noqa: N803
            rows = sorted(s.fulfillment_orders)
            if not includeClosed:
                rows = [f for f in rows if s.fulfillment_orders[f]["status"] not in CLOSED_STATUSES]
            if query:
                rows = [f for f in rows if fo_matches(s.fulfillment_orders[f], query, info,
                                                      "fulfillmentOrders")]
            return connection(rows, first, after, lambda f: f, self.fulfillment_order_node)

        return {
            "node": lambda info, id: self.node_by_gid(id),
            "nodes": nodes,
            "order": typed("Order"),
            "fulfillmentOrder": typed("FulfillmentOrder"),
            "productVariant": typed("ProductVariant"),
            "productVariants": self.product_variants,
            "fulfillmentOrders": fulfillment_orders,
            "shop": {"id": "gid://shopify/Shop/1", "name": s.args.shop.split(".")[0],
                     "myshopifyDomain": s.args.shop},
            "location": location,
            "locations": locations,
            "inventoryItem": inventory_item,
            "inventoryItems": inventory_items,
            "inventoryLevel": inventory_level,
            "currentBulkOperation": lambda info: s.bulk_operations[-1] if s.bulk_operations else None,
        }


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


def variant_matches(r: "Resolvers", n: int, query: str) -> bool:
    """The `productVariants` search, in part: `updated_at:<op><time>`, `sku:X`, `id:N`, ANDed."""
    item = r.s.items[n]
    for term in query.split():
        if term.upper() == "AND":
            continue
        field, _, value = term.partition(":")
        value = value.strip("'\"")
        if field == "updated_at":
            rest = value.lstrip("<>=")
            op = value[:len(value) - len(rest)] or "="
            when = parse_time(rest.strip("'\""))
            if when is None:
                raise GraphQLError(f"Invalid updated_at value in query: {value!r}")
            at = parse_time(r.variant_updated_at(n))
            if not {">": at > when, ">=": at >= when, "<": at < when, "<=": at <= when,
                    "=": at == when}.get(op, False):
                return False
        elif field == "sku":
            if (item.get("sku") or "") != value:
                return False
        elif field == "id":
            if str(item["variant_id"]) != value:
                return False
        else:
            raise GraphQLError(f"The stand-in does not search productVariants by {field!r}")
    return True


def fo_matches(fo: dict, query: str, info, path: str) -> bool:
    """Shopify's `fulfillmentOrders` search, in part: `assigned_location_id:<n>`, `id:<n>`,
    `status:<open|closed|...>`, `updated_at:<op><time>` (ops >, >=, <, <=, or none for equal),
    ANDed. Other terms are ignored with a warning in `extensions.search`, as Shopify does."""
    warnings = []
    ok = True
    for term in query.split():
        if term.upper() == "AND":
            continue
        field, _, value = term.partition(":")
        value = value.strip("'\"")
        if field == "assigned_location_id":
            ok &= parse_id(value, "Location") == fo["location_id"]
        elif field == "id":
            ok &= parse_id(value, "FulfillmentOrder") == fo["id"]
        elif field == "status" and value.lower() in FO_STATUSES:
            ok &= fo["status"] == value.upper()
        elif field == "updated_at" and (when := parse_time(value.lstrip("<>="))) is not None:
            op = value[:len(value) - len(value.lstrip("<>="))] or "="
            at = parse_time(fo["updated_at"])
            ok &= {">": at > when, ">=": at >= when, "<": at < when, "<=": at <= when,
                   "=": at == when}.get(op, False)
        else:
            warnings.append({"field": field if value else None,
                             "message": "Invalid search field for this query." if value
                             else "Free text search is not supported for this query."})
    if warnings:
        context = getattr(info, "context", None)
        if isinstance(context, dict):
            entry = {"path": [path], "query": query, "warnings": warnings}
            if entry not in context["search"]:
                context["search"].append(entry)
    return ok


def parse_time(value: str):
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


def field_resolver(source, info, **args):
    value = source.get(info.field_name) if isinstance(source, dict) else getattr(source, info.field_name, None)
    if callable(value):
        return value(info, **args)
    return value
