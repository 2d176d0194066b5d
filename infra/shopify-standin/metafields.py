"""Metafields: ``metafieldsSet`` (atomic upsert by owner, namespace and key, at most 25, with
``compareDigest``, the type required for a new metafield and the value checked against its
type), ``metafieldsDelete`` (by owner, namespace and key; one that does not exist is ``null`` in
``deletedMetafields``, no error), and the read side: the ``Metafield`` node and
``ProductVariant.metafield(namespace:, key:)`` / ``metafields(first:, after:, namespace:, keys:)``.
Metafields are kept in ``Store.metafields`` keyed by (owner gid, namespace, key).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime

from formats import GID_RE, gid, now_iso, parse_id

MAX_METAFIELDS = 25
MAX_IDENTIFIERS = 250
APP_NAMESPACE = "$app"
# JavaScript's safe integers: Shopify's bounds of number_integer.
MAX_INTEGER = 9_007_199_254_740_991

# Shopify's metafield types (2026-04) without a value check here; the checked ones are in CHECKS.
UNCHECKED_TYPES = {
    "dimension", "id", "link", "money", "rating", "rich_text_field", "volume", "weight",
    "collection_reference", "company_reference", "customer_reference", "file_reference",
    "metaobject_reference", "mixed_reference", "page_reference", "product_reference",
    "product_taxonomy_value_reference", "variant_reference",
}


def _date(v: str) -> str | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        return "Value must be in YYYY-MM-DD format."
    try:
        date.fromisoformat(v)
    except ValueError:
        return "Value must be a valid date."
    return None


def _date_time(v: str) -> str | None:
    try:
        datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return "Value must be in YYYY-MM-DDTHH:MM:SS format."
    return None


def _integer(v: str) -> str | None:
    if not re.fullmatch(r"-?\d+", v):
        return "Value must be an integer."
    if abs(int(v)) > MAX_INTEGER:
        return f"Value must be between -{MAX_INTEGER} and {MAX_INTEGER}."
    return None


def _decimal(v: str) -> str | None:
    return None if re.fullmatch(r"-?\d+(\.\d+)?", v) else "Value must be a decimal number."


def _json(v: str) -> str | None:
    try:
        json.loads(v)
    except ValueError:
        return "Value must be valid JSON."
    return None


CHECKS = {
    "boolean": lambda v: None if v in ("true", "false") else "Value must be true or false.",
    "color": lambda v: None if re.fullmatch(r"#[0-9A-Fa-f]{6}", v) else "Value must be a hex color code.",
    "date": _date,
    "date_time": _date_time,
    "json": _json,
    "multi_line_text_field": lambda v: None,
    "number_decimal": _decimal,
    "number_integer": _integer,
    "single_line_text_field": lambda v: None if "\n" not in v else "Value must be a single line.",
    "url": lambda v: None if re.match(r"^(https?|mailto|sms|tel):", v) else "Value must be a valid URL.",
}


def value_error(kind: str, value: str) -> tuple[str, str] | None:
    """(code, message) when `kind` is not a type or `value` does not fit it."""
    base = kind[len("list."):] if kind.startswith("list.") else kind
    if base not in CHECKS and base not in UNCHECKED_TYPES:
        return "INVALID_TYPE", f"Type '{kind}' is not a valid metafield type."
    if kind.startswith("list."):
        try:
            items = json.loads(value)
        except ValueError:
            items = None
        if not isinstance(items, list):
            return "INVALID_VALUE", "Value must be a JSON array."
        check = CHECKS.get(base)
        for item in items:
            problem = check(str(item)) if check else None
            if problem:
                return "INVALID_VALUE", problem
        return None
    check = CHECKS.get(base)
    problem = check(value) if check else None
    return ("INVALID_VALUE", problem) if problem else None


def owner_exists(s, owner: str) -> bool:
    """Owners the stand-in knows are checked (variants, items, locations, orders); other kinds
    are taken on trust."""
    m = GID_RE.match(owner)
    kind, n = m.group("kind"), int(m.group("id"))
    if kind == "ProductVariant":
        return any(it.get("variant_id") == n for it in s.items.values())
    table = {"InventoryItem": s.items, "Location": s.locations, "Order": s.orders}.get(kind)
    return table is None or n in table


def metafields_set(s, metafields: list[dict]) -> dict:
    if len(metafields) > MAX_METAFIELDS:
        return {"metafields": None, "userErrors": [{
            "field": ["metafields"], "code": "LESS_THAN_OR_EQUAL_TO", "elementIndex": None,
            "message": f"Exceeded the maximum metafields input limit of {MAX_METAFIELDS}.",
        }]}
    errors = []

    def err(i, field, code, message):
        errors.append({"field": ["metafields", str(i)] + ([field] if field else []), "code": code,
                       "elementIndex": i, "message": message})

    for i, m in enumerate(metafields):
        if not GID_RE.match(m["ownerId"]):
            err(i, "ownerId", "INVALID", "Owner id is not a valid gid.")
            continue
        if not owner_exists(s, m["ownerId"]):
            err(i, "ownerId", "INVALID", "Owner does not exist.")
            continue
        if m.get("namespace") is not None and not (3 <= len(m["namespace"]) <= 255):
            err(i, "namespace", "INVALID", "Namespace must be 3-255 characters.")
        if not (2 <= len(m["key"]) <= 64):
            err(i, "key", "INVALID", "Key must be 2-64 characters.")
        existing = s.metafields.get((m["ownerId"], m.get("namespace") or APP_NAMESPACE, m["key"]))
        kind = m.get("type") or (existing or {}).get("type")
        if kind is None:
            err(i, "type", "BLANK", "Type can't be blank.")
        elif m["value"] == "":
            err(i, "value", "BLANK", "Value can't be blank.")
        else:
            problem = value_error(kind, m["value"])
            if problem:
                err(i, "type" if problem[0] == "INVALID_TYPE" else "value", *problem)
        if m.get("compareDigest") is not None and (
                existing is None or existing["digest"] != m["compareDigest"]):
            err(i, None, "STALE_OBJECT", "The resource has been updated since it was loaded.")
    if errors:  # atomic: all or nothing
        return {"metafields": None, "userErrors": errors}
    out = []
    for m in metafields:
        ns = m.get("namespace") or APP_NAMESPACE
        k = (m["ownerId"], ns, m["key"])
        existing = s.metafields.get(k)
        stamp = now_iso()
        record = {
            "id": existing["id"] if existing else gid("Metafield", s.new_id()),
            "namespace": ns, "key": m["key"], "value": m["value"],
            "type": m.get("type") or existing["type"],
            "ownerType": GID_RE.match(m["ownerId"]).group("kind").upper(),
            "createdAt": existing["createdAt"] if existing else stamp, "updatedAt": stamp,
            "digest": hashlib.sha256(m["value"].encode()).hexdigest(),
        }
        s.metafields[k] = record
        out.append(node(record))
    s.stats["metafields_set"] += len(out)
    return {"metafields": out, "userErrors": []}


def metafields_delete(s, metafields: list[dict]) -> dict:
    errors = []
    if not metafields:
        errors.append({"field": ["metafields"], "message": "At least one identifier must be specified."})
    if len(metafields) > MAX_IDENTIFIERS:
        errors.append({"field": ["metafields"], "message":
                       f"The input array size of {len(metafields)} is greater than the maximum allowed of {MAX_IDENTIFIERS}."})
    for i, m in enumerate(metafields):
        if not GID_RE.match(m["ownerId"]):
            errors.append({"field": ["metafields", str(i), "ownerId"], "message": "Owner id is not a valid gid."})
        if not m["namespace"] or not m["key"]:
            errors.append({"field": ["metafields", str(i)], "message": "Namespace and key can't be blank."})
    if errors:  # nothing is deleted
        return {"deletedMetafields": None, "userErrors": errors}
    deleted = []
    for m in metafields:
        k = (m["ownerId"], m["namespace"], m["key"])
        if s.metafields.pop(k, None) is None:
            deleted.append(None)
        else:
            deleted.append({"ownerId": m["ownerId"], "namespace": m["namespace"], "key": m["key"]})
            s.stats["metafields_deleted"] += 1
    return {"deletedMetafields": deleted, "userErrors": []}


def node(record: dict) -> dict:
    """A stored metafield as the ``Metafield`` object."""
    return {k: v for k, v in record.items() if k != "digest"} | {"compareDigest": record["digest"]}


def owner_fields(s, owner: str, connection) -> dict:
    """``metafield(namespace:, key:)`` and ``metafields(first:, after:, namespace:, keys:)`` of
    the object whose gid is `owner`; `connection` is resolvers.connection (ordered by id)."""

    def metafield(info, key, namespace=None):
        record = s.metafields.get((owner, namespace or APP_NAMESPACE, key))
        return node(record) if record else None

    def metafields(info, first=None, after=None, namespace=None, keys=None):
        rows = [r for (o, ns, _), r in s.metafields.items() if o == owner
                and (namespace is None or ns == namespace)
                and (keys is None or f"{ns}.{r['key']}" in keys)]
        rows.sort(key=lambda r: parse_id(r["id"], "Metafield"))
        return connection(rows, first, after, lambda r: parse_id(r["id"], "Metafield"), node)

    return {"metafield": metafield, "metafields": metafields}
