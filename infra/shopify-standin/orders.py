"""What Shopify does to orders, fulfillment orders and quantities when a day happens, driven by the
operator endpoints: an order is placed (routed to locations, one fulfillment order per location,
available -> committed), a fulfillment order is moved to another location (committed and
available move with it), fulfilled (committed and on_hand fall), or its order is cancelled
(committed goes back to available, or leaves with no restock). Each operation validates all of
its input before changing anything, applies Shopify's arithmetic, and emits, as one event, the
webhooks Shopify sends for it. Bad input raises ``OperatorError`` with what to send instead.
"""

from __future__ import annotations

from formats import gid, now_iso, parse_id
from payloads import fulfillment as fulfillment_body
from payloads import fulfillment_order_ref, order as order_body
from payloads import refund as refund_body
from store import CLOSED_STATUSES, Event, Store

DEFAULT_PRICE = "10.00"
CANCEL_REASONS = ("customer", "declined", "fraud", "inventory", "other", "staff")
# What an order can be created with (Shopify's `financial_status` at checkout); the rest
# (`partially_refunded`, `refunded`, `voided`, `expired`) only follow from what happens to it.
CREATABLE_PAYMENTS = ("pending", "authorized", "partially_paid", "paid")
CANCELLED_PAYMENT = {"paid": "refunded", "partially_paid": "refunded", "partially_refunded": "refunded",
                     "authorized": "voided", "pending": "voided"}


class OperatorError(Exception):
    """An operator request that cannot be applied; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def flag(body: dict, name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise OperatorError(f"`{name}` must be true or false")
    return value


def positive(value, what: str) -> int:
    if type(value) is not int or value <= 0:
        raise OperatorError(f"{what} must be a positive integer, got {value!r}")
    return value


def location_of(s: Store, value, what: str) -> int:
    n = parse_id(value, "Location")
    if n is None or n not in s.locations:
        raise OperatorError(f"{what}: no location {value!r} (seed it first)", 404)
    return n


def item_of(s: Store, line: dict, what: str) -> int:
    """The inventory item a line names by `inventory_item_id` (or `item`) or by a unique `sku`."""
    ref = line.get("inventory_item_id", line.get("item"))
    if ref is not None:
        n = parse_id(ref, "InventoryItem")
        if n is None or n not in s.items:
            raise OperatorError(f"{what}: no inventory item {ref!r}", 404)
        return n
    sku = line.get("sku")
    if not isinstance(sku, str) or not sku:
        raise OperatorError(f"{what}: name the item by `sku` or `inventory_item_id`, "
                            "or say `custom: true` for a line without one")
    matches = [n for n, it in s.items.items() if it.get("sku") == sku]
    if len(matches) != 1:
        raise OperatorError(f"{what}: SKU {sku!r} names {len(matches)} items, not one",
                            404 if not matches else 400)
    return matches[0]


def stocked(s: Store, item: int | None) -> bool:
    """Whether Shopify tracks (and so commits) this item's quantities."""
    return item is not None and s.items[item].get("tracked", True)


def fulfillment_order_of(s: Store, body: dict) -> dict:
    ref = body.get("fulfillment_order")
    n = parse_id(ref, "FulfillmentOrder")
    if n is None or n not in s.fulfillment_orders:
        raise OperatorError(f"no fulfillment order {ref!r}", 404)
    return s.fulfillment_orders[n]


def requested_lines(fo: dict, lines, verb: str) -> dict[int, int]:
    """FO line item id -> quantity: every remaining unit when `lines` is absent, else the
    given `[{id, quantity}]` (each at most what remains)."""
    by_id = {fl["id"]: fl for fl in fo["line_items"]}
    if lines is None:
        out = {fl["id"]: fl["remaining_quantity"] for fl in fo["line_items"] if fl["remaining_quantity"] > 0}
    else:
        if not isinstance(lines, list) or not lines:
            raise OperatorError("`lines` must be a non-empty list of {id, quantity} (fulfillment "
                                "order line item ids), or absent for every remaining unit")
        out = {}
        for i, line in enumerate(lines):
            if not isinstance(line, dict):
                raise OperatorError(f"lines[{i}] must be an object {{id, quantity}}")
            n = parse_id(line.get("id"), "FulfillmentOrderLineItem")
            if n not in by_id:
                raise OperatorError(f"lines[{i}]: {line.get('id')!r} is not a line item of "
                                    f"fulfillment order {fo['id']}")
            if n in out:
                raise OperatorError(f"lines[{i}]: line item {n} is named twice")
            q = positive(line.get("quantity"), f"lines[{i}].quantity")
            if q > by_id[n]["remaining_quantity"]:
                raise OperatorError(f"lines[{i}]: cannot {verb} {q}, only "
                                    f"{by_id[n]['remaining_quantity']} remain")
            out[n] = q
    if not out:
        raise OperatorError(f"nothing to {verb}: no remaining quantity on fulfillment order {fo['id']}")
    return out


def order_line(s: Store, order_id: int, line_id: int) -> dict:
    return next(li for li in s.orders[order_id]["line_items"] if li["id"] == line_id)


def touch(s: Store, *records: dict) -> None:
    stamp = now_iso()
    for r in records:
        r["updated_at"] = stamp


# --- order ---------------------------------------------------------------------------------------

def create_order(s: Store, body: dict, event: Event) -> dict:
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines:
        raise OperatorError("`lines` must be a non-empty list of {sku | inventory_item_id, quantity, "
                            "variant_id?, location?, price?} (or {custom: true, title, quantity})")
    payment = body.get("financial_status", "paid")
    if payment not in CREATABLE_PAYMENTS:
        raise OperatorError(f"`financial_status` must be one of {', '.join(CREATABLE_PAYMENTS)} "
                            "(absent: paid)")
    # Shopify sends orders/paid with orders/create for an order paid at checkout; absent, the
    # order is paid as before, without it (existing callers count their webhooks).
    paid_webhook = body.get("financial_status") == "paid"
    test = flag(body, "test", False)
    pos = body.get("pos_location")
    pos_location = location_of(s, pos, "pos_location") if pos is not None else None
    primary = s.primary_location()
    plan = []
    for i, line in enumerate(lines):
        what = f"lines[{i}]"
        if not isinstance(line, dict):
            raise OperatorError(f"{what} must be an object")
        quantity = positive(line.get("quantity"), f"{what}.quantity")
        custom = flag(line, "custom", False)
        gift_card = flag(line, "gift_card", False)
        if custom and gift_card:
            raise OperatorError(f"{what}: a line is `custom` or a `gift_card`, not both")
        if custom and (line.get("variant_id") is not None or line.get("sku") is not None):
            raise OperatorError(f"{what}: a custom line (a tip, a custom item) has no variant_id or sku")
        item = None if custom or gift_card else item_of(s, line, what)
        if line.get("location") is not None:
            location = location_of(s, line["location"], f"{what}.location")
        elif pos_location is not None:
            location = pos_location
        elif primary is not None:
            location = primary
        else:
            raise OperatorError("the shop has no location to route to (seed one)")
        if stocked(s, item) and s.level(item, location) is None:
            raise OperatorError(f"{what}: item {item} is not stocked at location {location}")
        variant = line.get("variant_id")
        if variant is not None:
            variant = parse_id(variant, "ProductVariant")
            if variant is None:
                raise OperatorError(f"{what}.variant_id: {line['variant_id']!r} is not an id")
        elif item is not None:
            variant = s.items[item].get("variant_id")
        elif gift_card:
            variant = s.new_kind_id("ProductVariant")
        sku = line.get("sku") if gift_card else None
        if sku is not None and not isinstance(sku, str):
            raise OperatorError(f"{what}.sku must be a string")
        price = line.get("price", DEFAULT_PRICE)
        if not isinstance(price, str):
            raise OperatorError(f"{what}.price must be a decimal string such as \"12.50\"")
        title = line.get("title") or (s.items[item].get("sku") if item is not None
                                      else "Gift card" if gift_card else "Custom item")
        plan.append((item, location, quantity, variant, price, title, gift_card, sku))

    stamp = now_iso()
    order_id = s.new_kind_id("Order")
    s.order_number += 1
    order = {"id": order_id, "number": s.order_number, "name": f"#{s.order_number}",
             "location_id": pos_location, "source_name": "pos" if pos_location else "web",
             "financial_status": payment, "test": test, "cancelled_at": None, "cancel_reason": None, "created_at": stamp,
             "updated_at": stamp, "line_items": []}
    fos: dict[int, dict] = {}
    changed = []
    for item, location, quantity, variant, price, title, gift_card, sku in plan:
        line_id = s.new_kind_id("LineItem")
        order["line_items"].append({
            "id": line_id, "variant_id": variant,
            "product_id": None if item is None else s.items[item].get("product_id"),
            "sku": sku if item is None else s.items[item].get("sku"), "title": title,
            "gift_card": gift_card,
            "price": price, "inventory_item_id": item, "quantity": quantity,
            "current_quantity": quantity, "fulfillable_quantity": quantity, "fulfilled_quantity": 0,
        })
        fo = fos.get(location)
        if fo is None:
            fo = {"id": s.new_kind_id("FulfillmentOrder"), "order_id": order_id,
                  "location_id": location, "status": "OPEN", "created_at": stamp,
                  "updated_at": stamp, "line_items": []}
            fos[location] = fo
        fo["line_items"].append({"id": s.new_kind_id("FulfillmentOrderLineItem"),
                                 "line_item_id": line_id, "inventory_item_id": item,
                                 "total_quantity": quantity, "remaining_quantity": quantity})
        if stocked(s, item):
            s.change_level(item, location, available=-quantity, committed=quantity)
            changed.append((item, location))
    s.orders[order_id] = order
    for fo in fos.values():
        s.fulfillment_orders[fo["id"]] = fo
    event.emit("orders/create", order_body(s, order_id))
    if paid_webhook:
        event.emit("orders/paid", order_body(s, order_id))
    event.levels(changed)
    for fo in fos.values():
        event.emit("fulfillment_orders/order_routing_complete",
                   {"fulfillment_order": fulfillment_order_ref(s, fo["id"])})
    return {"order": s.order_json(order_id),
            "fulfillment_orders": [s.fulfillment_order_json(fo["id"]) for fo in fos.values()]}


# --- move ----------------------------------------------------------------------------------------

def move(s: Store, body: dict, event: Event) -> dict:
    fo = fulfillment_order_of(s, body)
    if fo["status"] in CLOSED_STATUSES:
        raise OperatorError(f"fulfillment order {fo['id']} is {fo['status']}: a closed fulfillment "
                            "order cannot be moved")
    destination = location_of(s, body.get("location"), "location")
    origin = fo["location_id"]
    if destination == origin:
        raise OperatorError(f"fulfillment order {fo['id']} is already at location {destination}")
    replace = flag(body, "replace", False)
    wanted = requested_lines(fo, body.get("lines"), "move")
    lines = {fl["id"]: fl for fl in fo["line_items"]}
    for n in wanted:
        item = lines[n]["inventory_item_id"]
        if stocked(s, item) and s.level(item, destination) is None:
            raise OperatorError(f"the destination location {destination} doesn't stock item {item}")
    whole = all(wanted.get(fl["id"], 0) == fl["remaining_quantity"] for fl in fo["line_items"])
    untouched = all(fl["remaining_quantity"] == fl["total_quantity"] for fl in fo["line_items"])
    closed = []
    if whole and untouched and not replace:
        # Shopify's first scenario: the fulfillment order itself is reassigned.
        fo["location_id"] = destination
        moved = fo
        touch(s, fo)
    else:
        # A subset (or the rest of a partly fulfilled one): the moved units go to a new
        # fulfillment order at the destination; the original keeps what is left.
        for fl in fo["line_items"]:
            q = wanted.get(fl["id"], 0)
            fl["total_quantity"] -= q
            fl["remaining_quantity"] -= q
        if all(fl["remaining_quantity"] == 0 for fl in fo["line_items"]):
            fo["status"] = "CLOSED"
        stamp = now_iso()
        moved = {"id": s.new_kind_id("FulfillmentOrder"), "order_id": fo["order_id"],
                 "location_id": destination, "status": "OPEN", "created_at": stamp,
                 "updated_at": stamp, "line_items": []}
        quantities: dict[int, list] = {}
        for n, q in wanted.items():
            quantities.setdefault(lines[n]["line_item_id"], [lines[n]["inventory_item_id"], 0])[1] += q
        # Shopify: if the destination already has an active fulfillment order of this order, that
        # one is closed and its lines are recreated in the new one.
        for other in s.fulfillment_orders.values():
            if (other["order_id"] == fo["order_id"] and other["location_id"] == destination
                    and other["status"] not in CLOSED_STATUSES and other is not fo):
                for fl in other["line_items"]:
                    if fl["remaining_quantity"]:
                        entry = quantities.setdefault(fl["line_item_id"], [fl["inventory_item_id"], 0])
                        entry[1] += fl["remaining_quantity"]
                        fl["total_quantity"] -= fl["remaining_quantity"]
                        fl["remaining_quantity"] = 0
                other["status"] = "CLOSED"
                closed.append(other)
        for line_id, (item, q) in quantities.items():
            moved["line_items"].append({"id": s.new_kind_id("FulfillmentOrderLineItem"),
                                        "line_item_id": line_id, "inventory_item_id": item,
                                        "total_quantity": q, "remaining_quantity": q})
        s.fulfillment_orders[moved["id"]] = moved
        touch(s, fo, *closed)
    changed = []
    for n, q in wanted.items():
        item = lines[n]["inventory_item_id"]
        if stocked(s, item):
            s.change_level(item, origin, committed=-q, available=q)
            s.change_level(item, destination, committed=q, available=-q)
            changed += [(item, origin), (item, destination)]
    order = s.orders[fo["order_id"]]
    touch(s, order)
    given = body.get("lines") is not None
    event.emit("fulfillment_orders/moved", {
        "original_fulfillment_order": fulfillment_order_ref(s, fo["id"], with_location=True),
        "moved_fulfillment_order": fulfillment_order_ref(s, moved["id"], with_location=True),
        "destination_location_id": gid("Location", destination),
        "fulfillment_order_line_items_requested": [
            {"id": gid("FulfillmentOrderLineItem", n), "quantity": q} for n, q in wanted.items()
        ] if given else [],
        "source_location": {"id": gid("Location", origin)},
    })
    event.levels(changed)
    event.emit("orders/updated", order_body(s, order["id"]))
    return {"original_fulfillment_order": s.fulfillment_order_json(fo["id"]),
            "moved_fulfillment_order": s.fulfillment_order_json(moved["id"]),
            "closed_fulfillment_orders": [s.fulfillment_order_json(c["id"]) for c in closed]}


# --- fulfill -------------------------------------------------------------------------------------

def fulfill(s: Store, body: dict, event: Event) -> dict:
    fo = fulfillment_order_of(s, body)
    if fo["status"] not in ("OPEN", "IN_PROGRESS"):
        raise OperatorError(f"fulfillment order {fo['id']} is {fo['status']}: only OPEN or "
                            "IN_PROGRESS ones can be fulfilled")
    wanted = requested_lines(fo, body.get("lines"), "fulfill")
    order = s.orders[fo["order_id"]]
    per_line: dict[int, int] = {}
    for fl in fo["line_items"]:
        q = wanted.get(fl["id"], 0)
        if not q:
            continue
        fl["remaining_quantity"] -= q
        line = order_line(s, order["id"], fl["line_item_id"])
        line["fulfillable_quantity"] -= q
        line["fulfilled_quantity"] += q
        per_line[line["id"]] = per_line.get(line["id"], 0) + q
        if stocked(s, fl["inventory_item_id"]):
            s.change_level(fl["inventory_item_id"], fo["location_id"], committed=-q)
    fo["status"] = "CLOSED" if all(fl["remaining_quantity"] == 0 for fl in fo["line_items"]) else "IN_PROGRESS"
    stamp = now_iso()
    count = sum(1 for f in s.fulfillments.values() if f["order_id"] == order["id"])
    n = s.new_kind_id("Fulfillment")
    s.fulfillments[n] = {"id": n, "order_id": order["id"], "location_id": fo["location_id"],
                         "fulfillment_order_id": fo["id"], "name": f"{order['name']}.{count + 1}",
                         "status": "success", "created_at": stamp, "updated_at": stamp,
                         "line_items": list(per_line.items())}
    touch(s, fo, order)
    event.emit("fulfillments/create", fulfillment_body(s, n))
    done = all(li["fulfillable_quantity"] == 0 for li in order["line_items"])
    event.emit("orders/fulfilled" if done else "orders/partially_fulfilled", order_body(s, order["id"]))
    event.emit("orders/updated", order_body(s, order["id"]))
    return {"fulfillment": {"id": n, "gid": gid("Fulfillment", n), "order_id": order["id"],
                            "location_id": fo["location_id"], "status": "success",
                            "line_items": [{"line_item_id": li, "quantity": q}
                                           for li, q in per_line.items()]},
            "fulfillment_order": s.fulfillment_order_json(fo["id"]),
            "order": s.order_json(order["id"])}


# --- cancel --------------------------------------------------------------------------------------

def cancel(s: Store, body: dict, event: Event) -> dict:
    ref = body.get("order")
    n = parse_id(ref, "Order")
    if n is None or n not in s.orders:
        raise OperatorError(f"no order {ref!r}", 404)
    order = s.orders[n]
    if order["cancelled_at"]:
        raise OperatorError(f"order {n} was cancelled at {order['cancelled_at']}")
    if all(li["fulfillable_quantity"] == 0 for li in order["line_items"]):
        raise OperatorError(f"order {n} is fulfilled: Shopify cancels only orders with "
                            "unfulfilled items (refund or return the rest)")
    restock = flag(body, "restock", True)
    reason = body.get("reason", "customer")
    if reason not in CANCEL_REASONS:
        raise OperatorError(f"`reason` must be one of {', '.join(CANCEL_REASONS)}")
    refund_lines: dict[tuple[int, int | None], dict] = {}
    changed, cancelled = [], []
    fos = [fo for f, fo in sorted(s.fulfillment_orders.items()) if fo["order_id"] == n
           and fo["status"] not in CLOSED_STATUSES]
    for fo in fos:
        for fl in fo["line_items"]:
            q = fl["remaining_quantity"]
            if not q:
                continue
            item = fl["inventory_item_id"]
            restocked = restock and stocked(s, item)
            if stocked(s, item):
                if restocked:
                    s.change_level(item, fo["location_id"], committed=-q, available=q)
                    changed.append((item, fo["location_id"]))
                else:
                    s.change_level(item, fo["location_id"], committed=-q)
            fl["remaining_quantity"] = 0
            location = fo["location_id"] if restocked else None
            key = (fl["line_item_id"], location)
            rl = refund_lines.setdefault(key, {
                "id": s.new_kind_id("RefundLineItem"), "line_item_id": fl["line_item_id"],
                "location_id": location, "quantity": 0,
                "restock_type": "cancel" if restocked else "no_restock"})
            rl["quantity"] += q
        # One with fulfilments made from it is closed; one with none is cancelled.
        progressed = any(f["fulfillment_order_id"] == fo["id"] for f in s.fulfillments.values())
        fo["status"] = "CLOSED" if progressed else "CANCELLED"
        if fo["status"] == "CANCELLED":
            cancelled.append(fo)
        touch(s, fo)
    for li in order["line_items"]:
        li["current_quantity"] -= li["fulfillable_quantity"]
        li["fulfillable_quantity"] = 0
    stamp = now_iso()
    order["cancelled_at"] = stamp
    order["cancel_reason"] = reason
    # Money taken is refunded; an authorization or a payment still to come is voided.
    order["financial_status"] = CANCELLED_PAYMENT.get(order["financial_status"], order["financial_status"])
    touch(s, order)
    refund_id = s.new_kind_id("Refund")
    s.refunds[refund_id] = {"id": refund_id, "order_id": n, "created_at": stamp,
                            "note": f"Order cancelled ({reason})", "restock": restock,
                            "line_items": list(refund_lines.values())}
    event.emit("orders/cancelled", order_body(s, n))
    event.emit("refunds/create", refund_body(s, refund_id))
    for fo in cancelled:
        event.emit("fulfillment_orders/cancelled", {"fulfillment_order": fulfillment_order_ref(s, fo["id"])})
    event.levels(changed)
    event.emit("orders/updated", order_body(s, n))
    return {"order": s.order_json(n),
            "fulfillment_orders": [s.fulfillment_order_json(fo["id"]) for fo in fos],
            "refund": {"id": refund_id, "gid": gid("Refund", refund_id), "order_id": n,
                       "refund_line_items": list(refund_lines.values())}}
