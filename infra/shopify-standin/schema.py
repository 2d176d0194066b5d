"""The API surface: the Admin API version and GraphQL path the stand-in answers on, and the
executable schema built from ``schema.graphql`` (next to this file) when the stand-in starts.
"""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema

API_VERSION = "2026-04"
GRAPHQL_PATH = f"/admin/api/{API_VERSION}/graphql.json"

SDL_PATH = Path(__file__).resolve().with_name("schema.graphql")
SDL = SDL_PATH.read_text(encoding="utf-8")

SCHEMA = build_schema(SDL)
IDEMPOTENT = SCHEMA.get_directive("idempotent")
