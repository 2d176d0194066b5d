"""The REST-shaped webhook bodies Shopify sends for orders, fulfillments, refunds and fulfillment
orders (``orders/*``, ``fulfillments/create``, ``refunds/create``, ``fulfillment_orders/*``),
built from the store's state. Integer ids as JSON integers; the ``fulfillment_orders/*`` topics
carry gids, as Shopify's do. Orders carry made-up customer details (email, names, addresses) so a
receiver's privacy filtering has something to remove.
"""

from __future__ import annotations

from formats import gid
from store import Store, line_fulfillment_status, order_fulfillment_status

CURRENCY = "USD"


def money(amount: str) -> dict:
    return {"shop_money": {"amount": amount, "currency_code": CURRENCY},
            "presentment_money": {"amount": amount, "currency_code": CURRENCY}}


def address(number: int) -> dict:
    return {"first_name": "Jordan", "last_name": f"Example{number}", "name": f"Jordan Example{number}",
            "address1": f"{number} Sample Street", "address2": None, "city": "Springfield",
            "province": "Oregon", "province_code": "OR", "country": "United States",
            "country_code": "US", "zip": "97403", "phone": "+15555550100", "company": None,
            "latitude": None, "longitude": None}


def line_item(line: dict, quantity: int | None = None) -> dict:
    """An order's line item as REST has it; `quantity` overrides for a fulfillment's lines."""
    return {
        "id": line["id"],
        "admin_graphql_api_id": gid("LineItem", line["id"]),
        "variant_id": line["variant_id"],
        "product_id": line["product_id"],
        "sku": line["sku"],
        "title": line["title"],
        "name": line["title"],
        "variant_title": None,
        "vendor": None,
        "quantity": line["quantity"] if quantity is None else quantity,
        "current_quantity": line["current_quantity"],
        "fulfillable_quantity": line["fulfillable_quantity"],
        "fulfillment_status": line_fulfillment_status(line),
        "fulfillment_service": "manual",
        "requires_shipping": not line.get("gift_card", False),
        "taxable": True,
        "gift_card": line.get("gift_card", False),
        "product_exists": line["product_id"] is not None,
        "grams": 0,
        "price": line["price"],
        "price_set": money(line["price"]),
        "total_discount": "0.00",
        "total_discount_set": money("0.00"),
        "properties": [],
        "discount_allocations": [],
        "duties": [],
        "tax_lines": [],
    }


def order(s: Store, n: int) -> dict:
    o = s.orders[n]
    number = o["number"]
    email = f"customer{number}@example.com"
    customer_id = 8_100_000_000_000 + number
    total = sum(float(li["price"]) * li["current_quantity"] for li in o["line_items"])
    return {
        "id": n,
        "admin_graphql_api_id": gid("Order", n),
        "name": o["name"],
        "number": number - 1000,
        "order_number": number,
        "email": email,
        "contact_email": email,
        "phone": "+15555550100",
        "browser_ip": "198.51.100.7",
        "created_at": o["created_at"],
        "updated_at": o["updated_at"],
        "processed_at": o["created_at"],
        "cancelled_at": o["cancelled_at"],
        "cancel_reason": o["cancel_reason"],
        "closed_at": None,
        "confirmed": True,
        "test": o.get("test", False),
        "currency": CURRENCY,
        "financial_status": o["financial_status"],
        "fulfillment_status": order_fulfillment_status(o),
        "location_id": o["location_id"],
        "source_name": o["source_name"],
        "tags": "",
        "note": None,
        "total_price": f"{total:.2f}",
        "current_total_price": f"{total:.2f}",
        "customer": {
            "id": customer_id,
            "admin_graphql_api_id": gid("Customer", customer_id),
            "email": email,
            "first_name": "Jordan",
            "last_name": f"Example{number}",
            "phone": "+15555550100",
            "default_address": address(number),
        },
        "billing_address": address(number),
        "shipping_address": address(number),
        "line_items": [line_item(li) for li in o["line_items"]],
        "shipping_lines": [],
        "fulfillments": [fulfillment(s, f) for f in sorted(s.fulfillments)
                         if s.fulfillments[f]["order_id"] == n],
        "refunds": [],
    }


def fulfillment(s: Store, n: int) -> dict:
    f = s.fulfillments[n]
    o = s.orders[f["order_id"]]
    lines = {li["id"]: li for li in o["line_items"]}
    return {
        "id": n,
        "admin_graphql_api_id": gid("Fulfillment", n),
        "order_id": f["order_id"],
        "location_id": f["location_id"],
        "name": f["name"],
        "status": f["status"],
        "service": "manual",
        "shipment_status": None,
        "tracking_company": None,
        "tracking_number": None,
        "tracking_numbers": [],
        "tracking_url": None,
        "tracking_urls": [],
        "origin_address": None,
        "receipt": {},
        "email": f"customer{o['number']}@example.com",
        "destination": address(o["number"]),
        "created_at": f["created_at"],
        "updated_at": f["updated_at"],
        "line_items": [line_item(lines[line], quantity) for line, quantity in f["line_items"]],
    }


def refund(s: Store, n: int) -> dict:
    r = s.refunds[n]
    lines = {li["id"]: li for li in s.orders[r["order_id"]]["line_items"]}
    return {
        "id": n,
        "admin_graphql_api_id": gid("Refund", n),
        "order_id": r["order_id"],
        "created_at": r["created_at"],
        "processed_at": r["created_at"],
        "note": r["note"],
        "restock": r["restock"],
        "user_id": None,
        "duties": [],
        "order_adjustments": [],
        "refund_shipping_lines": [],
        "return": None,
        "transactions": [],
        "refund_line_items": [{
            "id": rl["id"],
            "line_item_id": rl["line_item_id"],
            "location_id": rl["location_id"],
            "quantity": rl["quantity"],
            "restock_type": rl["restock_type"],
            "subtotal": float(lines[rl["line_item_id"]]["price"]) * rl["quantity"],
            "subtotal_set": money(f"{float(lines[rl['line_item_id']]['price']) * rl['quantity']:.2f}"),
            "total_tax": 0.0,
            "total_tax_set": money("0.00"),
            "line_item": line_item(lines[rl["line_item_id"]]),
        } for rl in r["line_items"]],
    }


def fulfillment_order_ref(s: Store, n: int, with_location: bool = False) -> dict:
    """`{id, status}` (gid, lowercase status) as the fulfillment_orders/* topics carry it."""
    fo = s.fulfillment_orders[n]
    ref = {"id": gid("FulfillmentOrder", n), "status": fo["status"].lower()}
    if with_location:
        ref["assigned_location_id"] = gid("Location", fo["location_id"])
    return ref
