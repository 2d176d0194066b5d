"""The self-check's group for webhook subscriptions and access scopes (subscriptions.py): seeding,
the paged ``webhookSubscriptions`` query and its filters, ``webhookSubscriptionCreate`` and
``webhookSubscriptionDelete`` with their ``userErrors``, ``currentAppInstallation.accessScopes``,
and the silent removal. Called by selfcheck.py with its running stand-in and ``check``.
"""

from __future__ import annotations

HOOK = "https://stockbridge.example.com/webhooks/shopify"
PAGE = """query($after: String, $topics: [WebhookSubscriptionTopic!]) {
  webhookSubscriptions(first: 2, after: $after, topics: $topics) {
    pageInfo { hasNextPage endCursor }
    nodes { id topic uri format includeFields apiVersion { handle } }
  }
}"""
CREATE = """mutation($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
    webhookSubscription { id topic uri format }
    userErrors { field message }
  }
}"""
DELETE = """mutation($id: ID!) {
  webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { field message } }
}"""
SCOPES = "{ currentAppInstallation { accessScopes { handle } } }"


def all_subscriptions(s, topics=None) -> list[dict]:
    out, after = [], None
    while True:
        r = s.gql(PAGE, {"after": after, "topics": topics})
        page = r["data"]["webhookSubscriptions"]
        out += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return out
        after = page["pageInfo"]["endCursor"]


def run(s, check) -> None:
    scopes = s.gql(SCOPES, {})["data"]["currentAppInstallation"]["accessScopes"]
    check({x["handle"] for x in scopes} >= {"read_inventory", "write_inventory", "read_orders",
                                             "read_merchant_managed_fulfillment_orders"},
          f"default scopes: {scopes}")
    check(all_subscriptions(s) == [], "no subscriptions before a seed")

    seeded = s.post("/_standin/subscriptions/seed", {
        "reset": True, "scopes": ["read_inventory", "read_orders"],
        "subscriptions": [{"topic": "inventory_levels/update", "uri": HOOK},
                          {"topic": "ORDERS_CREATE", "uri": HOOK},
                          {"topic": "FULFILLMENT_ORDERS_MOVED", "uri": HOOK, "include_fields": ["id"]}]})
    check(len(seeded["subscriptions"]) == 3 and seeded["scopes"] == ["read_inventory", "read_orders"],
          f"seeded: {seeded}")
    s.post("/_standin/subscriptions/seed", {"subscriptions": [{"topic": "customers/redact", "uri": HOOK}]},
           expect=400)
    s.post("/_standin/subscriptions/seed", {"subscriptions": [{"topic": "ORDERS_CREATE",
                                                                 "uri": "http://example.com/h"}]}, expect=400)
    check(len(s.get("/_standin/subscriptions")["subscriptions"]) == 3, "a refused seed changes nothing")

    subs = all_subscriptions(s)
    check([x["topic"] for x in subs] == ["INVENTORY_LEVELS_UPDATE", "ORDERS_CREATE", "FULFILLMENT_ORDERS_MOVED"],
          f"three subscriptions over two pages, in order: {subs}")
    check(all(x["uri"] == HOOK and x["format"] == "JSON" and x["apiVersion"]["handle"] == "2026-04"
              for x in subs), f"shapes: {subs}")
    check(subs[2]["includeFields"] == ["id"] and subs[0]["includeFields"] == [], "includeFields")
    check([x["topic"] for x in all_subscriptions(s, ["ORDERS_CREATE"])] == ["ORDERS_CREATE"], "topics filter")
    scopes = s.gql(SCOPES, {})["data"]["currentAppInstallation"]["accessScopes"]
    check([x["handle"] for x in scopes] == ["read_inventory", "read_orders"], f"seeded scopes: {scopes}")

    made = s.gql(CREATE, {"topic": "REFUNDS_CREATE", "sub": {"uri": HOOK, "format": "JSON"}})
    payload = made["data"]["webhookSubscriptionCreate"]
    check(payload["userErrors"] == [] and payload["webhookSubscription"]["topic"] == "REFUNDS_CREATE",
          f"created: {made}")
    again = s.gql(CREATE, {"topic": "REFUNDS_CREATE", "sub": {"uri": HOOK}})["data"]["webhookSubscriptionCreate"]
    check(again["webhookSubscription"] is None
          and again["userErrors"][0]["message"] == "Address for this topic has already been taken",
          f"a duplicate is refused: {again}")
    bad = s.gql(CREATE, {"topic": "REFUNDS_CREATE", "sub": {"uri": "http://example.com/h"}})
    check(bad["data"]["webhookSubscriptionCreate"]["userErrors"][0]["field"] == ["webhookSubscription", "uri"],
          f"plain http off loopback is refused: {bad}")
    unknown = s.request("POST", "/admin/api/2026-04/graphql.json",
                        {"query": CREATE, "variables": {"topic": "SHOP_REDACT", "sub": {"uri": HOOK}}},
                        headers={"X-Shopify-Access-Token": "shpat_selfcheck"})
    check("data" not in unknown or unknown.get("data") is None, f"a compliance topic is not an API topic: {unknown}")

    created_id = payload["webhookSubscription"]["id"]
    gone = s.gql(DELETE, {"id": created_id})["data"]["webhookSubscriptionDelete"]
    check(gone == {"deletedWebhookSubscriptionId": created_id, "userErrors": []}, f"deleted: {gone}")
    twice = s.gql(DELETE, {"id": created_id})["data"]["webhookSubscriptionDelete"]
    check(twice["deletedWebhookSubscriptionId"] is None and twice["userErrors"], f"deleted twice: {twice}")

    removed = s.post("/_standin/subscriptions/remove", {"topic": "orders/create"})
    check([x["topic"] for x in removed["removed"]] == ["ORDERS_CREATE"], f"removed: {removed}")
    s.post("/_standin/subscriptions/remove", {"topic": "orders/create"}, expect=404)
    check([x["topic"] for x in all_subscriptions(s)] == ["INVENTORY_LEVELS_UPDATE", "FULFILLMENT_ORDERS_MOVED"],
          "removed silently")
    s.post("/_standin/subscriptions/seed", {"reset": True, "subscriptions": [],
                                            "scopes": ["read_inventory", "write_inventory", "read_orders",
                                                       "read_merchant_managed_fulfillment_orders"]})
