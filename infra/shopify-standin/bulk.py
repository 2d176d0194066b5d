"""Bulk operations, run in the background as Shopify runs them: ``bulkOperationRunQuery``
validates the query and answers at once with the operation ``CREATED``; a thread then runs the
query (no pagination, every node) against a snapshot of the store taken at the start, reporting
``RUNNING`` with a growing ``objectCount`` while it flattens the result, and ends ``COMPLETED``
with the ``url`` of its shuffled JSONL (served by the HTTP handler at
``/_standin/bulk/<n>.jsonl``), or ``FAILED`` with ``errorCode`` ``INTERNAL_SERVER_ERROR`` when
the query fails while it runs. ``currentBulkOperation`` reads the list kept in the store.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import threading
from typing import Any

from graphql import GraphQLError, execute, parse, validate
from graphql.language import FieldNode, visit, Visitor

from formats import gid, now_iso
from resolvers import BULK, Resolvers, field_resolver
from schema import SCHEMA
from store import Store

log = logging.getLogger("shopify-standin")

# The store's tables a bulk query can read, copied (each entry one level deep) when it starts.
SNAPSHOT_TABLES = ("items", "locations", "levels", "orders", "fulfillment_orders",
                   "fulfillments", "refunds", "metafields")
# How many JSONL lines between two updates of the running operation's objectCount.
PROGRESS_EVERY = 10_000


def run_bulk_query(s: Store, query: str) -> dict:
    """Validates the query, records the operation as ``CREATED`` and starts its run in a thread;
    answers at once (no cost beyond the mutation's). Called with the store's lock held."""

    def error(message: str, code: str = "INVALID") -> dict:
        return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": message, "code": code}]}

    if any(op["status"] in ("CREATED", "RUNNING") for op in s.bulk_operations):
        return error("A bulk query operation for this app and shop is already in progress.",
                     "OPERATION_IN_PROGRESS")
    try:
        doc = parse(query)
    except GraphQLError as e:
        return error(f"Invalid bulk query: {e.message}")
    problems = validate(SCHEMA, doc)
    if problems:
        return error(f"Invalid bulk query: {problems[0].message}")
    shape = connection_shape(doc)
    if shape == "paginated":
        return error("Invalid bulk query: Bulk queries cannot contain connections with pagination arguments")
    if shape == "none":
        return error("Bulk queries must contain at least one connection.")
    n = len(s.bulk_operations) + 1
    op = {
        "id": gid("BulkOperation", n), "status": "CREATED", "errorCode": None,
        "objectCount": "0", "rootObjectCount": "0", "url": None,
        "partialDataUrl": None, "query": query, "createdAt": now_iso(), "completedAt": None,
    }
    s.bulk_operations.append(op)
    s.stats["bulk_operations"] += 1
    answer = dict(op)
    snapshot = snapshot_of(s)
    threading.Thread(target=run_in_background, args=(s, snapshot, op, doc, n),
                     name=f"bulk-{n}", daemon=True).start()
    return {"bulkOperation": answer, "userErrors": []}


def connection_shape(doc) -> str:
    """``"paginated"`` when a connection field (one selecting ``edges`` or ``nodes``) carries
    ``first``/``last``/``after``/``before``, ``"none"`` when the query selects no connection,
    else ``"ok"``: what Shopify refuses when the operation is created."""
    found = {"connection": False, "paginated": False}

    class Connections(Visitor):
        def enter_field(self, node: FieldNode, *_):
            selected = {f.name.value for f in (node.selection_set.selections if node.selection_set else [])
                        if isinstance(f, FieldNode)}
            if selected & {"edges", "nodes"}:
                found["connection"] = True
                if {a.name.value for a in node.arguments or []} & {"first", "last", "after", "before"}:
                    found["paginated"] = True

    visit(doc, Connections())
    if found["paginated"]:
        return "paginated"
    return "ok" if found["connection"] else "none"


def snapshot_of(s: Store) -> Store:
    """A copy of the store the query can read without the lock while requests change the store:
    the tables copied, each entry one level deep (a level's quantities, an item's fields)."""
    snap = copy.copy(s)
    for table in SNAPSHOT_TABLES:
        setattr(snap, table, {k: dict(v) if isinstance(v, dict) else v
                              for k, v in getattr(s, table).items()})
    return snap


def run_in_background(s: Store, snapshot: Store, op: dict, doc, n: int) -> None:
    """Runs the query on `snapshot` and writes the outcome into `op` (under the store's lock)."""
    with s.lock:
        op["status"] = "RUNNING"
    try:
        BULK.active = True
        try:
            result = execute(SCHEMA, doc, root_value=Resolvers(snapshot).root(),
                             field_resolver=field_resolver)
        finally:
            BULK.active = False
        if result.errors:
            raise RuntimeError(result.errors[0].message)

        def progress(count: int) -> None:
            with s.lock:
                op["objectCount"] = str(count)

        lines: list[dict] = []
        roots = flatten_connections(result.data or {}, None, lines, progress)
        random.Random(n - 1).shuffle(lines)
        data = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
    except Exception as e:  # noqa: BLE001 - reported as the operation's failure, and logged
        log.exception("bulk operation %s failed", op["id"])
        with s.lock:
            op.update(status="FAILED", errorCode="INTERNAL_SERVER_ERROR")
        return
    with s.lock:
        s.bulk_files[n] = data
        op.update(status="COMPLETED", objectCount=str(len(lines)), rootObjectCount=str(roots),
                  url=f"{s.base_url}/_standin/bulk/{n}.jsonl" if lines else None,
                  completedAt=now_iso())


def flatten_connections(value: Any, parent_id: str | None, lines: list[dict], progress=None) -> int:
    """Appends every node of every connection under `value` to `lines` (without its nested
    connections, with `__parentId` when nested), as a bulk operation's JSONL has them; calls
    `progress` with the count every PROGRESS_EVERY lines. Returns how many top-level nodes
    there were."""
    roots = 0
    if isinstance(value, dict):
        for field, v in value.items():
            if isinstance(v, dict) and isinstance(v.get("edges"), list):
                for edge in v["edges"]:
                    node = edge.get("node") or {}
                    line = {k: x for k, x in node.items()
                            if not (isinstance(x, dict) and isinstance(x.get("edges"), list))}
                    if parent_id is not None:
                        line["__parentId"] = parent_id
                    else:
                        roots += 1
                    lines.append(line)
                    if progress is not None and len(lines) % PROGRESS_EVERY == 0:
                        progress(len(lines))
                    flatten_connections(node, node.get("id", parent_id), lines, progress)
            elif isinstance(v, dict):
                roots += flatten_connections(v, parent_id, lines, progress)
    return roots
