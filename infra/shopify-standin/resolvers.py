"""The query side of the GraphQL API: node shapes (InventoryItem, Location, InventoryLevel and its
quantities), the query root, cursor-paginated connections (every node while a bulk operation
runs), the small ``query:`` search syntax, and the field resolver that executes against plain
dicts. Mutations build on this in mutations.py.
"""

from __future__ import annotations

import re
import threading

from graphql import GraphQLError

from formats import decode_cursor, encode_cursor, gid, parse_id
from store import Store

MAX_PAGE = 250

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


def field_resolver(source, info, **args):
    value = source.get(info.field_name) if isinstance(source, dict) else getattr(source, info.field_name, None)
    if callable(value):
        return value(info, **args)
    return value
