"""The app's webhook subscriptions and granted access scopes: their state (kept on the store),
the GraphQL side (``webhookSubscriptions``, ``webhookSubscription``, ``currentAppInstallation {
accessScopes }``, ``webhookSubscriptionCreate``, ``webhookSubscriptionDelete`` with Shopify's
``userErrors``) and the operator endpoints that seed them, read them and remove one silently, as
Shopify does with a subscription whose deliveries kept failing.

Subscriptions are records only: webhooks are still delivered to ``--webhook-url`` whatever the
subscriptions say, and scopes are reported, not enforced.
"""

from __future__ import annotations

from typing import Any

from formats import gid, now_iso, parse_id
from orders import OperatorError
from resolvers import connection
from schema import API_VERSION, SCHEMA
from store import Store

# What a fresh stand-in grants: the scopes Stockbridge needs.
DEFAULT_SCOPES = ("read_inventory", "write_inventory", "read_orders",
                  "read_merchant_managed_fulfillment_orders", "write_products")
FIRST_SUBSCRIPTION_ID = 1_400_000_000_000
TOPICS = tuple(SCHEMA.get_type("WebhookSubscriptionTopic").values)
FORMATS = ("JSON", "XML")
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


class Registry:
    """The subscriptions (id -> record) and the granted scopes."""

    def __init__(self) -> None:
        self.subscriptions: dict[int, dict] = {}
        self.scopes: list[str] = list(DEFAULT_SCOPES)
        self.next_id = FIRST_SUBSCRIPTION_ID

    def add(self, topic: str, uri: str, fmt: str = "JSON", include_fields=None) -> dict:
        self.next_id += 1
        at = now_iso()
        record = {"id": self.next_id, "topic": topic, "uri": uri, "format": fmt,
                  "include_fields": list(include_fields or []), "created_at": at,
                  "updated_at": at}
        self.subscriptions[self.next_id] = record
        return record

    def find(self, topic: str, uri: str) -> dict | None:
        return next((r for r in self.subscriptions.values()
                     if r["topic"] == topic and r["uri"] == uri), None)


def registry(s: Store) -> Registry:
    """The store's registry, made on first use (the store knows nothing of subscriptions)."""
    found = getattr(s, "webhook_registry", None)
    if found is None:
        found = Registry()
        s.webhook_registry = found
    return found


def topic_enum(value: Any) -> str | None:
    """`INVENTORY_LEVELS_UPDATE` or `inventory_levels/update` -> the enum value, if Shopify has it."""
    if not isinstance(value, str):
        return None
    name = value.strip().upper().replace("/", "_")
    return name if name in TOPICS else None


def address_problem(uri: Any) -> str | None:
    """Why `uri` is not an address a subscription can have, or None. https, or http to loopback
    (the local stack; Shopify itself takes https only)."""
    if not isinstance(uri, str) or not uri.strip():
        return "Address can't be blank"
    if uri.startswith("https://"):
        return None
    if uri.startswith("http://"):
        host = uri[len("http://"):].split("/", 1)[0].rsplit(":", 1)[0]
        return None if host in LOOPBACK else "Address protocol http:// is not supported"
    return "Address is invalid"


def node(record: dict) -> dict:
    return {
        "id": gid("WebhookSubscription", record["id"]),
        "legacyResourceId": str(record["id"]),
        "topic": record["topic"],
        "uri": record["uri"],
        "format": record["format"],
        "includeFields": record["include_fields"],
        "metafieldNamespaces": [],
        "filter": None,
        "apiVersion": {"handle": API_VERSION, "displayName": API_VERSION, "supported": True},
        "createdAt": record["created_at"],
        "updatedAt": record["updated_at"],
    }


def view(record: dict) -> dict:
    """The operator JSON of one subscription."""
    return {"id": record["id"], "gid": gid("WebhookSubscription", record["id"]),
            "topic": record["topic"], "uri": record["uri"], "format": record["format"],
            "include_fields": record["include_fields"], "created_at": record["created_at"]}


# --- GraphQL -------------------------------------------------------------------------------------

def query_fields(s: Store) -> dict:
    """The query root's fields this module answers."""
    reg = registry(s)

    def subscriptions(info, first=None, after=None, topics=None, uri=None, format=None):  # noqa: A002
        rows = sorted(n for n, r in reg.subscriptions.items()
                      if (not topics or r["topic"] in topics) and (uri is None or r["uri"] == uri)
                      and (format is None or r["format"] == format))
        return connection(rows, first, after, lambda n: n,
                          lambda n: node(reg.subscriptions[n]))

    def subscription(info, id):  # noqa: A002
        n = parse_id(id, "WebhookSubscription")
        return node(reg.subscriptions[n]) if n in reg.subscriptions else None

    return {
        "webhookSubscriptions": subscriptions,
        "webhookSubscription": subscription,
        "currentAppInstallation": lambda info: {
            "id": "gid://shopify/AppInstallation/1",
            "accessScopes": [{"handle": h, "description": f"the {h} access scope"}
                             for h in reg.scopes],
        },
    }


def mutation_fields(s: Store) -> dict:
    """The mutation root's fields this module answers."""
    reg = registry(s)

    def create(info, topic, webhookSubscription):  # noqa: N803
        given = webhookSubscription
        uri = given.get("uri")
        problem = address_problem(uri)
        if problem is None and reg.find(topic, uri) is not None:
            problem = "Address for this topic has already been taken"
        if problem is not None:
            return {"webhookSubscription": None,
                    "userErrors": [{"field": ["webhookSubscription", "uri"], "message": problem}]}
        record = reg.add(topic, uri, given.get("format") or "JSON", given.get("includeFields"))
        s.stats["mutations_applied"] += 1
        return {"webhookSubscription": node(record), "userErrors": []}

    def delete(info, id):  # noqa: A002
        n = parse_id(id, "WebhookSubscription")
        if n not in reg.subscriptions:
            return {"deletedWebhookSubscriptionId": None,
                    "userErrors": [{"field": ["id"], "message": "Webhook subscription does not exist"}]}
        del reg.subscriptions[n]
        s.stats["mutations_applied"] += 1
        return {"deletedWebhookSubscriptionId": gid("WebhookSubscription", n), "userErrors": []}

    return {"webhookSubscriptionCreate": create, "webhookSubscriptionDelete": delete}


# --- operator endpoints --------------------------------------------------------------------------

def state(s: Store, _body: Any = None) -> tuple[int, dict]:
    reg = registry(s)
    return 200, {"subscriptions": [view(reg.subscriptions[n]) for n in sorted(reg.subscriptions)],
                 "scopes": list(reg.scopes)}


def seed(s: Store, body: dict) -> tuple[int, dict]:
    """Validates everything first, then replaces (`reset`) or adds subscriptions and sets scopes."""
    reg = registry(s)
    wanted = body.get("subscriptions", [])
    if not isinstance(wanted, list):
        raise OperatorError("subscriptions must be a list of {topic, uri, format?, include_fields?}")
    rows = []
    for i, sub in enumerate(wanted):
        if not isinstance(sub, dict):
            raise OperatorError(f"subscriptions[{i}] must be an object")
        topic = topic_enum(sub.get("topic"))
        if topic is None:
            raise OperatorError(f"subscriptions[{i}].topic {sub.get('topic')!r} is not a "
                                f"WebhookSubscriptionTopic this stand-in has: {', '.join(TOPICS)}")
        problem = address_problem(sub.get("uri"))
        if problem is not None:
            raise OperatorError(f"subscriptions[{i}].uri {sub.get('uri')!r}: {problem}")
        fmt = sub.get("format", "JSON")
        if fmt not in FORMATS:
            raise OperatorError(f"subscriptions[{i}].format must be JSON or XML")
        fields = sub.get("include_fields", [])
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise OperatorError(f"subscriptions[{i}].include_fields must be a list of strings")
        rows.append((topic, sub["uri"], fmt, fields))
    scopes = body.get("scopes")
    if scopes is not None and (not isinstance(scopes, list)
                               or not all(isinstance(h, str) and h for h in scopes)):
        raise OperatorError("scopes must be a list of access scope handles (strings)")
    reset = body.get("reset", False)
    if not isinstance(reset, bool):
        raise OperatorError("reset must be true or false")
    if reset:
        reg.subscriptions.clear()
    for topic, uri, fmt, fields in rows:
        if reg.find(topic, uri) is None:
            reg.add(topic, uri, fmt, fields)
    if scopes is not None:
        reg.scopes = list(dict.fromkeys(scopes))
    return state(s)


def remove(s: Store, body: dict) -> tuple[int, dict]:
    """Removes subscriptions silently (no webhook, no API call): by `id`, or by `topic` (and
    `uri`, when given)."""
    reg = registry(s)
    if "id" in body:
        n = parse_id(body["id"], "WebhookSubscription")
        matched = [n] if n in reg.subscriptions else []
    elif "topic" in body:
        topic = topic_enum(body["topic"])
        if topic is None:
            raise OperatorError(f"topic {body['topic']!r} is not a WebhookSubscriptionTopic")
        matched = [n for n, r in reg.subscriptions.items() if r["topic"] == topic
                   and ("uri" not in body or r["uri"] == body["uri"])]
    else:
        raise OperatorError("name what to remove: {\"id\"} or {\"topic\", \"uri\"?}")
    if not matched:
        raise OperatorError(f"no subscription matches {body}", 404)
    removed = [view(reg.subscriptions.pop(n)) for n in sorted(matched)]
    return 200, {"removed": removed}


POSTS = {
    "/_standin/subscriptions/seed": seed,
    "/_standin/subscriptions/remove": remove,
}
GETS = {"/_standin/subscriptions": state}
