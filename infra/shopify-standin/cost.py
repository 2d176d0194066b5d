"""Calculated query cost, roughly by Shopify's published rules: 0 per scalar/enum, 1 per object (or
list of objects), a connection 2 + ``first`` x (cost of one node), each mutation field 10. The
requested cost is computed from the document before execution; the actual cost from the result
(connections counted by what they returned). The HTTP handler charges them to the store's bucket.
"""

from __future__ import annotations

from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType
from graphql.execution.values import get_argument_values
from graphql.language import (
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
)

from schema import SCHEMA

MUTATION_COST = 10


def unwrap(t):
    while isinstance(t, (GraphQLNonNull, GraphQLList)):
        t = t.of_type
    return t


def collect_fields(selection_set, fragments) -> list[FieldNode]:
    out = []
    if selection_set is None:
        return out
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            out.append(sel)
        elif isinstance(sel, InlineFragmentNode):
            out.extend(collect_fields(sel.selection_set, fragments))
        elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
            out.extend(collect_fields(fragments[sel.name.value].selection_set, fragments))
    return out


def selection_cost(selection_set, parent, fragments, variables, data) -> int:
    """Cost of a selection set on `parent`. With `data` (the result) connections count what was
    returned (actual cost); without, what `first` asks for (requested cost)."""
    total = 0
    for field in collect_fields(selection_set, fragments):
        if field.name.value.startswith("__"):
            continue
        fdef = parent.fields.get(field.name.value)
        if fdef is None:
            continue
        rtype = unwrap(fdef.type)
        if not isinstance(rtype, GraphQLObjectType):
            continue
        key = field.alias.value if field.alias else field.name.value
        sub = data.get(key) if isinstance(data, dict) else None
        if rtype.name.endswith("Connection"):
            node_type = unwrap(rtype.fields["nodes"].type)
            inner = []
            for f in collect_fields(field.selection_set, fragments):
                if f.name.value == "nodes":
                    inner.append(f.selection_set)
                elif f.name.value == "edges":
                    for g in collect_fields(f.selection_set, fragments):
                        if g.name.value == "node":
                            inner.append(g.selection_set)
            per_node = 1 + sum(selection_cost(s, node_type, fragments, variables, None) for s in inner)
            if data is not None:
                if isinstance(sub, dict):
                    n = len(sub.get("nodes") or sub.get("edges") or [])
                else:
                    n = 0
            else:
                try:
                    args = get_argument_values(fdef, field, variables)
                except Exception:  # noqa: BLE001 - invalid args fail in execution anyway
                    args = {}
                n = args.get("first") or 0
            total += 2 + n * per_node
        else:
            child = sub[0] if isinstance(sub, list) and sub else sub
            if data is not None and sub is None:
                total += 1
                continue
            total += 1 + selection_cost(field.selection_set, rtype, fragments, variables, child)
    return total


def query_cost(doc, operation: OperationDefinitionNode, variables, data=None) -> int:
    fragments = {d.name.value: d for d in doc.definitions if hasattr(d, "name") and d.name
                 and not isinstance(d, OperationDefinitionNode)}
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * len(collect_fields(operation.selection_set, fragments))
    root = SCHEMA.query_type
    return selection_cost(operation.selection_set, root, fragments, variables, data)
