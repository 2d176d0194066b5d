"""The operator and test endpoints under ``/_standin/`` (not Shopify's; no token): seed the shop,
read its whole state or the log of applied inventory adjustment groups, drive a day (orders, payments, edits, refunds, moves, fulfilments, cancellations, quantity-state
moves, receipts and adjustments, each with the webhooks Shopify would send), and hold, flush or
drop webhooks to make delivery messy. Each handler takes the parsed JSON body and returns
``(HTTP status, JSON answer)``; bad input answers 400/404 with ``{"error": "..."}`` and changes
nothing.
"""

from __future__ import annotations

from typing import Any, Callable

import order_edits
import orders
import subscriptions
import webhooks
from formats import gid, now_iso, parse_id
from orders import OperatorError, flag, positive
from store import STORED_NAMES, Store

MOVABLE_STATES = ("available", "reserved", "damaged", "safety_stock", "quality_control")
Answer = tuple[int, Any]


def as_object(body: Any) -> dict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise OperatorError("the body must be a JSON object")
    return body


def level_ref(s: Store, body: dict) -> tuple[int, int, dict]:
    item = parse_id(body.get("item"), "InventoryItem")
    location = parse_id(body.get("location"), "Location")
    if item not in s.items or location not in s.locations:
        raise OperatorError(f"unknown item {body.get('item')!r} or location {body.get('location')!r}", 404)
    level = s.level(item, location)
    if level is None:
        raise OperatorError(f"item {item} is not stocked at location {location}", 404)
    return item, location, level


def integer(value, what: str) -> int:
    if type(value) is not int:
        raise OperatorError(f"{what} must be an integer, got {value!r}")
    return value


# --- reads ---------------------------------------------------------------------------------------

def state(s: Store, _body: Any = None) -> Answer:
    return 200, {
        "items": [{"id": gid("InventoryItem", n), "item_id": n, "sku": it.get("sku"),
                   "tracked": it.get("tracked", True), "variant_id": it.get("variant_id")}
                  for n, it in sorted(s.items.items())],
        "locations": [{"id": gid("Location", n), "location_id": n, "name": loc["name"]}
                      for n, loc in sorted(s.locations.items())],
        "levels": [s.level_json(i, l) for (i, l) in sorted(s.levels)],
        "orders": [s.order_json(n) for n in sorted(s.orders)],
        "fulfillment_orders": [s.fulfillment_order_json(n) for n in sorted(s.fulfillment_orders)],
        "fulfillments": [{"id": n, "order_id": f["order_id"], "location_id": f["location_id"],
                          "fulfillment_order_id": f["fulfillment_order_id"], "status": f["status"],
                          "line_items": [{"line_item_id": li, "quantity": q} for li, q in f["line_items"]]}
                         for n, f in sorted(s.fulfillments.items())],
        "refunds": [{"id": n, "order_id": r["order_id"], "restock": r["restock"],
                     "refund_line_items": r["line_items"]} for n, r in sorted(s.refunds.items())],
        "metafields": [{k: v for k, v in m.items() if k != "digest"} | {"ownerId": o}
                       for (o, _, _), m in sorted(s.metafields.items())],
        "webhooks": {"hold": s.hold_all, "held": len(s.held)},
    }


def adjustments(s: Store, _body: Any = None) -> Answer:
    """Every applied ``inventorySetQuantities`` group, oldest first, with the idempotency key it
    was made under (an ``@idempotent`` replay, a refused or stale call add none)."""
    return 200, {"adjustments": [s.adjustment_json(n, e) for n, e in enumerate(s.adjustments, 1)]}


def webhooks_view(s: Store, _body: Any = None) -> Answer:
    def full(e):
        return webhooks.summary(e) | {"body": e["body"]}
    return 200, {"hold": s.hold_all, "held": [full(e) for e in s.held],
                 "emitted": [full(e) for e in s.emitted]}


# --- seed and manual set -------------------------------------------------------------------------

def seed(s: Store, body: dict) -> Answer:
    """Upserts items, locations and levels; a level is stated in full (missing names are 0)."""
    reset = flag(body, "reset", False)
    parsed_items, parsed_locations, parsed_levels = [], [], []
    for key in ("items", "locations", "levels"):
        if not isinstance(body.get(key, []), list) or not all(isinstance(x, dict) for x in body.get(key, [])):
            raise OperatorError(f"`{key}` must be a list of objects")
    for it in body.get("items", []):
        n = parse_id(it.get("id"), "InventoryItem")
        if n is None:
            raise OperatorError(f"bad item id {it.get('id')!r}")
        variant = it.get("variant_id")
        if variant is not None and parse_id(variant, "ProductVariant") is None:
            raise OperatorError(f"bad variant id {variant!r} for item {n}")
        parsed_items.append((n, it, None if variant is None else parse_id(variant, "ProductVariant")))
    for loc in body.get("locations", []):
        n = parse_id(loc.get("id"), "Location")
        if n is None:
            raise OperatorError(f"bad location id {loc.get('id')!r}")
        parsed_locations.append((n, loc))
    items = (set() if reset else set(s.items)) | {n for n, _, _ in parsed_items}
    locations = (set() if reset else set(s.locations)) | {n for n, _ in parsed_locations}
    for lv in body.get("levels", []):
        item = parse_id(lv.get("item"), "InventoryItem")
        location = parse_id(lv.get("location"), "Location")
        if item not in items or location not in locations:
            raise OperatorError(f"level names an unknown item or location: {lv!r}")
        unknown = set(lv) - {"item", "location"} - set(STORED_NAMES)
        if unknown:
            raise OperatorError(f"level {lv!r}: unknown fields {sorted(unknown)} (on_hand is derived; "
                                f"names are {', '.join(STORED_NAMES)})")
        parsed_levels.append((item, location, {name: integer(lv.get(name, 0), name) for name in STORED_NAMES}))
    if reset:
        s.reset()
    for n, it, variant in parsed_items:
        existing = s.items.get(n, {})
        s.items[n] = {"sku": it.get("sku"), "tracked": it.get("tracked", True),
                      "created_at": existing.get("created_at") or now_iso(),
                      "variant_id": variant or existing.get("variant_id") or s.new_kind_id("ProductVariant"),
                      "product_id": existing.get("product_id") or s.new_kind_id("Product"),
                      "title": it.get("title") or existing.get("title")}
    for n, loc in parsed_locations:
        s.locations[n] = {"name": loc.get("name") or f"Location {n}", "active": loc.get("active", True)}
    changed = []
    for item, location, quantities in parsed_levels:
        _, did = s.set_level(item, location, **quantities)
        if did:
            changed.append((item, location))
    notify = flag(body, "notify", False)
    if notify:
        s.notify(changed, hold=flag(body, "hold", False))
    return 200, {"items": len(s.items), "locations": len(s.locations),
                 "levels": len(s.levels), "notified": len(changed) if notify else 0}


def manual_set(s: Store, body: dict) -> Answer:
    """A merchant's change in the Shopify admin: absolute quantities of any stored names;
    `inventory_levels/update` unless `silent` (a lost webhook) when `available` changed."""
    item = parse_id(body.get("item"), "InventoryItem")
    location = parse_id(body.get("location"), "Location")
    if item not in s.items or location not in s.locations:
        return 404, {"error": "unknown item or location"}
    quantities = {name: integer(body[name], name) for name in STORED_NAMES if body.get(name) is not None}
    _, did = s.set_level(item, location, **quantities)
    silent = flag(body, "silent", False)
    sent = s.notify([(item, location)], hold=flag(body, "hold", False)) if did and not silent else []
    return 200, {"level": s.level_json(item, location), "notified": did and not silent, "webhooks": sent}


# --- quantity states, receipts, adjustments ------------------------------------------------------

def state_move(s: Store, body: dict, event) -> dict:
    """inventoryMoveQuantities at one level: `quantity` units `from` one name `to` another."""
    item, location, level = level_ref(s, body)
    source, target = body.get("from"), body.get("to")
    if source not in MOVABLE_STATES + ("incoming",) or target not in MOVABLE_STATES or source == target:
        raise OperatorError(f"`from` must be one of {', '.join(MOVABLE_STATES)} or incoming, `to` one of "
                            f"{', '.join(MOVABLE_STATES)}, and they must differ (committed belongs to orders)")
    q = positive(body.get("quantity"), "quantity")
    if level[source] < q:
        raise OperatorError(f"cannot move {q} from {source}: the level has {level[source]}")
    s.change_level(item, location, **{source: -q, target: q})
    if "available" in (source, target):
        event.levels([(item, location)])
    return {"level": s.level_json(item, location)}


def receive(s: Store, body: dict, event) -> dict:
    """Goods received: available and on_hand +quantity (and incoming -quantity if `from_incoming`)."""
    item, location, level = level_ref(s, body)
    q = positive(body.get("quantity"), "quantity")
    deltas = {"available": q}
    if flag(body, "from_incoming", False):
        if level["incoming"] < q:
            raise OperatorError(f"cannot receive {q} from incoming: the level has {level['incoming']}")
        deltas["incoming"] = -q
    s.change_level(item, location, **deltas)
    event.levels([(item, location)])
    return {"level": s.level_json(item, location)}


def adjust(s: Store, body: dict, event) -> dict:
    """A correction or count: available and on_hand move by `delta`."""
    item, location, _ = level_ref(s, body)
    delta = integer(body.get("delta"), "delta")
    if delta == 0:
        raise OperatorError("`delta` must not be 0")
    s.change_level(item, location, available=delta)
    event.levels([(item, location)])
    return {"level": s.level_json(item, location)}


def incoming(s: Store, body: dict, event) -> dict:
    """A transfer or purchase order on its way: incoming moves by `delta` (no webhook: available
    is unchanged)."""
    item, location, level = level_ref(s, body)
    delta = integer(body.get("delta"), "delta")
    if delta == 0 or level["incoming"] + delta < 0:
        raise OperatorError(f"`delta` must be non-zero and leave incoming at 0 or more (it is {level['incoming']})")
    s.change_level(item, location, incoming=delta)
    return {"level": s.level_json(item, location)}


# --- webhooks ------------------------------------------------------------------------------------

def hold(s: Store, body: dict) -> Answer:
    s.hold_all = flag(body, "hold", True)
    return 200, {"hold": s.hold_all, "held": len(s.held)}


def flush(s: Store, body: dict) -> Answer:
    try:
        sent = webhooks.flush(s, body)
    except webhooks.WebhookRequestError as e:
        raise OperatorError(str(e)) from e
    return 200, {"sent": sent, "held": len(s.held)}


def race(s: Store, body: dict) -> Answer:
    """Arms one storefront sale (an order, the body of /_standin/order) to be made right
    before the next inventorySetQuantities is judged: a sale landing between a writer's read
    and its write, which its compare-and-set must notice."""
    if not isinstance(body.get("lines"), list) or not body["lines"]:
        raise OperatorError("`lines` must be a non-empty list, as for /_standin/order")
    s.race = body
    return 200, {"armed": True}


def drop(s: Store, body: dict) -> Answer:
    try:
        dropped = webhooks.drop(s, body)
    except webhooks.WebhookRequestError as e:
        raise OperatorError(str(e)) from e
    return 200, {"dropped": dropped, "held": len(s.held)}


# --- routing -------------------------------------------------------------------------------------

ACTIONS: dict[str, Callable[[Store, dict, Any], dict]] = {
    "/_standin/order": orders.create_order,
    "/_standin/move": orders.move,
    "/_standin/fulfill": orders.fulfill,
    "/_standin/cancel": orders.cancel,
    "/_standin/pay": order_edits.pay,
    "/_standin/void": order_edits.void,
    "/_standin/edit": order_edits.edit,
    "/_standin/refund": order_edits.refund,
    "/_standin/state": state_move,
    "/_standin/receive": receive,
    "/_standin/adjust": adjust,
    "/_standin/incoming": incoming,
}
PLAIN: dict[str, Callable[[Store, dict], Answer]] = {
    "/_standin/seed": seed,
    "/_standin/set": manual_set,
    "/_standin/webhooks/hold": hold,
    "/_standin/webhooks/flush": flush,
    "/_standin/webhooks/drop": drop,
    "/_standin/race": race,
}
GETS: dict[str, Callable[[Store], Answer]] = {
    "/_standin/state": state,
    "/_standin/adjustments": adjustments,
    "/_standin/webhooks": webhooks_view,
}
# Webhook subscriptions and access scopes: subscriptions.py.
PLAIN.update(subscriptions.POSTS)
GETS.update(subscriptions.GETS)


def handle_post(s: Store, path: str, body: Any) -> Answer | None:
    """Runs an operator POST; None when the path is not one."""
    try:
        if path in ACTIONS:
            body = as_object(body)
            event = s.event(hold=flag(body, "hold", False))
            result = ACTIONS[path](s, body, event)
            return 200, {**result, "event_id": event.id, "webhooks": event.sent}
        if path in PLAIN:
            return PLAIN[path](s, as_object(body))
    except OperatorError as e:
        return e.status, {"error": str(e)}
    return None


def handle_get(s: Store, path: str) -> Answer | None:
    return GETS[path](s) if path in GETS else None
