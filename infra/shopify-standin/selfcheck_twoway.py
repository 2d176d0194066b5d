"""The self-check's group for what the two-way direction uses: ``metafieldsSet`` on variants (type
and value checks, atomicity, ``compareDigest``, the 25 limit, unknown owners), the variant's
``metafield``/``metafields`` reads, ``metafieldsDelete`` (a missing one is ``null``, no error),
``productVariants(query: "updated_at:>=…")`` finding a variant by its metafield's change (the
field map's way back),
and the ``/_standin/adjustments`` log of ``inventorySetQuantities`` groups: one per applied call
with its idempotency key, none for a replay, a stale ``changeFromQuantity``, a key reused with
other input, or a call without ``@idempotent``. Called by selfcheck.py with its running stand-in
and ``check``.
"""

from __future__ import annotations

NS = "stockbridge"
SET = """mutation($m: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $m) {
    metafields { id namespace key value type compareDigest }
    userErrors { field message code elementIndex }
  }
}"""
DELETE = """mutation($m: [MetafieldIdentifierInput!]!) {
  metafieldsDelete(metafields: $m) {
    deletedMetafields { ownerId namespace key }
    userErrors { field message }
  }
}"""
READ = """query($id: ID!) {
  productVariant(id: $id) {
    id
    restock: metafield(namespace: "stockbridge", key: "restock_date") { value type }
    metafields(first: 10, namespace: "stockbridge") { nodes { key value type } pageInfo { hasNextPage } }
  }
}"""
CHANGED = """query($q: String) {
  productVariants(first: 50, query: $q, sortKey: ID) {
    nodes { id updatedAt m0: metafield(namespace: "stockbridge", key: "salable") { value updatedAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""
SET_QTY = """mutation($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id } userErrors { code }
  }
}"""
SET_QTY_NO_KEY = """mutation($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) { inventoryAdjustmentGroup { id } userErrors { code } }
}"""


def run(s, check, item: int, location: int) -> None:
    state = s.get("/_standin/state")
    variant = next(i["variant_id"] for i in state["items"] if i["item_id"] == item)
    owner = f"gid://shopify/ProductVariant/{variant}"

    def mf(key, kind, value, **extra):
        return {"ownerId": owner, "namespace": NS, "key": key, "type": kind, "value": value, **extra}

    def set_(*inputs):
        return s.gql(SET, {"m": list(inputs)})["data"]["metafieldsSet"]

    # metafieldsSet: no @idempotent needed; date and number_integer set together.
    r = set_(mf("restock_date", "date", "2026-12-24"), mf("restock_quantity", "number_integer", "40"))
    check(r["userErrors"] == [] and [m["key"] for m in r["metafields"]] == ["restock_date", "restock_quantity"],
          f"metafieldsSet: {r}")
    digest = r["metafields"][0]["compareDigest"]
    got = s.gql(READ, {"id": owner})["data"]["productVariant"]
    check(got["restock"] == {"value": "2026-12-24", "type": "date"}, f"variant.metafield: {got}")
    check([(m["key"], m["value"]) for m in got["metafields"]["nodes"]]
          == [("restock_date", "2026-12-24"), ("restock_quantity", "40")], f"variant.metafields: {got}")
    listed = {(m["ownerId"], m["key"]): m["value"] for m in s.get("/_standin/state")["metafields"]}
    check(listed.get((owner, "restock_date")) == "2026-12-24", f"state lists them: {listed}")

    # Refusals are atomic: a bad value with a good one sets neither.
    r = set_(mf("restock_date", "date", "2027-01-10"), mf("restock_quantity", "number_integer", "forty"))
    check(r["metafields"] is None and [(e["code"], e["elementIndex"]) for e in r["userErrors"]]
          == [("INVALID_VALUE", 1)], f"a bad integer: {r}")
    check(set_(mf("restock_date", "date", "2027-02-30"))["userErrors"][0]["code"] == "INVALID_VALUE",
          "not a calendar date")
    check(set_(mf("restock_date", "datum", "2027-01-10"))["userErrors"][0]["code"] == "INVALID_TYPE",
          "an unknown type")
    check(set_({"ownerId": owner, "namespace": NS, "key": "untyped", "value": "x"})["userErrors"][0]["code"]
          == "BLANK", "a new metafield needs a type")
    check(set_(mf("restock_date", "date", "2027-01-10", compareDigest="nope"))["userErrors"][0]["code"]
          == "STALE_OBJECT", "compareDigest")
    check(set_({**mf("restock_date", "date", "2027-01-10"), "ownerId": "gid://shopify/ProductVariant/1"}
               )["userErrors"][0]["code"] == "INVALID", "an unknown variant")
    check(set_(*[mf(f"k{i:02}", "number_integer", str(i)) for i in range(26)])["userErrors"][0]["code"]
          == "LESS_THAN_OR_EQUAL_TO", "at most 25")
    got = s.gql(READ, {"id": owner})["data"]["productVariant"]
    check(got["restock"]["value"] == "2026-12-24", f"nothing refused was set: {got}")
    r = set_(mf("restock_date", "date", "2027-01-10", compareDigest=digest))
    check(r["userErrors"] == [] and r["metafields"][0]["value"] == "2027-01-10", f"moved with the digest: {r}")

    # metafieldsDelete: what is gone is null, not an error; nothing at all is an error.
    ids = [{"ownerId": owner, "namespace": NS, "key": k} for k in ("restock_date", "restock_quantity", "never")]
    r = s.gql(DELETE, {"m": ids})["data"]["metafieldsDelete"]
    check(r["userErrors"] == [] and [d and d["key"] for d in r["deletedMetafields"]]
          == ["restock_date", "restock_quantity", None], f"metafieldsDelete: {r}")
    r = s.gql(DELETE, {"m": ids})["data"]["metafieldsDelete"]
    check(r["userErrors"] == [] and r["deletedMetafields"] == [None, None, None], f"again: {r}")
    check(s.gql(DELETE, {"m": []})["data"]["metafieldsDelete"]["userErrors"] != [], "an empty delete")
    got = s.gql(READ, {"id": owner})["data"]["productVariant"]
    check(got["restock"] is None and got["metafields"]["nodes"] == [], f"deleted: {got}")
    check(not any(m["ownerId"] == owner for m in s.get("/_standin/state")["metafields"]), "state: gone")

    # productVariants by updated_at: a metafield change counts as the variant's update.
    set_(mf("salable", "boolean", "false"))
    stamp = next(m["updatedAt"] for m in s.get("/_standin/state")["metafields"]
                 if m["ownerId"] == owner and m["key"] == "salable")
    found = s.gql(CHANGED, {"q": f"updated_at:>='{stamp}'"})
    nodes = {n["id"]: n for n in found["data"]["productVariants"]["nodes"]}
    check(owner in nodes and nodes[owner]["m0"] == {"value": "false", "updatedAt": stamp}
          and nodes[owner]["updatedAt"] == stamp, f"productVariants finds the change: {found}")
    later = s.gql(CHANGED, {"q": f"updated_at:>'{stamp}'"})["data"]["productVariants"]["nodes"]
    check(owner not in [n["id"] for n in later], f"nothing newer: {later}")
    bad = s.gql(CHANGED, {"q": "updated_at:>=soon"})
    check(bad.get("errors"), f"a bad time is an error: {bad}")
    s.gql(DELETE, {"m": [{"ownerId": owner, "namespace": NS, "key": "salable"}]})

    # The adjustment log: one group per applied call, with its key.
    before = s.get("/_standin/adjustments")["adjustments"]
    check(before and before[0]["idempotencyKey"] == "selfcheck-1", f"earlier groups are listed: {before[:1]}")
    current = s.level(item, location)["available"]

    def qty_input(quantity, expected):
        return {"name": "available", "reason": "correction", "referenceDocumentUri": "stockbridge://sync/twoway",
                "quantities": [{"inventoryItemId": f"gid://shopify/InventoryItem/{item}",
                                "locationId": f"gid://shopify/Location/{location}",
                                "quantity": quantity, "changeFromQuantity": expected}]}

    first = s.gql(SET_QTY, {"input": qty_input(current + 5, current), "key": "twoway-1"})
    group = first["data"]["inventorySetQuantities"]["inventoryAdjustmentGroup"]
    replay = s.gql(SET_QTY, {"input": qty_input(current + 5, current), "key": "twoway-1"})
    check(replay["data"]["inventorySetQuantities"]["inventoryAdjustmentGroup"] == group, "a replay answers the same")
    stale = s.gql(SET_QTY, {"input": qty_input(current + 9, current), "key": "twoway-2"})
    check(stale["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "CHANGE_FROM_QUANTITY_STALE",
          f"stale: {stale}")
    mismatch = s.gql(SET_QTY, {"input": qty_input(current + 6, current + 5), "key": "twoway-1"})
    check(mismatch["data"]["inventorySetQuantities"]["userErrors"][0]["code"]
          == "IDEMPOTENCY_KEY_PARAMETER_MISMATCH", f"key reused: {mismatch}")
    unkeyed = s.gql(SET_QTY_NO_KEY, {"input": qty_input(current + 6, current + 5)})
    check(unkeyed["data"]["inventorySetQuantities"] is None and unkeyed["errors"], "no key, no write")
    after = s.get("/_standin/adjustments")["adjustments"]
    check(len(after) == len(before) + 1, f"one group added, not {len(after) - len(before)}")
    last = after[-1]
    check(last["id"] == group["id"] and last["idempotencyKey"] == "twoway-1" and last["seq"] == len(after)
          and last["reason"] == "correction" and last["referenceDocumentUri"] == "stockbridge://sync/twoway"
          and last["createdAt"], f"the group: {last}")
    check([(c["name"], c["item_id"], c["location_id"], c["delta"], c["after"]) for c in last["changes"]]
          == [("available", item, location, 5, current + 5),
              ("on_hand", item, location, 5, s.level(item, location)["on_hand"])], f"its changes: {last}")
    check(s.level(item, location)["available"] == current + 5, "applied once")

    # A sale armed by /_standin/race lands before the next set is judged: its stale answer.
    s.post("/_standin/race", {"lines": [{"inventory_item_id": item, "quantity": 1, "location": location}]})
    now = s.level(item, location)
    raced = s.gql(SET_QTY, {"input": qty_input(now["available"] + 3, now["available"]), "key": "twoway-race"})
    check(raced["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "CHANGE_FROM_QUANTITY_STALE",
          f"the raced write is stale: {raced}")
    sold = s.level(item, location)
    check(sold["available"] == now["available"] - 1 and sold["committed"] == now["committed"] + 1,
          f"the sale was made: {now} -> {sold}")
    again = s.gql(SET_QTY, {"input": qty_input(sold["available"] + 3, sold["available"]), "key": "twoway-race-2"})
    check(again["data"]["inventorySetQuantities"]["userErrors"] == [], f"re-read and written: {again}")
