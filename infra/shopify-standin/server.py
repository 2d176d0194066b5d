"""The HTTP side: routing, JSON in and out, the GraphQL endpoint's pipeline (token check, parse,
validate against the schema, pick the operation, coerce variables, charge requested cost to the
bucket or throttle, execute, refund the difference to the actual cost, the ``extensions.cost``
and ``extensions.search`` answer), the stats, bulk JSONL files and bucket reset; the other
operator endpoints under ``/_standin/`` are in endpoints.py.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from graphql import GraphQLError, execute, parse, validate
from graphql.execution.values import get_variable_values
from graphql.language import OperationDefinitionNode, OperationType

import endpoints
from cost import query_cost
from mutations import Mutations
from resolvers import field_resolver
from schema import GRAPHQL_PATH, SCHEMA
from store import Store

log = logging.getLogger("shopify-standin")


class Handler(BaseHTTPRequestHandler):
    server_version = "ShopifyStandin/1.0"
    protocol_version = "HTTP/1.1"
    store: Store

    def log_message(self, fmt, *args):  # noqa: N802 - stdlib name
        log.debug("%s " + fmt, self.address_string(), *args)

    def send_json(self, status: int, body: Any, headers: dict | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw or b"null")

    def do_GET(self):  # noqa: N802
        s = self.store
        with s.lock:
            s.stats["requests"] += 1
            answer = self.guarded(lambda: endpoints.handle_get(s, self.path.split("?", 1)[0]))
            if answer is not None:
                return self.send_json(*answer)
            m = re.match(r"^/_standin/bulk/(\d+)\.jsonl$", self.path)
            if m and int(m.group(1)) in s.bulk_files:
                data = s.bulk_files[int(m.group(1))]
                self.send_response(200)
                self.send_header("Content-Type", "application/jsonl")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if self.path == "/_standin/stats":
                s.refill()
                return self.send_json(200, {
                    **s.stats,
                    "bucket": s.throttle_status(),
                    "deliveries": dict(s.delivery_counts),
                    "recent_deliveries": s.deliveries[-100:],
                })
        self.send_json(404, {"errors": "Not Found"})

    def do_POST(self):  # noqa: N802
        s = self.store
        path = self.path.split("?", 1)[0]
        try:
            body = self.read_json()
        except (ValueError, UnicodeDecodeError):
            with s.lock:
                s.stats["requests"] += 1
            return self.send_json(400, {"errors": "Invalid JSON in request body"})
        with s.lock:
            s.stats["requests"] += 1
            if path == GRAPHQL_PATH:
                return self.graphql(body)
            answer = self.guarded(lambda: endpoints.handle_post(s, path, body))
            if answer is not None:
                return self.send_json(*answer)
            if path == "/_standin/reset-bucket":
                s.available, s.bucket_at = s.maximum, time.monotonic()
                return self.send_json(200, {"bucket": s.throttle_status()})
        self.send_json(404, {"errors": "Not Found"})

    def guarded(self, handle):
        """An operator endpoint's answer; a bug in the stand-in answers 500 with what failed."""
        try:
            return handle()
        except Exception as e:  # noqa: BLE001 - reported to the caller, not swallowed
            log.exception("operator endpoint %s failed", self.path)
            return 500, {"error": f"the stand-in failed: {type(e).__name__}: {e}"}

    # --- GraphQL --------------------------------------------------------------------------------

    def graphql(self, body: Any) -> None:
        s = self.store
        token = self.headers.get("X-Shopify-Access-Token")
        if not token or not hmac.compare_digest(token, s.args.token):
            s.stats["unauthorized"] += 1
            return self.send_json(401, {
                "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
        s.stats["graphql_requests"] += 1
        s.refill()

        def reply(payload: dict, requested: int | None, actual: int | None) -> None:
            payload.setdefault("extensions", {})["cost"] = {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": s.throttle_status(),
            }
            self.send_json(200, payload)

        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return self.send_json(400, {"errors": {"query": "Required parameter missing or invalid"}})
        variables = body.get("variables") or {}
        try:
            doc = parse(body["query"])
        except GraphQLError as e:
            return reply({"errors": [e.formatted]}, 0, 0)
        problems = validate(SCHEMA, doc)
        if problems:
            return reply({"errors": [p.formatted for p in problems]}, 0, 0)
        operations = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
        name = body.get("operationName")
        if name:
            operations = [o for o in operations if o.name and o.name.value == name]
        if len(operations) != 1:
            return reply({"errors": [{"message": "An operation name is required (or exactly one operation)."}]}, 0, 0)
        operation = operations[0]
        try:
            coerced = get_variable_values(SCHEMA, operation.variable_definitions or [], variables)
        except Exception as e:  # noqa: BLE001
            return reply({"errors": [{"message": str(e)}]}, 0, 0)
        if isinstance(coerced, list):
            return reply({"errors": [e.formatted for e in coerced]}, 0, 0)
        requested = query_cost(doc, operation, coerced)
        if requested > s.maximum:
            return reply({"errors": [{
                "message": f"Query cost is {requested}, which exceeds the single query max cost limit ({int(s.maximum)}).",
                "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": int(s.maximum)},
            }]}, requested, None)
        if requested > s.available:
            s.stats["throttled"] += 1
            return reply({"errors": [{"message": "Throttled", "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits"}}]}, requested, None)
        s.available -= requested
        s.observe()
        resolvers = Mutations(s)
        root = resolvers.mutation_root() if operation.operation == OperationType.MUTATION else resolvers.root()
        context: dict = {"search": []}
        result = execute(SCHEMA, doc, root_value=root, variable_values=variables,
                         operation_name=name, field_resolver=field_resolver, context_value=context)
        actual = query_cost(doc, operation, coerced, data=result.data or {})
        if operation.operation == OperationType.MUTATION:
            actual = requested
        actual = min(actual, requested)
        s.available = min(s.maximum, s.available + (requested - actual))
        payload: dict = {"data": result.data}
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
        if context["search"]:
            payload["extensions"] = {"search": context["search"]}
        reply(payload, requested, actual)
