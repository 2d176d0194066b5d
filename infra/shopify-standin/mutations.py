"""The mutation side of the GraphQL API: ``inventorySetQuantities`` (validation, compare-and-set
on ``changeFromQuantity``, all-or-nothing apply, the required ``@idempotent`` key and replays,
every applied adjustment group logged with the key it was made under for
``/_standin/adjustments``), ``metafieldsSet`` and ``metafieldsDelete`` (metafields.py), and
``bulkOperationRunQuery`` (run by bulk.py). ``Mutations`` extends the query-side ``Resolvers``
with the mutation root.
"""

from __future__ import annotations

import json

from graphql import GraphQLError
from graphql.execution.values import get_directive_values

import metafields as metafields_mod
import subscriptions
from bulk import run_bulk_query
from formats import gid, now_iso, parse_id
from resolvers import Resolvers
from schema import API_VERSION, IDEMPOTENT

MAX_INPUT_ARRAY = 250
KNOWN_REASONS = {
    "correction", "cycle_count_available", "damaged", "movement_created", "movement_updated",
    "movement_received", "movement_canceled", "other", "promotion", "quality_control",
    "received", "reservation_created", "reservation_deleted", "reservation_updated", "restock",
    "safety_stock", "shrinkage",
}
# Mutations that need @idempotent from 2026-04 (of those this stand-in implements). Shopify's
# list (changelog "Making idempotency mandatory for inventory adjustments and refund
# mutations", 2026-04): refundCreate and the inventory adjustment, move, set and shipment
# mutations; metafieldsSet and metafieldsDelete are not on it.
IDEMPOTENT_REQUIRED = {"inventorySetQuantities"}


class Mutations(Resolvers):
    """The query root (inherited) and the mutation root, over one store."""

    # query root, with the webhook subscriptions and access scopes (subscriptions.py)
    def root(self) -> dict:
        return {**super().root(), **subscriptions.query_fields(self.s)}

    # mutation root
    def mutation_root(self) -> dict:
        return {
            "inventorySetQuantities": self.inventory_set_quantities,
            "metafieldsSet": self.metafields_set,
            "metafieldsDelete": self.metafields_delete,
            "bulkOperationRunQuery": self.bulk_operation_run_query,
            **subscriptions.mutation_fields(self.s),
        }

    def bulk_operation_run_query(self, info, query, groupObjects=None):  # noqa: N803
        return run_bulk_query(self.s, query)

    def inventory_set_quantities(self, info, input):
        s = self.s
        key = idempotency_key(info)
        fingerprint = json.dumps(input, sort_keys=True)
        if key is not None and key in s.idempotency:
            first_fingerprint, result = s.idempotency[key]
            if first_fingerprint != fingerprint:
                return {"inventoryAdjustmentGroup": None, "userErrors": [{
                    "field": ["input"], "code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                    "message": "The same idempotency key cannot be used with different operation parameters.",
                }]}
            s.stats["idempotent_replays"] += 1
            return result
        race = s.take_race()
        if race is not None:
            # A storefront sale (armed by /_standin/race) lands between the caller's read and
            # this write, as a real one can: its order, level and webhooks happen first.
            import orders  # noqa: PLC0415 (orders imports this module's neighbours)
            orders.create_order(s, race, s.event())
            s.stats["races"] += 1
        result, changed = self.apply_set(input, key)
        if key is not None:
            s.idempotency[key] = (fingerprint, result)
        s.notify(changed)
        return result

    def apply_set(self, input: dict, key: str | None = None) -> tuple[dict, list]:
        """Validates everything first; applies all quantities or none; an applied group is
        logged (``Store.adjustments``) with the idempotency `key` it was made under."""
        s = self.s
        errors = []

        def err(field, code, message):
            errors.append({"field": field, "code": code, "message": message})

        name = input["name"]
        if name not in ("available", "on_hand"):
            err(["input", "name"], "INVALID_NAME",
                "The quantity name must be either 'available' or 'on_hand'.")
        if input["reason"] not in KNOWN_REASONS:
            err(["input", "reason"], "INVALID_REASON", "The specified reason is invalid.")
        quantities = input["quantities"]
        if len(quantities) > MAX_INPUT_ARRAY:
            err(["input", "quantities"], "INVALID_INPUT",
                f"The input array size of {len(quantities)} is greater than the maximum allowed of {MAX_INPUT_ARRAY}.")
        seen = set()
        plan = []
        for i, q in enumerate(quantities):
            field = ["input", "quantities", str(i)]
            item = parse_id(q["inventoryItemId"], "InventoryItem")
            location = parse_id(q["locationId"], "Location")
            if item is None or item not in s.items:
                err(field + ["inventoryItemId"], "INVALID_INVENTORY_ITEM",
                    "The specified inventory item could not be found.")
                continue
            if location is None or location not in s.locations:
                err(field + ["locationId"], "INVALID_LOCATION",
                    "The specified location could not be found.")
                continue
            if (item, location) in seen:
                err(field, "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                    "The combination of inventoryItemId and locationId must be unique.")
                continue
            seen.add((item, location))
            level = s.level(item, location)
            if level is None:
                err(field + ["locationId"], "ITEM_NOT_STOCKED_AT_LOCATION",
                    "The specified inventory item is not stocked at the location.")
                continue
            if "changeFromQuantity" not in q and not input.get("ignoreCompareQuantity"):
                err(field + ["changeFromQuantity"], "INVALID_INPUT",
                    "changeFromQuantity is required from 2026-04: pass the expected quantity, or null to opt out.")
                continue
            current = s.quantity(level, name) if name in ("available", "on_hand") else 0
            expected = q.get("changeFromQuantity")
            if expected is not None and expected != current:
                err(field + ["changeFromQuantity"], "CHANGE_FROM_QUANTITY_STALE",
                    "The changeFromQuantity value does not match persisted value.")
                continue
            if q["quantity"] < 0 and name == "on_hand":
                err(field + ["quantity"], "INVALID_QUANTITY_NEGATIVE",
                    "The quantity can't be negative.")
                continue
            if abs(q["quantity"]) > 1_000_000_000:
                err(field + ["quantity"], "INVALID_QUANTITY_TOO_HIGH",
                    "The quantity can't be higher than 1,000,000,000.")
                continue
            plan.append((item, location, level, current, q["quantity"]))
        if errors:
            if any(e["code"] == "CHANGE_FROM_QUANTITY_STALE" for e in errors):
                s.stats["stale"] += 1
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}, []
        changes = []
        changed = []
        for item, location, level, current, target in plan:
            delta = target - current
            # Setting `available` (or on_hand, a count) moves available and on_hand together;
            # committed and the unavailable states stay as they are.
            _, did_change = s.set_level(item, location, available=level["available"] + delta)
            changes.append({"name": "available", "delta": delta, "item": item, "location": location,
                            "after": level["available"]})
            changes.append({"name": "on_hand", "delta": delta, "item": item, "location": location,
                            "after": s.quantity(level, "on_hand")})
            if did_change:
                changed.append((item, location))
        s.stats["mutations_applied"] += 1
        group = {
            "id": gid("InventoryAdjustmentGroup", s.new_id()),
            "createdAt": now_iso(),
            "reason": input["reason"],
            "referenceDocumentUri": input.get("referenceDocumentUri"),
            "_changes": changes,
        }
        s.log_adjustment(group, input["name"], key)
        return {"inventoryAdjustmentGroup": self.group_node(group), "userErrors": []}, changed

    def group_node(self, group: dict) -> dict:
        def changes(info, inventoryItemIds=None, locationIds=None, quantityNames=None):
            items = {parse_id(i, "InventoryItem") for i in inventoryItemIds} if inventoryItemIds else None
            locs = {parse_id(i, "Location") for i in locationIds} if locationIds else None
            out = []
            for c in group["_changes"]:
                if items is not None and c["item"] not in items:
                    continue
                if locs is not None and c["location"] not in locs:
                    continue
                if quantityNames is not None and c["name"] not in quantityNames:
                    continue
                out.append({
                    "name": c["name"], "delta": c["delta"], "quantityAfterChange": c["after"],
                    "item": lambda info, n=c["item"]: self.item_node(n),
                    "location": lambda info, n=c["location"]: self.location_node(n),
                })
            return out

        node = {k: v for k, v in group.items() if not k.startswith("_")}
        node["changes"] = changes
        return node

    def metafields_set(self, info, metafields):
        return metafields_mod.metafields_set(self.s, metafields)

    def metafields_delete(self, info, metafields):
        return metafields_mod.metafields_delete(self.s, metafields)


def idempotency_key(info) -> str | None:
    for node in info.field_nodes:
        values = get_directive_values(IDEMPOTENT, node, info.variable_values)
        if values is not None:
            return values["key"]
    if info.field_name in IDEMPOTENT_REQUIRED:
        raise GraphQLError(
            f"The @idempotent directive is required for {info.field_name} from API version {API_VERSION}.",
            extensions={"code": "BAD_REQUEST"},
        )
    return None
