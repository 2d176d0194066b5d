"""What happens to an order after it is placed, besides moves, fulfilments and cancellation
(``orders.py``): its payment is captured (``pay``) or its authorization voided (``void``), a line's
quantity is edited before it ships (``edit``, Shopify's order editing), and fulfilled units are
refunded, restocked as a return or not (``refund``). Each validates all of its input first,
applies Shopify's arithmetic to the line, its fulfillment order lines and the levels, and emits
the webhooks Shopify sends for it as one event. Bad input raises ``OperatorError``.
"""

from __future__ import annotations

from formats import gid, now_iso, parse_id
from orders import OperatorError, flag, location_of, positive, stocked, touch
from payloads import order as order_body
from payloads import refund as refund_body
from store import CLOSED_STATUSES, Event, Store

PAYABLE = ("pending", "authorized", "partially_paid")


def order_of(s: Store, body: dict) -> dict:
    ref = body.get("order")
    n = parse_id(ref, "Order")
    if n is None or n not in s.orders:
        raise OperatorError(f"no order {ref!r}", 404)
    return s.orders[n]


def line_of(order: dict, ref, what: str) -> dict:
    n = parse_id(ref, "LineItem")
    line = next((li for li in order["line_items"] if li["id"] == n), None)
    if line is None:
        raise OperatorError(f"{what}: {ref!r} is not a line item of order {order['id']}", 404)
    return line


def open_lines(s: Store, order: dict, line_id: int) -> list[tuple[dict, dict]]:
    """(fulfillment order, its line) for every open fulfillment order holding the order line."""
    return [(fo, fl) for _, fo in sorted(s.fulfillment_orders.items())
            if fo["order_id"] == order["id"] and fo["status"] not in CLOSED_STATUSES
            for fl in fo["line_items"] if fl["line_item_id"] == line_id]


# --- payment -------------------------------------------------------------------------------------

def pay(s: Store, body: dict, event: Event) -> dict:
    """The payment is captured in full: `financial_status` -> paid."""
    order = order_of(s, body)
    if order["cancelled_at"]:
        raise OperatorError(f"order {order['id']} is cancelled")
    if order["financial_status"] not in PAYABLE:
        raise OperatorError(f"order {order['id']} is {order['financial_status']}: only "
                            f"{', '.join(PAYABLE)} orders can be paid")
    order["financial_status"] = "paid"
    touch(s, order)
    event.emit("orders/paid", order_body(s, order["id"]))
    event.emit("orders/updated", order_body(s, order["id"]))
    return {"order": s.order_json(order["id"])}


def void(s: Store, body: dict, event: Event) -> dict:
    """The authorization is voided: `financial_status` -> voided. Nothing else changes (the
    order stays open with its committed units until it is cancelled)."""
    order = order_of(s, body)
    if order["financial_status"] != "authorized":
        raise OperatorError(f"order {order['id']} is {order['financial_status']}: only an "
                            "authorized payment can be voided (refund a paid one)")
    order["financial_status"] = "voided"
    touch(s, order)
    event.emit("orders/updated", order_body(s, order["id"]))
    return {"order": s.order_json(order["id"])}


# --- order editing -------------------------------------------------------------------------------

def edit(s: Store, body: dict, event: Event) -> dict:
    """orderEditSetQuantity and commit: the line's unfulfilled units become `quantity` minus
    what was fulfilled. Fewer: `current_quantity` and `fulfillable_quantity` fall, the fulfillment
    order lines lose the units (latest first) and each level `committed -d`, with `available +d`
    when `restock` (default true). More: the line's `quantity` too rises, its first open
    fulfillment order line gets the units, `available -d, committed +d`."""
    order = order_of(s, body)
    if order["cancelled_at"]:
        raise OperatorError(f"order {order['id']} is cancelled: it cannot be edited")
    line = line_of(order, body.get("line"), "line")
    wanted = body.get("quantity")
    if type(wanted) is not int or wanted < 0:
        raise OperatorError(f"`quantity` must be the line's new quantity, an integer >= 0, got {wanted!r}")
    restock = flag(body, "restock", True)
    shipped = line["current_quantity"] - line["fulfillable_quantity"]
    if wanted < shipped:
        raise OperatorError(f"line {line['id']} has {shipped} units fulfilled or refunded: it cannot "
                            f"go below {shipped}")
    delta = wanted - line["current_quantity"]
    if delta == 0:
        raise OperatorError(f"line {line['id']} already has quantity {wanted}")
    holders = open_lines(s, order, line["id"])
    if delta > 0 and not holders:
        raise OperatorError(f"line {line['id']} has no open fulfillment order to add units to")
    changed, item = [], line["inventory_item_id"]
    if delta > 0:
        fo, fl = holders[0]
        fl["total_quantity"] += delta
        fl["remaining_quantity"] += delta
        line["quantity"] += delta
        if stocked(s, item):
            s.change_level(item, fo["location_id"], available=-delta, committed=delta)
            changed.append((item, fo["location_id"]))
        touch(s, fo)
    else:
        left = -delta
        for fo, fl in reversed(holders):
            taken = min(left, fl["remaining_quantity"])
            if not taken:
                continue
            fl["total_quantity"] -= taken
            fl["remaining_quantity"] -= taken
            left -= taken
            if stocked(s, item):
                if restock:
                    s.change_level(item, fo["location_id"], committed=-taken, available=taken)
                    changed.append((item, fo["location_id"]))
                else:
                    s.change_level(item, fo["location_id"], committed=-taken)
            if all(x["remaining_quantity"] == 0 for x in fo["line_items"]):
                fo["status"] = "CLOSED"
            touch(s, fo)
    line["current_quantity"] += delta
    line["fulfillable_quantity"] += delta
    touch(s, order)
    event.emit("orders/updated", order_body(s, order["id"]))
    event.levels(changed)
    return {"order": s.order_json(order["id"]),
            "fulfillment_orders": [s.fulfillment_order_json(fo["id"]) for fo, _ in holders]}


# --- refunds of fulfilled units ------------------------------------------------------------------

def refund(s: Store, body: dict, event: Event) -> dict:
    """Fulfilled units refunded: with `restock` (default true) a return (`restock_type: return`,
    `available +q` and `on_hand +q` where the units were fulfilled from, or `location`), else
    `no_restock` (no quantity moves). The line's `current_quantity` falls; `financial_status`
    becomes partially_refunded, or refunded when no line holds a unit any more. Unfulfilled
    units leave through `edit` or `cancel`."""
    order = order_of(s, body)
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines:
        raise OperatorError("`lines` must be a non-empty list of {line, quantity, restock?, location?}")
    plan, asked = [], {}
    for i, spec in enumerate(lines):
        what = f"lines[{i}]"
        if not isinstance(spec, dict):
            raise OperatorError(f"{what} must be an object")
        line = line_of(order, spec.get("line"), what)
        q = positive(spec.get("quantity"), f"{what}.quantity")
        restock = flag(spec, "restock", True)
        asked[line["id"]] = asked.get(line["id"], 0) + q
        refundable = line["fulfilled_quantity"] - line.get("refunded_quantity", 0)
        if asked[line["id"]] > refundable:
            raise OperatorError(f"{what}: line {line['id']} has {refundable} fulfilled units not yet "
                                "refunded (unfulfilled units leave through edit or cancel)")
        location = None
        if restock and stocked(s, line["inventory_item_id"]):
            if spec.get("location") is not None:
                location = location_of(s, spec["location"], f"{what}.location")
            else:
                location = next((f["location_id"] for _, f in sorted(s.fulfillments.items())
                                 if f["order_id"] == order["id"]
                                 and any(li == line["id"] for li, _ in f["line_items"])), None)
            if s.level(line["inventory_item_id"], location) is None:
                raise OperatorError(f"{what}: item {line['inventory_item_id']} is not stocked at "
                                    f"location {location}")
        plan.append((line, q, location))
    refund_lines, changed = [], []
    for line, q, location in plan:
        line["refunded_quantity"] = line.get("refunded_quantity", 0) + q
        line["current_quantity"] -= q
        if location is not None:
            s.change_level(line["inventory_item_id"], location, available=q)
            changed.append((line["inventory_item_id"], location))
        refund_lines.append({"id": s.new_kind_id("RefundLineItem"), "line_item_id": line["id"],
                             "location_id": location, "quantity": q,
                             "restock_type": "return" if location is not None else "no_restock"})
    if order["financial_status"] in ("paid", "partially_paid", "partially_refunded"):
        done = all(li["current_quantity"] == 0 for li in order["line_items"])
        order["financial_status"] = "refunded" if done else "partially_refunded"
    stamp = now_iso()
    refund_id = s.new_kind_id("Refund")
    s.refunds[refund_id] = {"id": refund_id, "order_id": order["id"], "created_at": stamp,
                            "note": "Returned", "restock": any(r["location_id"] for r in refund_lines),
                            "line_items": refund_lines}
    touch(s, order)
    event.emit("refunds/create", refund_body(s, refund_id))
    event.levels(changed)
    event.emit("orders/updated", order_body(s, order["id"]))
    return {"order": s.order_json(order["id"]),
            "refund": {"id": refund_id, "gid": gid("Refund", refund_id), "order_id": order["id"],
                       "refund_line_items": refund_lines}}
