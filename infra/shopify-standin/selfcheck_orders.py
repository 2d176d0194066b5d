"""The self-check of payment, order editing and refunds (``order_edits.py``) and of what orders are
created with (``financial_status``, ``test``, gift card and custom lines): run by selfcheck.py
with its stand-in, its webhook receiver and its helpers (``sc``: check, check_webhooks, take,
quantities_hold, received).
"""

from __future__ import annotations

import re

WH = 72000000001
TEE = 271878346596884015


def run(s, sc) -> None:
    check, take = sc.check, sc.take

    def tee():
        level = s.level(TEE, WH)
        return level["available"], level["committed"], level["on_hand"]

    def step(path, body, topics):
        mark = s.begin()
        answer = s.post(path, body)
        s.settle(mark + len(topics))
        sc.check_webhooks(take(mark), topics, answer)
        return answer, [w["body"] for w in take(mark)]

    # An authorized test order with a gift card and a tip: only the goods touch inventory.
    a0, c0, h0 = tee()
    a, (created, _, _) = step("/_standin/order", {
        "financial_status": "authorized", "test": True,
        "lines": [{"sku": "TEE", "quantity": 4},
                  {"gift_card": True, "sku": "GIFT-25", "quantity": 1, "price": "25.00"},
                  {"custom": True, "title": "Tip", "quantity": 1, "price": "2.00"}]},
        ["orders/create", "inventory_levels/update", "fulfillment_orders/order_routing_complete"])
    check(created["financial_status"] == "authorized" and created["test"] is True, "payment and test")
    check(re.fullmatch(r"#\d{4,}", created["name"]) is not None, f"name {created['name']}")
    goods, gift, tip = created["line_items"]
    check(gift["gift_card"] is True and gift["variant_id"] and gift["sku"] == "GIFT-25"
          and gift["requires_shipping"] is False, f"gift card line {gift}")
    check(tip["gift_card"] is False and tip["variant_id"] is None and tip["sku"] is None, f"tip {tip}")
    check(all(li["current_quantity"] == li["quantity"] for li in created["line_items"]), "current_quantity")
    check(tee() == (a0 - 4, c0 + 4, h0), f"TEE@WH {tee()}")
    order = a["order"]["id"]
    for bad in ({"custom": True, "sku": "X", "quantity": 1}, {"custom": True, "gift_card": True, "quantity": 1}):
        s.post("/_standin/order", {"lines": [bad]}, expect=400)
    s.post("/_standin/order", {"financial_status": "refunded", "lines": [{"sku": "TEE", "quantity": 1}]},
           expect=400)

    # Edits before fulfilment: fewer units restocked, more units committed, fewer not restocked.
    line = goods["id"]
    e, (updated, level) = step("/_standin/edit", {"order": order, "line": line, "quantity": 2},
                               ["orders/updated", "inventory_levels/update"])
    li = updated["line_items"][0]
    check((li["quantity"], li["current_quantity"], li["fulfillable_quantity"]) == (4, 2, 2), f"edited {li}")
    fl = e["fulfillment_orders"][0]["line_items"][0]
    check((fl["total_quantity"], fl["remaining_quantity"]) == (2, 2), f"FO line {fl}")
    check(tee() == (a0 - 2, c0 + 2, h0) and level["available"] == a0 - 2, f"restocked {tee()}")
    step("/_standin/edit", {"order": order, "line": line, "quantity": 5},
         ["orders/updated", "inventory_levels/update"])
    check(tee() == (a0 - 5, c0 + 5, h0), f"added {tee()}")
    _, (updated,) = step("/_standin/edit", {"order": order, "line": line, "quantity": 4, "restock": False},
                         ["orders/updated"])
    li = updated["line_items"][0]
    check((li["quantity"], li["current_quantity"]) == (7, 4), f"current = quantity - removed: {li}")
    check(tee() == (a0 - 5, c0 + 4, h0 - 1), f"removed without restock {tee()}")
    step("/_standin/edit", {"order": order, "line": tip["id"], "quantity": 0}, ["orders/updated"])
    s.post("/_standin/edit", {"order": order, "line": line, "quantity": 4}, expect=400)
    s.post("/_standin/edit", {"order": order, "line": 1, "quantity": 1}, expect=404)
    s.post("/_standin/edit", {"order": order, "line": line, "quantity": -1}, expect=400)

    # Void the authorization: payment only, nothing moves.
    before = tee()
    _, (voided,) = step("/_standin/void", {"order": order}, ["orders/updated"])
    check(voided["financial_status"] == "voided" and tee() == before, "voided")
    s.post("/_standin/void", {"order": order}, expect=400)
    s.post("/_standin/pay", {"order": order}, expect=400)

    # A pending order is paid; one created paid sends orders/paid with orders/create; one
    # created without a status is paid, as before, without orders/paid.
    p, _ = step("/_standin/order", {"financial_status": "pending", "lines": [{"sku": "TEE", "quantity": 2}]},
                ["orders/create", "inventory_levels/update", "fulfillment_orders/order_routing_complete"])
    _, (paid, updated) = step("/_standin/pay", {"order": p["order"]["id"]}, ["orders/paid", "orders/updated"])
    check(paid["financial_status"] == updated["financial_status"] == "paid", "paid")
    s.post("/_standin/pay", {"order": p["order"]["id"]}, expect=400)
    _, bodies = step("/_standin/order", {"financial_status": "paid", "lines": [{"sku": "TEE", "quantity": 1}]},
                     ["orders/create", "orders/paid", "inventory_levels/update",
                      "fulfillment_orders/order_routing_complete"])
    check(bodies[0]["id"] == bodies[1]["id"] and bodies[1]["financial_status"] == "paid", "orders/paid")
    _, (plain, _, _) = step("/_standin/order", {"lines": [{"sku": "TEE", "quantity": 1}]},
                            ["orders/create", "inventory_levels/update",
                             "fulfillment_orders/order_routing_complete"])
    check(plain["financial_status"] == "paid" and plain["test"] is False, "default: paid, not a test")

    # Refunds of fulfilled units: a return restocks where they shipped from, no_restock does not.
    fo = p["fulfillment_orders"][0]["id"]
    s.post("/_standin/fulfill", {"fulfillment_order": fo})
    pline = p["order"]["line_items"][0]["id"]
    s.post("/_standin/edit", {"order": p["order"]["id"], "line": pline, "quantity": 1}, expect=400)
    before = tee()
    r, (refund, level, updated) = step("/_standin/refund", {"order": p["order"]["id"],
                                                            "lines": [{"line": pline, "quantity": 1}]},
                                       ["refunds/create", "inventory_levels/update", "orders/updated"])
    rl = refund["refund_line_items"][0]
    check((rl["restock_type"], rl["location_id"], rl["quantity"], rl["line_item_id"]) == ("return", WH, 1, pline),
          f"return {rl}")
    check(tee() == (before[0] + 1, before[1], before[2] + 1), f"returned {before} -> {tee()}")
    check(updated["financial_status"] == "partially_refunded"
          and updated["line_items"][0]["current_quantity"] == 1, f"{updated['line_items'][0]}")
    _, (refund, updated) = step("/_standin/refund", {"order": p["order"]["id"], "lines": [
        {"line": pline, "quantity": 1, "restock": False}]}, ["refunds/create", "orders/updated"])
    check(refund["refund_line_items"][0]["restock_type"] == "no_restock"
          and refund["refund_line_items"][0]["location_id"] is None, "no restock")
    check(updated["financial_status"] == "refunded" and tee()[0] == before[0] + 1, "refunded in full")
    s.post("/_standin/refund", {"order": p["order"]["id"], "lines": [{"line": pline, "quantity": 1}]},
           expect=400)
    s.post("/_standin/refund", {"order": order, "lines": [{"line": line, "quantity": 1}]}, expect=400)
    sc.quantities_hold(s)
