"""Bulk operations: ``bulkOperationRunQuery`` runs the query at once against the store (no
pagination, every node) and keeps its result as shuffled JSONL, served by the HTTP handler at
``/_standin/bulk/<n>.jsonl``; ``currentBulkOperation`` reads the list kept in the store.
"""

from __future__ import annotations

import json
import random
from typing import Any

from graphql import GraphQLError, execute, parse, validate

from formats import gid, now_iso
from resolvers import BULK, Resolvers, field_resolver
from schema import SCHEMA
from store import Store


def run_bulk_query(s: Store, query: str) -> dict:
    """Runs the query at once (no cost beyond the mutation's) and keeps its JSONL: one line
    per node of each connection, nested nodes with `__parentId`, in a shuffled order, since
    Shopify does not promise any order of the lines."""

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
    BULK.active = True
    try:
        result = execute(SCHEMA, doc, root_value=Resolvers(s).root(), field_resolver=field_resolver)
    finally:
        BULK.active = False
    if result.errors:
        return error(f"Invalid bulk query: {result.errors[0].message}")
    lines: list[dict] = []
    roots = flatten_connections(result.data or {}, None, lines)
    if roots == 0:
        return error("Bulk queries must contain at least one connection.")
    random_order = random.Random(len(s.bulk_operations))
    random_order.shuffle(lines)
    n = len(s.bulk_operations) + 1
    op_id = gid("BulkOperation", n)
    s.bulk_files[n] = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
    stamp = now_iso()
    op = {
        "id": op_id, "status": "COMPLETED", "errorCode": None,
        "objectCount": str(len(lines)), "rootObjectCount": str(roots),
        "url": f"{s.base_url}/_standin/bulk/{n}.jsonl" if lines else None,
        "partialDataUrl": None, "query": query, "createdAt": stamp, "completedAt": stamp,
    }
    s.bulk_operations.append(op)
    s.stats["bulk_operations"] += 1
    return {"bulkOperation": op, "userErrors": []}


def flatten_connections(value: Any, parent_id: str | None, lines: list[dict]) -> int:
    """Appends every node of every connection under `value` to `lines` (without its nested
    connections, with `__parentId` when nested), as a bulk operation's JSONL has them. Returns how
    many top-level nodes there were."""
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
                    flatten_connections(node, node.get("id", parent_id), lines)
            elif isinstance(v, dict):
                roots += flatten_connections(v, parent_id, lines)
    return roots
