"""Shopify's value formats: gids (``gid://shopify/<Kind>/<n>``) and their parsing, opaque
pagination cursors, the timestamp shape of GraphQL fields and webhook bodies, and the
``X-Shopify-Triggered-At`` header's nanosecond shape.
"""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import datetime, timezone
from typing import Any

from graphql import GraphQLError


def now_iso() -> str:
    """Shopify's REST-style timestamp, second precision, with an offset."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def triggered_at() -> str:
    """`X-Shopify-Triggered-At` shape: nanoseconds, `Z`."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


GID_RE = re.compile(r"^gid://shopify/(?P<kind>[A-Za-z]+)/(?P<id>\d+)(\?.*)?$")


def parse_id(value: Any, kind: str) -> int | None:
    """A gid (`gid://shopify/<kind>/<n>`), a decimal string or an int -> int. Never a float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < 2**64 else None
    if not isinstance(value, str):
        return None
    m = GID_RE.match(value)
    if m:
        if m.group("kind") != kind:
            return None
        n = int(m.group("id"))
    elif value.isdigit():
        n = int(value)
    else:
        return None
    return n if 0 < n < 2**64 else None


def gid(kind: str, n: int) -> str:
    return f"gid://shopify/{kind}/{n}"


def encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode()


def decode_cursor(cursor: str | None) -> list | None:
    if cursor is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if isinstance(value, list):
            return value
    except Exception:  # noqa: BLE001 - any malformed cursor is the same error
        pass
    raise GraphQLError("Invalid cursor for current pagination sort.")
