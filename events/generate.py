#!/usr/bin/env python3
"""Generates the Stockbridge sample events under events/ (python3 stdlib only, deterministic).

Run from the repository root:

    python3 events/generate.py

It rewrites every file it owns:

* events/webhook/NN-<topic>-<what>.json   API Gateway HTTP API (payload v2) events, one per story step
* events/webhook/EXPECTED.json            the stock the consumer must hold after all story steps
* events/webhook/bad/*.json               deliveries the webhook must reject or quarantine
* events/sqs/stock-consumer-batch.json    an SQS event for the stock consumer (2 events + 1 poison)
* events/schedule/reconcile.json          an EventBridge "Scheduled Event"
* events/README.md                        what all of this is

Webhooks are signed with the local test secret `stockbridge-local-secret`;
STOCKBRIDGE_WEBHOOK_SECRET overrides it (the output then differs only in x-shopify-hmac-sha256).
Payload shapes follow Shopify's documented examples in shared/tests/fixtures/shopify/.
"""

import base64
import csv
import datetime as dt
import glob
import hashlib
import hmac
import json
import os
import uuid

# ----------------------------------------------------------------------------- constants

SHOP = "stockbridge-demo.myshopify.com"
SHOP_ID = 548380009
API_VERSION = "2026-04"
DEFAULT_SECRET = "stockbridge-local-secret"
SECRET = os.environ.get("STOCKBRIDGE_WEBHOOK_SECRET") or DEFAULT_SECRET
WRONG_SECRET = "not-the-stockbridge-secret"
UNKNOWN_SHOP = "not-served-shop.myshopify.com"

ACCOUNT_ID = "000000000000"
REGION = "us-east-1"
API_ID = "sbdemo0001"
DOMAIN_NAME = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
ROUTE_KEY = "POST /webhooks/shopify"
PATH = "/webhooks/shopify"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:stockbridge-local-EventsQueue"
SCHEDULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/stockbridge-local-ReconcileSchedule"

# Fixed namespace so every uuid below is the same on every run.
NAMESPACE = uuid.UUID("5b0c6f9e-2f0a-4c59-9c55-7e1d3a1b5d00")

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(ROOT)
CATALOGUE = os.path.join(REPO, "infra", "local", "catalogue")

EST = dt.timezone(dt.timedelta(hours=-5))
STORY_START = dt.datetime(2026, 11, 27, 9, 0, 0, tzinfo=EST)  # 14:00:00Z

TWO_POW_53 = 2**53

# Big ids (all > 2^53, all distinct). Order ids follow Shopify's sample 820982911946154508.
ORDER_A = 820982911946154509
ORDER_B = 820982911946154510
LINE_A_TEE = 866550311766439021
LINE_A_MUG = 866550311766439022
LINE_B_TEE = 866550311766439023
REFUND_A = 890088186047892320
REFUND_LINE_A = 141249953214522975
REFUND_TXN_A = 245135271310201195
PARENT_TXN_A = 245135271310201101
CUSTOMER_A = 115310627314723955
CUSTOMER_A_ADDR = 715243470612851201
CUSTOMER_B = 115310627314723956
CUSTOMER_B_ADDR = 715243470612851202
SHIPPING_LINE_A = 271878346596884016
SHIPPING_LINE_B = 271878346596884017
FULFILLMENT_A = 5120000000001  # fulfillment ids are small in Shopify's samples
UNMAPPED_ITEM = 45000000000000099

# Not in the catalogue CSVs: product data for realistic order lines.
PRODUCT_INFO = {
    "SB-TEE-BLK-M": {"product_id": 788032119674292923, "title": "Stockbridge Tee", "variant_title": "Black / M", "price": "25.00", "grams": 180},
    "SB-TEE-WHT-L": {"product_id": 788032119674292923, "title": "Stockbridge Tee", "variant_title": "White / L", "price": "25.00", "grams": 190},
    "SB-MUG-12PK": {"product_id": 788032119674292924, "title": "Stockbridge Mug (pack of 12)", "variant_title": None, "price": "48.00", "grams": 4200},
    "SB-CAP-RED": {"product_id": 788032119674292925, "title": "Stockbridge Cap", "variant_title": "Red", "price": "18.00", "grams": 90},
}

# ----------------------------------------------------------------------------- helpers


def read_csv(name):
    with open(os.path.join(CATALOGUE, name), newline="", encoding="utf-8") as f:
        rows = [line for line in f if line.strip() and not line.lstrip().startswith("#")]
    return list(csv.DictReader(rows))


def sign(body, secret):
    digest = hmac.new(secret.encode("utf-8"), body.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(obj, indent=2, ensure_ascii=False))
        f.write("\n")


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def uid(*parts):
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def short_hash(n, *parts):
    return base64.b64encode(hashlib.sha256("/".join(map(str, parts)).encode()).digest()).decode()[:n]


def shopify_time(t):
    """Shopify payload time: local offset, whole seconds, e.g. 2026-11-27T09:00:00-05:00."""
    return t.astimezone(EST).isoformat(timespec="seconds")


def ns_of(t):
    """Nanoseconds since the epoch of an aware datetime with whole microseconds."""
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def rfc3339_ns(ns):
    secs, frac = divmod(ns, 1_000_000_000)
    t = dt.datetime.fromtimestamp(secs, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def money(amount):
    return {
        "shop_money": {"amount": amount, "currency_code": "USD"},
        "presentment_money": {"amount": amount, "currency_code": "USD"},
    }


def cents(amount):
    return int(round(float(amount) * 100))


def amount(c):
    return f"{c // 100}.{c % 100:02d}"


# ----------------------------------------------------------------------------- catalogue

ITEMS = read_csv("items.csv")
LOCATIONS = read_csv("locations.csv")
ITEM = {int(r["inventory_item_id"]): r for r in ITEMS if r["shop"] == SHOP}
BY_SKU = {r["sku"]: int(r["inventory_item_id"]) for r in ITEMS if r["shop"] == SHOP}
BY_VARIANT = {int(r["variant_id"]): int(r["inventory_item_id"]) for r in ITEMS if r["shop"] == SHOP}
DEFAULT_LOCATION = next(int(r["location_id"]) for r in LOCATIONS
                        if r["shop"] == SHOP and r["default"].strip().lower() == "true")
WH = 72000000001
FLOOR = 72000000002
assert DEFAULT_LOCATION == WH, "the story assumes 72000000001 is the default location"
assert {int(r["location_id"]) for r in LOCATIONS} >= {WH, FLOOR}
I1, I2, I3, I4 = 45000000000000001, 45000000000000002, 45000000000000003, 45000000000000004
assert set(ITEM) == {I1, I2, I3, I4}, "the story assumes the four catalogue items"
assert UNMAPPED_ITEM not in ITEM


def sku(item):
    return ITEM[item]["sku"]


def variant(item):
    return int(ITEM[item]["variant_id"])


# ----------------------------------------------------------------------------- payload builders


def inventory_item(item, at):
    return {
        "id": item,
        "sku": sku(item),
        "created_at": shopify_time(at),
        "updated_at": shopify_time(at),
        "requires_shipping": True,
        "cost": "9.50",
        "country_code_of_origin": None,
        "province_code_of_origin": None,
        "harmonized_system_code": None,
        "tracked": True,
        "country_harmonized_system_codes": [],
        "weight_value": 0.4,
        "weight_unit": "lb",
        "admin_graphql_api_id": f"gid://shopify/InventoryItem/{item}",
    }


def inventory_level(item, location, available, at):
    return {
        "inventory_item_id": item,
        "location_id": location,
        "available": available,
        "updated_at": shopify_time(at),
        "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{location}?inventory_item_id={item}",
    }


def order_line(line_id, item, quantity, fulfillable, current=None, fulfillment_status=None, with_variant=True):
    """An order line in Shopify's 2026-01 orders/* shape."""
    s = sku(item)
    info = PRODUCT_INFO[s]
    title = info["title"]
    return {
        "id": line_id,
        "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
        "attributed_staffs": [],
        "current_quantity": quantity if current is None else current,
        "fulfillable_quantity": fulfillable,
        "fulfillment_service": "manual",
        "fulfillment_status": fulfillment_status,
        "gift_card": False,
        "grams": info["grams"],
        "name": f"{title} - {info['variant_title']}" if info["variant_title"] else title,
        "price": info["price"],
        "price_set": money(info["price"]),
        "product_exists": True,
        "product_id": info["product_id"],
        "properties": [],
        "quantity": quantity,
        "requires_shipping": True,
        "sales_line_item_group_id": None,
        "sku": s,
        "taxable": True,
        "title": title,
        "total_discount": "0.00",
        "total_discount_set": money("0.00"),
        "variant_id": variant(item) if with_variant else None,
        "variant_inventory_management": "shopify" if with_variant else None,
        "variant_title": info["variant_title"],
        "vendor": "Stockbridge",
        "tax_lines": [],
        "duties": [],
        "discount_allocations": [],
    }


def embedded_line(line):
    """An order line as embedded in fulfillments and refunds (2026-01 / 2025-01 key order)."""
    keys = ["id", "variant_id", "title", "quantity", "sku", "variant_title", "vendor",
            "fulfillment_service", "product_id", "requires_shipping", "taxable", "gift_card", "name",
            "variant_inventory_management", "properties", "product_exists", "fulfillable_quantity",
            "grams", "price", "total_discount", "fulfillment_status", "price_set",
            "total_discount_set", "discount_allocations", "duties", "admin_graphql_api_id", "tax_lines"]
    return {k: line[k] for k in keys}


CUSTOMERS = {
    "A": {
        "customer": {"id": CUSTOMER_A, "first_name": "John", "last_name": "Smith",
                     "email": "john@example.com", "phone": "+16135550123", "note": "VIP: call before delivery"},
        "address": {"id": CUSTOMER_A_ADDR, "address1": "123 Elm St.", "address2": "Apt 4",
                    "city": "Ottawa", "province": "Ontario", "country": "Canada", "zip": "K2H7A8",
                    "phone": "123-123-1234", "province_code": "ON", "country_code": "CA",
                    "country_name": "Canada", "company": None},
        "ship_to": {"first_name": "Steve", "last_name": "Shipper", "address1": "123 Shipping Street",
                    "address2": None, "city": "Shippington", "zip": "40003", "province": "Kentucky",
                    "country": "United States", "phone": "555-555-SHIP", "company": "Shipping Company",
                    "country_code": "US", "province_code": "KY"},
        "browser_ip": "203.0.113.42",
    },
    "B": {
        "customer": {"id": CUSTOMER_B, "first_name": "Jane", "last_name": "Doe",
                     "email": "jane.doe@example.com", "phone": "+15415550199", "note": None},
        "address": {"id": CUSTOMER_B_ADDR, "address1": "456 Oak Avenue", "address2": None,
                    "city": "Springfield", "province": "Oregon", "country": "United States", "zip": "97477",
                    "phone": "541-555-0199", "province_code": "OR", "country_code": "US",
                    "country_name": "United States", "company": None},
        "ship_to": {"first_name": "Jane", "last_name": "Doe", "address1": "456 Oak Avenue",
                    "address2": None, "city": "Springfield", "zip": "97477", "province": "Oregon",
                    "country": "United States", "phone": "541-555-0199", "company": None,
                    "country_code": "US", "province_code": "OR"},
        "browser_ip": "198.51.100.7",
    },
}


def postal(a):
    return {
        "first_name": a["first_name"], "address1": a["address1"], "phone": a["phone"], "city": a["city"],
        "zip": a["zip"], "province": a["province"], "country": a["country"], "last_name": a["last_name"],
        "address2": a["address2"], "company": a["company"], "latitude": None, "longitude": None,
        "name": f"{a['first_name']} {a['last_name']}", "country_code": a["country_code"],
        "province_code": a["province_code"],
    }


def customer_block(who):
    c = CUSTOMERS[who]["customer"]
    a = CUSTOMERS[who]["address"]
    return {
        "id": c["id"], "created_at": None, "updated_at": None,
        "first_name": c["first_name"], "last_name": c["last_name"], "state": "enabled", "note": c["note"],
        "verified_email": True, "multipass_identifier": None, "tax_exempt": False,
        "email": c["email"], "phone": c["phone"], "currency": "USD", "tax_exemptions": [],
        "admin_graphql_api_id": f"gid://shopify/Customer/{c['id']}",
        "default_address": {
            "id": a["id"], "customer_id": c["id"], "first_name": c["first_name"], "last_name": c["last_name"],
            "company": a["company"], "address1": a["address1"], "address2": a["address2"], "city": a["city"],
            "province": a["province"], "country": a["country"], "zip": a["zip"], "phone": a["phone"],
            "name": f"{c['first_name']} {c['last_name']}", "province_code": a["province_code"],
            "country_code": a["country_code"], "country_name": a["country_name"], "default": True,
        },
    }


def order(who, order_id, number, created, updated, lines, *, shipping_line_id, financial_status,
          fulfillment_status=None, cancelled_at=None, fulfillments=(), refunds=(), refunded_cents=0):
    """An order in Shopify's 2026-01 orders/* shape (same keys, same order), with full PII."""
    c = CUSTOMERS[who]
    cust = c["customer"]
    shipping = "10.00"
    line_cents = sum(cents(l["price"]) * l["quantity"] for l in lines)
    current_line_cents = 0 if cancelled_at else sum(cents(l["price"]) * l["current_quantity"] for l in lines)
    total = amount(line_cents + cents(shipping))
    current_total = amount(0 if cancelled_at else current_line_cents + cents(shipping))
    paid = financial_status in ("paid", "partially_refunded", "refunded")
    outstanding = "0.00" if paid or cancelled_at else total
    token = short_hash(32, "token", order_id).replace("+", "a").replace("/", "b").lower()
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "app_id": 580111,
        "browser_ip": c["browser_ip"],
        "buyer_accepts_marketing": who == "A",
        "cancel_reason": "customer" if cancelled_at else None,
        "cancelled_at": shopify_time(cancelled_at) if cancelled_at else None,
        "cart_token": short_hash(24, "cart", order_id).replace("+", "c").replace("/", "d"),
        "checkout_id": 36112410640000 + number,
        "checkout_token": short_hash(32, "checkout", order_id).replace("+", "e").replace("/", "f").lower(),
        "client_details": {
            "accept_language": "en-US,en;q=0.9",
            "browser_height": 1080,
            "browser_ip": c["browser_ip"],
            "browser_width": 1920,
            "session_hash": None,
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
        },
        "closed_at": shopify_time(cancelled_at) if cancelled_at else None,
        "confirmation_number": short_hash(9, "confirmation", order_id).upper().replace("+", "K").replace("/", "Q"),
        "confirmed": True,
        "contact_email": cust["email"],
        "created_at": shopify_time(created),
        "currency": "USD",
        "current_shipping_price_set": money("0.00" if cancelled_at else shipping),
        "current_subtotal_price": amount(current_line_cents),
        "current_subtotal_price_set": money(amount(current_line_cents)),
        "current_total_additional_fees_set": None,
        "current_total_discounts": "0.00",
        "current_total_discounts_set": money("0.00"),
        "current_total_duties_set": None,
        "current_total_price": current_total,
        "current_total_price_set": money(current_total),
        "current_total_tax": "0.00",
        "current_total_tax_set": money("0.00"),
        "customer_locale": "en",
        "device_id": None,
        "discount_codes": [],
        "duties_included": False,
        "email": cust["email"],
        "estimated_taxes": False,
        "financial_status": financial_status,
        "fulfillment_status": fulfillment_status,
        "landing_site": "/products/stockbridge-tee?utm_source=newsletter&email=" + cust["email"].replace("@", "%40"),
        "landing_site_ref": None,
        "location_id": None,
        "merchant_business_entity_id": "MTU0ODM4MDAwOQ",
        "merchant_of_record_app_id": None,
        "name": f"#{1000 + number}",
        "note": "Please gift wrap. Leave with the neighbour at 125 Elm St." if who == "A" else None,
        "note_attributes": [{"name": "gift_message", "value": f"Happy birthday, {cust['first_name']}!"}] if who == "A" else [],
        "number": number,
        "order_number": 1000 + number,
        "order_status_url": f"https://{SHOP}/{SHOP_ID}/orders/{token}/authenticate?key={short_hash(16, 'key', order_id).replace('+', 'x').replace('/', 'y')}",
        "original_total_additional_fees_set": None,
        "original_total_duties_set": None,
        "payment_gateway_names": ["bogus"],
        "phone": cust["phone"],
        "po_number": None,
        "presentment_currency": "USD",
        "processed_at": shopify_time(created),
        "reference": None,
        "referring_site": "https://mail.example.com/",
        "source_identifier": None,
        "source_name": "web",
        "source_url": None,
        "subtotal_price": amount(line_cents),
        "subtotal_price_set": money(amount(line_cents)),
        "tags": "",
        "tax_exempt": False,
        "tax_lines": [],
        "taxes_included": False,
        "test": False,
        "token": token,
        "total_cash_rounding_payment_adjustment_set": money("0.00"),
        "total_cash_rounding_refund_adjustment_set": money("0.00"),
        "total_discounts": "0.00",
        "total_discounts_set": money("0.00"),
        "total_line_items_price": amount(line_cents),
        "total_line_items_price_set": money(amount(line_cents)),
        "total_outstanding": outstanding,
        "total_price": total,
        "total_price_set": money(total),
        "total_shipping_price_set": money(shipping),
        "total_tax": "0.00",
        "total_tax_set": money("0.00"),
        "total_tip_received": "0.00",
        "total_weight": sum(l["grams"] * l["quantity"] for l in lines),
        "updated_at": shopify_time(updated),
        "user_id": None,
        "billing_address": postal(dict(c["ship_to"], first_name=cust["first_name"], last_name=cust["last_name"],
                                       address1=c["address"]["address1"], address2=c["address"]["address2"],
                                       city=c["address"]["city"], zip=c["address"]["zip"],
                                       province=c["address"]["province"], country=c["address"]["country"],
                                       phone=c["address"]["phone"], company=None,
                                       country_code=c["address"]["country_code"],
                                       province_code=c["address"]["province_code"])),
        "customer": customer_block(who),
        "discount_applications": [],
        "fulfillments": list(fulfillments),
        "line_items": lines,
        "payment_terms": None,
        "refunds": list(refunds),
        "shipping_address": postal(c["ship_to"]),
        "shipping_lines": [{
            "id": shipping_line_id,
            "carrier_identifier": None,
            "code": "Standard",
            "current_discounted_price_set": money("0.00" if cancelled_at else shipping),
            "discounted_price": shipping,
            "discounted_price_set": money(shipping),
            "is_removed": False,
            "phone": None,
            "price": shipping,
            "price_set": money(shipping),
            "requested_fulfillment_service_id": None,
            "source": "shopify",
            "title": "Standard",
            "tax_lines": [],
            "discount_allocations": [],
        }],
        "returns": [],
    }


def fulfillment(fulfillment_id, order_id, who, at, location, lines, status="success"):
    """fulfillments/create in Shopify's 2026-01 shape, with a real location and status."""
    c = CUSTOMERS[who]
    tracking = "1Z999AA10123456784"
    return {
        "id": fulfillment_id,
        "order_id": order_id,
        "status": status,
        "created_at": shopify_time(at),
        "service": "manual",
        "updated_at": shopify_time(at),
        "tracking_company": "UPS",
        "shipment_status": None,
        "location_id": location,
        "origin_address": None,
        "email": c["customer"]["email"],
        "destination": postal(c["ship_to"]),
        "line_items": lines,
        "tracking_number": tracking,
        "tracking_numbers": [tracking],
        "tracking_url": f"https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums={tracking}",
        "tracking_urls": [f"https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums={tracking}"],
        "receipt": {},
        "name": "#1001.1",
        "admin_graphql_api_id": f"gid://shopify/Fulfillment/{fulfillment_id}",
    }


def refund(refund_id, order_id, at, refund_line_items, transactions):
    """refunds/create in Shopify's 2025-01 shape (same keys, same order)."""
    return {
        "id": refund_id,
        "order_id": order_id,
        "created_at": shopify_time(at),
        "note": "Customer changed their mind about the third tee (John Smith, phone +16135550123)",
        "user_id": 548380010,
        "processed_at": shopify_time(at),
        "duties": [],
        "total_duties_set": money("0.00"),
        "return": None,
        "restock": True,
        "refund_shipping_lines": [],
        "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
        "order_adjustments": [],
        "refund_line_items": refund_line_items,
        "transactions": transactions,
    }


def privacy(topic_payload_kind, customer_who):
    cust = CUSTOMERS[customer_who]["customer"]
    body = {
        "shop_id": SHOP_ID,
        "shop_domain": SHOP,
        "customer": {"id": cust["id"], "email": cust["email"], "phone": cust["phone"]},
    }
    if topic_payload_kind == "redact":
        body["orders_to_redact"] = [ORDER_A]
    else:
        body["orders_requested"] = [ORDER_A]
        body["data_request"] = {"id": 9999}
    return body


def product_update(at):
    """products/update (a topic Stockbridge does not handle), shaped like Shopify's REST Product."""
    item = I4
    v = variant(item)
    info = PRODUCT_INFO[sku(item)]
    pid = info["product_id"]
    return {
        "admin_graphql_api_id": f"gid://shopify/Product/{pid}",
        "body_html": "<p>A red cap.</p>",
        "created_at": shopify_time(STORY_START - dt.timedelta(days=30)),
        "handle": "stockbridge-cap",
        "id": pid,
        "product_type": "Caps",
        "published_at": shopify_time(STORY_START - dt.timedelta(days=30)),
        "template_suffix": None,
        "title": info["title"],
        "updated_at": shopify_time(at),
        "vendor": "Stockbridge",
        "status": "active",
        "published_scope": "global",
        "tags": "caps, red",
        "variants": [{
            "admin_graphql_api_id": f"gid://shopify/ProductVariant/{v}",
            "barcode": None,
            "compare_at_price": None,
            "created_at": shopify_time(STORY_START - dt.timedelta(days=30)),
            "id": v,
            "inventory_policy": "deny",
            "position": 1,
            "price": info["price"],
            "product_id": pid,
            "sku": sku(item),
            "taxable": True,
            "title": info["variant_title"],
            "updated_at": shopify_time(at),
            "option1": info["variant_title"],
            "option2": None,
            "option3": None,
            "image_id": None,
            "inventory_item_id": item,
            "inventory_quantity": 3,
            "old_inventory_quantity": 25,
        }],
        "options": [{"name": "Color", "id": 1000000001, "product_id": pid, "position": 1, "values": [info["variant_title"]]}],
        "images": [],
        "image": None,
        "media": [],
        "variant_gids": [{"admin_graphql_api_id": f"gid://shopify/ProductVariant/{v}", "updated_at": rfc3339_ns(ns_of(at))[:-11] + ".000Z"}],
        "has_variants_that_requires_components": False,
        "category": None,
    }


# ----------------------------------------------------------------------------- the story


def step_time(n):
    """Payload time of story step n: one minute apart from 09:00:00-05:00."""
    return STORY_START + dt.timedelta(minutes=n - 1)


def triggered_ns(n):
    """X-Shopify-Triggered-At of step n: a fraction of a second after the payload time."""
    return ns_of(step_time(n)) + 150_000_000 + n * 7_654_321 + 3


def build_story():
    """Returns [(n, topic, what, action, payload_dict)] in story order."""
    s = []
    t = step_time

    def add(topic, what, action, payload):
        s.append((len(s) + 1, topic, what, action, payload))

    add("inventory_items/create", "tee-black-m", "item-created", inventory_item(I1, t(1)))
    add("inventory_levels/connect", "tee-black-m-warehouse", "item-stocked", inventory_level(I1, WH, 0, t(2)))
    add("inventory_levels/update", "tee-black-m-warehouse-100", "count-tee-black", inventory_level(I1, WH, 100, t(3)))
    add("inventory_levels/update", "tee-white-l-warehouse-40", "count-tee-white", inventory_level(I2, WH, 40, t(4)))
    add("inventory_levels/update", "mug-12pk-warehouse-10", "count-mug", inventory_level(I3, WH, 10, t(5)))
    add("inventory_levels/update", "cap-red-shop-floor-25", "count-cap", inventory_level(I4, FLOOR, 25, t(6)))

    # Order A: 3 black tees + 1 mug pack.
    a_created = t(7)
    a_lines_open = [order_line(LINE_A_TEE, I1, 3, 3), order_line(LINE_A_MUG, I3, 1, 1)]
    add("orders/create", "order-a", "order-a-placed",
        order("A", ORDER_A, 1, a_created, a_created, a_lines_open, shipping_line_id=SHIPPING_LINE_A,
              financial_status="paid"))
    add("inventory_levels/update", "tee-black-m-warehouse-97", "order-a-placed", inventory_level(I1, WH, 97, t(8)))
    add("inventory_levels/update", "mug-12pk-warehouse-9", "order-a-placed", inventory_level(I3, WH, 9, t(9)))

    # Fulfil 2 of the 3 tees from the warehouse.
    ful_line = embedded_line(order_line(LINE_A_TEE, I1, 3, 1, fulfillment_status="partial"))
    ful_line["quantity"] = 2
    ful = fulfillment(FULFILLMENT_A, ORDER_A, "A", t(10), WH, [ful_line])
    add("fulfillments/create", "order-a-2-tees", "order-a-fulfilled-partly", ful)
    a_lines_partial = [order_line(LINE_A_TEE, I1, 3, 1, fulfillment_status="partial"),
                       order_line(LINE_A_MUG, I3, 1, 1)]
    add("orders/partially_fulfilled", "order-a", "order-a-fulfilled-partly",
        order("A", ORDER_A, 1, a_created, t(11), a_lines_partial, shipping_line_id=SHIPPING_LINE_A,
              financial_status="paid", fulfillment_status="partial", fulfillments=[ful]))

    # Order B: 2 white tees, variant_id null (as in Shopify's 2026-01 sample), then cancelled.
    b_created = t(12)
    b_lines = [order_line(LINE_B_TEE, I2, 2, 2, with_variant=False)]
    add("orders/create", "order-b", "order-b-placed",
        order("B", ORDER_B, 2, b_created, b_created, b_lines, shipping_line_id=SHIPPING_LINE_B,
              financial_status="authorized"))
    add("inventory_levels/update", "tee-white-l-warehouse-38", "order-b-placed", inventory_level(I2, WH, 38, t(13)))
    b_lines_cancelled = [order_line(LINE_B_TEE, I2, 2, 2, current=0, with_variant=False)]
    add("orders/cancelled", "order-b", "order-b-cancelled",
        order("B", ORDER_B, 2, b_created, t(14), b_lines_cancelled, shipping_line_id=SHIPPING_LINE_B,
              financial_status="voided", cancelled_at=t(14)))
    add("inventory_levels/update", "tee-white-l-warehouse-40", "order-b-cancelled", inventory_level(I2, WH, 40, t(15)))

    # Order A: the third (unfulfilled) tee is refunded and restocked ("cancel") at the warehouse.
    refunded_line = embedded_line(order_line(LINE_A_TEE, I1, 3, 0, current=2, fulfillment_status="fulfilled"))
    rli = {
        "id": REFUND_LINE_A,
        "quantity": 1,
        "line_item_id": LINE_A_TEE,
        "location_id": WH,
        "restock_type": "cancel",
        "subtotal": 25,
        "total_tax": 0,
        "subtotal_set": money("25.00"),
        "total_tax_set": money("0.00"),
        "line_item": refunded_line,
    }
    txn = {
        "id": REFUND_TXN_A, "order_id": ORDER_A, "kind": "refund", "gateway": "bogus", "status": "success",
        "message": "Bogus Gateway: Forced success", "created_at": shopify_time(t(16)), "test": False,
        "authorization": "53433", "location_id": None, "user_id": None, "parent_id": PARENT_TXN_A,
        "processed_at": shopify_time(t(16)), "device_id": None, "error_code": None, "source_name": "web",
        "receipt": {"paid_amount": "25.00"}, "amount": "25.00", "currency": "USD", "payment_id": "#1001.2",
        "total_unsettled_set": {"presentment_money": {"amount": "0.0", "currency": "USD"},
                                "shop_money": {"amount": "0.0", "currency": "USD"}},
        "manual_payment_gateway": False, "amount_rounding": None,
        "admin_graphql_api_id": f"gid://shopify/OrderTransaction/{REFUND_TXN_A}",
    }
    ref = refund(REFUND_A, ORDER_A, t(16), [rli], [txn])
    add("refunds/create", "order-a-1-tee-restocked", "order-a-refunded", ref)
    a_lines_refunded = [order_line(LINE_A_TEE, I1, 3, 0, current=2, fulfillment_status="fulfilled"),
                        order_line(LINE_A_MUG, I3, 1, 1)]
    add("orders/updated", "order-a-after-refund", "order-a-refunded",
        order("A", ORDER_A, 1, a_created, t(17), a_lines_refunded, shipping_line_id=SHIPPING_LINE_A,
              financial_status="partially_refunded", fulfillment_status="partial",
              fulfillments=[ful], refunds=[ref]))
    add("inventory_levels/update", "tee-black-m-warehouse-98", "order-a-refunded", inventory_level(I1, WH, 98, t(18)))

    add("inventory_levels/update", "unmapped-item-warehouse-7", "count-unmapped", inventory_level(UNMAPPED_ITEM, WH, 7, t(19)))
    add("customers/redact", "john-smith", "privacy-redact", privacy("redact", "A"))
    add("customers/data_request", "john-smith", "privacy-data-request", privacy("data_request", "A"))
    return s


# ----------------------------------------------------------------------------- API Gateway v2 events


def apigw_event(name, topic, payload_body, *, trig_ns, shop=SHOP, secret=SECRET, hmac_header=True,
                event_action=None):
    """A full API Gateway HTTP API (payload format 2.0) event for one Shopify delivery."""
    body = payload_body if isinstance(payload_body, str) else compact(payload_body)
    webhook_id = uid("webhook", name)
    event_id = uid("event", event_action or name)
    received_ns = trig_ns + 412_000_000
    received_ms = received_ns // 1_000_000
    request_id = short_hash(14, "request", name).replace("+", "A").replace("/", "B") + "="
    trace = f"Root=1-{received_ms // 1000:08x}-{hashlib.sha256(name.encode()).hexdigest()[:24]}"
    headers = {
        "accept": "*/*",
        "accept-encoding": "gzip;q=1.0,deflate;q=0.6,identity;q=0.3",
        "content-length": str(len(body.encode("utf-8"))),
        "content-type": "application/json",
        "host": DOMAIN_NAME,
        "user-agent": "Shopify-Captain-Hook",
        "x-amzn-trace-id": trace,
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        "x-shopify-api-version": API_VERSION,
        "x-shopify-event-id": event_id,
    }
    if hmac_header:
        headers["x-shopify-hmac-sha256"] = sign(body, secret)
    headers.update({
        "x-shopify-shop-domain": shop,
        "x-shopify-topic": topic,
        "x-shopify-triggered-at": rfc3339_ns(trig_ns),
        "x-shopify-webhook-id": webhook_id,
    })
    when = dt.datetime.fromtimestamp(received_ms / 1000, tz=dt.timezone.utc)
    return {
        "version": "2.0",
        "routeKey": ROUTE_KEY,
        "rawPath": PATH,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": DOMAIN_NAME,
            "domainPrefix": API_ID,
            "http": {
                "method": "POST",
                "path": PATH,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "Shopify-Captain-Hook",
            },
            "requestId": request_id,
            "routeKey": ROUTE_KEY,
            "stage": "$default",
            "time": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": received_ms,
        },
        "body": body,
        "isBase64Encoded": False,
    }


# ----------------------------------------------------------------------------- expected stock


def expected_stock(story):
    """Applies the consumer's rule to the story, independent of delivery order.

    available = the inventory_levels value with the latest updated_at, per (item, location);
    committed = what order lines count where Shopify assigned them: these orders name no location
    and the story has no fulfillment_orders webhook, so their lines count nowhere (until a
    fulfillment order read says where); on_hand = available + committed.
    Items not in the SKU map are parked, so absent.
    """
    levels = {}
    orders = {}
    for _, topic, _, _, p in story:
        if topic in ("inventory_levels/update", "inventory_levels/connect"):
            key = (p["inventory_item_id"], p["location_id"])
            if key not in levels or p["updated_at_dt"] > levels[key][0]:
                levels[key] = (p["updated_at_dt"], p["available"])
        elif topic.startswith("orders/"):
            if p["id"] not in orders or p["updated_at_dt"] > orders[p["id"]]["updated_at_dt"]:
                orders[p["id"]] = p
    committed = {}
    for o in orders.values():
        for line in o["line_items"]:
            item = BY_VARIANT.get(line["variant_id"]) if line["variant_id"] is not None else None
            item = item or BY_SKU.get(line["sku"])
            if item is None:
                continue
            q = 0 if o["cancelled_at"] else line["fulfillable_quantity"]
            location = o.get("location_id")
            if location is None:
                continue  # an online order's line: counts where its routing is read, not here
            key = (item, location)
            committed[key] = committed.get(key, 0) + q
    out = {}
    for key in sorted(set(levels) | set(committed)):
        item, loc = key
        if item not in ITEM:
            continue
        avail = levels.get(key, (None, 0))[1] or 0
        com = committed.get(key, 0)
        out[f"{item}@{loc}"] = {"available": avail, "committed": com, "on_hand": avail + com}
    return {SHOP: out}


HAND_CHECKED = {SHOP: {
    f"{I1}@{WH}": {"available": 98, "committed": 0, "on_hand": 98},
    f"{I2}@{WH}": {"available": 40, "committed": 0, "on_hand": 40},
    f"{I3}@{WH}": {"available": 9, "committed": 0, "on_hand": 9},
    f"{I4}@{FLOOR}": {"available": 25, "committed": 0, "on_hand": 25},
}}


# ----------------------------------------------------------------------------- SQS and schedule


def internal_event(name, item, location, available, as_of, trig_ns):
    webhook_id = uid("sqs-webhook", name)
    received = trig_ns + 412_000_000
    return {
        "schema": 1,
        "key": f"{SHOP}:{webhook_id}:0",
        "shop": SHOP,
        "source": {
            "topic": "inventory_levels/update",
            "webhook_id": webhook_id,
            "event_id": uid("sqs-event", name),
            "api_version": API_VERSION,
            "triggered_at": trig_ns,
            "received_at": received,
        },
        "part": {"index": 0, "count": 1},
        "body": {"kind": "stock", "changes": [{
            "type": "available",
            "item": item,
            "location": location,
            "available": available,
            "version": {"as_of": ns_of(as_of), "triggered": trig_ns},
            "connect": False,
        }]},
    }


def sqs_record(name, body, sent_ms):
    return {
        "messageId": uid("sqs-message", name),
        "receiptHandle": "AQEB" + short_hash(40, "receipt", name) + short_hash(40, "receipt2", name),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(sent_ms),
            "SenderId": "AROAEXAMPLEWEBHOOK00:stockbridge-local-WebhookFunction",
            "ApproximateFirstReceiveTimestamp": str(sent_ms + 37),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode("utf-8")).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": REGION,
    }


def sqs_batch():
    # Independent of the webhook story: a later count on 2026-11-28.
    t1 = dt.datetime(2026, 11, 28, 10, 0, 0, tzinfo=EST)
    t2 = dt.datetime(2026, 11, 28, 10, 0, 5, tzinfo=EST)
    e1 = internal_event("tee-black-m-12", I1, WH, 12, t1, ns_of(t1) + 150_000_123)
    e2 = internal_event("cap-red-floor-24", I4, FLOOR, 24, t2, ns_of(t2) + 150_000_456)
    records = [
        sqs_record("tee-black-m-12", compact(e1), e1["source"]["received_at"] // 1_000_000 + 5),
        sqs_record("cap-red-floor-24", compact(e2), e2["source"]["received_at"] // 1_000_000 + 5),
        sqs_record("poison", "not an event", e2["source"]["received_at"] // 1_000_000 + 9),
    ]
    return {"Records": records}, [e1, e2]


def schedule_event():
    return {
        "version": "0",
        "id": uid("schedule", "reconcile"),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": "2026-11-27T15:00:00Z",
        "region": REGION,
        "resources": [SCHEDULE_ARN],
        "detail": {},
    }


# ----------------------------------------------------------------------------- README


def readme(story_files, bad_files, expected, sqs_events):
    rows = "\n".join(f"| `webhook/{f}` | `{topic}` | {desc} |" for f, topic, desc in story_files)
    bad_rows = "\n".join(f"| `webhook/bad/{f}` | {desc} | {result} |" for f, desc, result in bad_files)
    stock_rows = "\n".join(
        f"| {k.split('@')[0]} | {ITEM[int(k.split('@')[0])]['sku']} | {k.split('@')[1]} | "
        f"{v['available']} | {v['committed']} | {v['on_hand']} |"
        for k, v in expected[SHOP].items())
    first = story_files[2][0]
    return f"""# Sample events

Generated by `events/generate.py` (python3, standard library only, deterministic). **Do not edit
the JSON by hand**: change the script and run, from the repository root,

```sh
python3 events/generate.py
```

It rewrites everything in this folder except itself (this README included). Two runs give
byte-identical files. The catalogue it uses is `infra/local/catalogue/items.csv` and
`locations.csv`; payload shapes follow Shopify's documented examples in
`shared/tests/fixtures/shopify/` (orders: 2026-01 sample; refunds: 2025-01; fulfillments:
2026-01; inventory items: 2025-04; levels: 2023-10; privacy topics: 2024-04 / 2025-04), with
the ids, quantities, locations and statuses of the story below. The personal data of those
samples (customer, e-mail, phone, addresses, browser IP, notes, order status URL, tracking) is
kept on purpose, with made-up values, so tests can show it is stripped.

## Signing secret

Every authentic webhook is signed with the **local test secret `stockbridge-local-secret`**:
`x-shopify-hmac-sha256 = base64(HMAC-SHA256(secret, body))` over the exact bytes of the event's
`body` string. `STOCKBRIDGE_WEBHOOK_SECRET=... python3 events/generate.py` signs with another
secret (only the `x-shopify-hmac-sha256` headers change; do not commit such a run). The
webhook function must serve the shop with that secret, e.g.

```sh
export STOCKBRIDGE_SHOP_SECRETS='{SHOP}=stockbridge-local-secret'
```

(or `infra/local/provision.py --shop-secret {SHOP}=stockbridge-local-secret` for local SSM).
The script checks its HMAC against Shopify's published test vector before writing anything.

## Using the events

```sh
# SAM (template.yaml logical ids)
sam local invoke WebhookFunction -e events/webhook/{first}
sam local invoke StockConsumerFunction -e events/sqs/stock-consumer-batch.json
# cargo-lambda (binaries `webhook`, `stock-consumer`; run `cargo lambda watch` first)
cargo lambda invoke webhook --data-file events/webhook/{first}
cargo lambda invoke stock-consumer --data-file events/sqs/stock-consumer-batch.json
# all story steps, in order
for f in events/webhook/[0-9][0-9]-*.json; do cargo lambda invoke webhook --data-file "$f"; done
```

Tests can read the files directly: each webhook file is a full API Gateway HTTP API payload
format 2.0 event (`version`, `routeKey`, `rawPath`, lower-case `headers`, `requestContext`,
`body` as a compact JSON string, `isBase64Encoded: false`).

## `webhook/`: the story (shop `{SHOP}`)

Payload times (`updated_at`, `created_at`) are one minute apart from 2026-11-27T09:00:00-05:00
(step NN at 09:NN-1), so they increase per resource. `x-shopify-triggered-at` is a fraction of
a second after the payload time, RFC 3339 with nanoseconds, increasing through the story.
`x-shopify-webhook-id` is unique per file; `x-shopify-event-id` is shared by the deliveries one
merchant action causes (e.g. steps 07-09: order A placed, and the two level changes it makes).
All ids above 2^53 (orders, line items, refunds, customers) are written as exact JSON integers.

| file | topic | what |
|---|---|---|
{rows}

Locations: 72000000001 "Main warehouse" (default), 72000000002 "Shop floor". Orders name no
location (`location_id: null`) and the story has no `fulfillment_orders/*` webhook, so their
lines count at no location: the consumer learns where Shopify routed a line only from the
fulfillment order (see ARCHITECTURE.md, "The stock model"). Order A
lines carry `variant_id`; order B's line has `variant_id: null` and only the SKU, as Shopify's
2026-01 sample does. Order B's cancel payload still shows `fulfillable_quantity: 2` on its
line: a cancelled order commits nothing whatever its lines say.

### `webhook/EXPECTED.json`: the stock after all 21 steps, applied in any order

Rule (what the consumer must converge to): `available` = the `inventory_levels/*` value with
the latest `updated_at` per item and location; `committed` = sum over order lines of
`fulfillable_quantity` in the order's latest `orders/*` payload (0 if that payload is
cancelled), at the location the order names (none here, so nowhere); `on_hand = available +
committed`. The unmapped item
{UNMAPPED_ITEM} (step 19) is parked, so absent. Fulfilment and refund events are movements
only: they do not change these numbers (the level changes they cause arrive as
`inventory_levels/update`). The script computes this from the generated payloads and checks it
against the hand-worked table:

| inventory item | SKU | location | available | committed | on_hand |
|---|---|---|---|---|---|
{stock_rows}

Worked through: SB-TEE-BLK-M 100 -> order A takes 3 (avail 97; the line counts nowhere, so
on_hand 97 is unexplained) -> 2 fulfilled (explained by the shipment) -> the third refunded
with restock (avail 98, on_hand 98).
SB-MUG-12PK 10 -> order A takes 1 (9 / 0 / 9 here: unfulfilled and its routing never read, so
the warehouse's `on_hand` stays unexplained and the ERP is told nothing of it). SB-TEE-WHT-L 40 -> order B
takes 2 (38 / 2) -> cancelled and restocked (40 / 0).

## `webhook/bad/`: deliveries that must not change stock

| file | what | expected answer |
|---|---|---|
{bad_rows}

After the story plus all of these, the stock must still equal `EXPECTED.json`.

## `sqs/stock-consumer-batch.json`

An SQS event for the stock consumer (queue `{QUEUE_ARN}`), three records:

1. an internal event (schema 1): `inventory_levels/update`, item {I1} at {WH}, available {sqs_events[0]['body']['changes'][0]['available']};
2. an internal event: item {I4} at {FLOOR}, available {sqs_events[1]['body']['changes'][0]['available']};
3. a poison message whose body is `not an event` (must be reported in `batchItemFailures`, by
   its `messageId`, without failing the other two).

The batch is independent of the webhook story (times on 2026-11-28). `md5OfBody` is the real
MD5 of each body.

## `schedule/reconcile.json`

An EventBridge "Scheduled Event" (`source: aws.events`, `detail: {{}}`) from the rule
`{SCHEDULE_ARN}`, for a reconciliation function.
"""


# ----------------------------------------------------------------------------- main


def main():
    # Self-check against Shopify's published vector (shopify-api-js validate.test.ts).
    assert sign('{"foo": "bar"}', "test_secret_key") == "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="

    story = build_story()
    assert len(story) == 21

    # Clean what this script owns, so renamed steps leave nothing stale behind.
    for pattern in ("webhook/*.json", "webhook/bad/*.json", "sqs/*.json", "schedule/*.json"):
        for path in glob.glob(os.path.join(ROOT, pattern)):
            os.remove(path)

    story_files = []
    seen_ids = set()
    last_trig = 0
    annotated = []
    for n, topic, what, action, payload in story:
        name = f"{n:02d}-{topic.replace('/', '_')}-{what}.json"
        trig = triggered_ns(n)
        assert trig > last_trig
        last_trig = trig
        ev = apigw_event(name, topic, payload, trig_ns=trig, event_action=action)
        assert ev["headers"]["x-shopify-webhook-id"] not in seen_ids
        seen_ids.add(ev["headers"]["x-shopify-webhook-id"])
        write_json(os.path.join(ROOT, "webhook", name), ev)
        desc = STORY_DESCRIPTIONS[n]
        story_files.append((name, topic, desc))
        p = json.loads(ev["body"])
        if "updated_at" in p:
            p["updated_at_dt"] = dt.datetime.fromisoformat(p["updated_at"])
        annotated.append((n, topic, what, action, p))

    # Big ids must survive the round trip exactly.
    for _, topic, _, _, p in annotated:
        if topic.startswith("orders/"):
            assert p["id"] > TWO_POW_53 and all(l["id"] > TWO_POW_53 for l in p["line_items"])

    expected = expected_stock(annotated)
    assert expected == HAND_CHECKED, f"story does not give the hand-checked stock: {expected}"
    write_json(os.path.join(ROOT, "webhook", "EXPECTED.json"), expected)

    # ---- bad deliveries (times after the story)
    bad_trig = ns_of(step_time(31)) + 150_000_000
    probe = inventory_level(I4, FLOOR, 1, step_time(31))
    bad = [
        ("bad-signature.json", apigw_event("bad/bad-signature", "inventory_levels/update", probe,
                                           trig_ns=bad_trig, secret=WRONG_SECRET),
         f"`inventory_levels/update` (cap at the shop floor -> 1) signed with a wrong secret (`{WRONG_SECRET}`)",
         "401 `bad_signature`; nothing queued or kept"),
        ("unknown-shop.json", apigw_event("bad/unknown-shop", "inventory_levels/update",
                                          inventory_level(I4, FLOOR, 2, step_time(32)),
                                          trig_ns=bad_trig + 60_000_000_000, shop=UNKNOWN_SHOP),
         f"`inventory_levels/update` from `{UNKNOWN_SHOP}`, a shop not served (signed with the local secret)",
         "401 `unknown_shop`"),
        ("missing-hmac.json", apigw_event("bad/missing-hmac", "inventory_levels/update",
                                          inventory_level(I4, FLOOR, 3, step_time(33)),
                                          trig_ns=bad_trig + 120_000_000_000, hmac_header=False),
         "`inventory_levels/update` with no `x-shopify-hmac-sha256` header",
         "400 `missing_header`"),
        ("malformed-json.json", apigw_event("bad/malformed-json", "inventory_levels/update",
                                            '{"inventory_item_id": 4500',
                                            trig_ns=bad_trig + 180_000_000_000),
         "authentic (correctly signed) delivery whose body is truncated JSON `{\"inventory_item_id\": 4500`",
         "200, quarantined as `bad_json`"),
        ("unhandled-topic.json", apigw_event("bad/unhandled-topic", "products/update",
                                             product_update(step_time(35)),
                                             trig_ns=bad_trig + 240_000_000_000),
         "authentic `products/update` (shaped like Shopify's REST Product; not a verbatim Shopify "
         "sample), with a variant whose `inventory_quantity` is 3",
         "200, quarantined as `unhandled_topic`; stock unchanged"),
    ]
    bad_files = []
    for fname, ev, desc, result in bad:
        write_json(os.path.join(ROOT, "webhook", "bad", fname), ev)
        bad_files.append((fname, desc, result))

    # ---- SQS and schedule
    batch, sqs_events = sqs_batch()
    write_json(os.path.join(ROOT, "sqs", "stock-consumer-batch.json"), batch)
    write_json(os.path.join(ROOT, "schedule", "reconcile.json"), schedule_event())

    write_text(os.path.join(ROOT, "README.md"), readme(story_files, bad_files, expected, sqs_events))

    print(f"wrote {len(story_files)} story events, EXPECTED.json, {len(bad_files)} bad events, "
          f"1 SQS batch, 1 schedule event and README.md under {os.path.relpath(ROOT)}"
          + ("" if SECRET == DEFAULT_SECRET else " (signed with STOCKBRIDGE_WEBHOOK_SECRET)"))


STORY_DESCRIPTIONS = {
    1: "inventory item 45000000000000001 (SB-TEE-BLK-M, tracked) created",
    2: "item 001 connected to Main warehouse 72000000001, available 0",
    3: "item 001 @ warehouse: available 100 (stock count)",
    4: "item 002 (SB-TEE-WHT-L) @ warehouse: available 40",
    5: "item 003 (SB-MUG-12PK) @ warehouse: available 10",
    6: "item 004 (SB-CAP-RED) @ Shop floor 72000000002: available 25",
    7: f"order A {ORDER_A}: 3 x SB-TEE-BLK-M (line {LINE_A_TEE}), 1 x SB-MUG-12PK (line {LINE_A_MUG}); full customer PII; `location_id: null`",
    8: "item 001 @ warehouse: available 97 (order A)",
    9: "item 003 @ warehouse: available 9 (order A)",
    10: "fulfilment of order A from the warehouse, `status: success`: 2 of the 3 tees",
    11: "order A: tee line fulfillable 1, mug line fulfillable 1, `fulfillment_status: partial`",
    12: f"order B {ORDER_B}: 2 x SB-TEE-WHT-L (line {LINE_B_TEE}), `variant_id: null`, SKU only",
    13: "item 002 @ warehouse: available 38 (order B)",
    14: "order B cancelled (`cancelled_at` set; the line still says fulfillable 2)",
    15: "item 002 @ warehouse: available 40 (restocked by the cancel)",
    16: f"refund {REFUND_A} of order A: 1 tee, `restock_type: cancel`, `location_id: 72000000001`",
    17: "order A after the refund: tee line fulfillable 0 (current 2), mug line fulfillable 1",
    18: "item 001 @ warehouse: available 98 (the cancelled tee back)",
    19: f"UNMAPPED item {UNMAPPED_ITEM} @ warehouse: available 7 (must be parked)",
    20: "privacy: redact customer John Smith and order A",
    21: "privacy: data request for customer John Smith",
}


if __name__ == "__main__":
    main()
