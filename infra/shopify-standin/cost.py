"""Calculated query cost by Shopify's published default rules: 0 per scalar/enum, 1 per object (or
list of objects), an interface or union the maximum over its possible types' selections, a
connection 2 + ``first`` x (cost of one node), ``nodes(ids:)`` the cost of one node per id, each
mutation field 10. The requested cost is computed from the document before execution; the actual
cost from the result (connections and ``nodes`` counted by what they returned, each node by its
own selection). The HTTP handler charges them to the store's bucket.
"""

from __future__ import annotations

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    is_abstract_type,
)
from graphql.execution.values import get_argument_values
from graphql.language import (
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
)

from formats import GID_RE
from schema import SCHEMA

MUTATION_COST = 10


def unwrap(t):
    while isinstance(t, (GraphQLNonNull, GraphQLList)):
        t = t.of_type
    return t


def applies(condition, object_type) -> bool:
    """Whether a fragment with this type condition applies to `object_type` (None: any)."""
    if condition is None or object_type is None:
        return True
    name = condition.name.value
    return name == object_type.name or any(i.name == name for i in getattr(object_type, "interfaces", []))


def collect_fields(selection_set, fragments, object_type=None) -> list[FieldNode]:
    out = []
    if selection_set is None:
        return out
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            out.append(sel)
        elif isinstance(sel, InlineFragmentNode):
            if applies(sel.type_condition, object_type):
                out.extend(collect_fields(sel.selection_set, fragments, object_type))
        elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
            fragment = fragments[sel.name.value]
            if applies(fragment.type_condition, object_type):
                out.extend(collect_fields(fragment.selection_set, fragments, object_type))
    return out


def key_of(field: FieldNode) -> str:
    return field.alias.value if field.alias else field.name.value


def arguments(fdef, field, variables) -> dict:
    try:
        return get_argument_values(fdef, field, variables)
    except Exception:  # noqa: BLE001 - invalid args fail in execution anyway
        return {}


def selection_cost(selection_set, parent, fragments, variables, data) -> int:
    """Cost of a selection set on `parent`. With `data` (the result) connections count what was
    returned (actual cost); without, what `first` asks for (requested cost)."""
    if is_abstract_type(parent):
        types = SCHEMA.get_possible_types(parent)
        if isinstance(data, dict):
            m = GID_RE.match(str(data.get("id", "")))
            named = [t for t in types if m and t.name == m.group("kind")]
            if named:
                return selection_cost(selection_set, named[0], fragments, variables, data)
        return max((selection_cost(selection_set, t, fragments, variables, data) for t in types), default=0)
    total = 0
    for field in collect_fields(selection_set, fragments, parent):
        if field.name.value.startswith("__"):
            continue
        fdef = parent.fields.get(field.name.value)
        if fdef is None:
            continue
        rtype = unwrap(fdef.type)
        if not (isinstance(rtype, GraphQLObjectType) or is_abstract_type(rtype)):
            continue
        sub = data.get(key_of(field)) if isinstance(data, dict) else None
        if isinstance(rtype, GraphQLObjectType) and rtype.name.endswith("Connection"):
            total += connection_cost(field, fdef, rtype, fragments, variables, data, sub)
        elif "ids" in fdef.args:
            # nodes(ids:): one node's cost per id asked for (or per entry returned).
            if data is None:
                ids = arguments(fdef, field, variables).get("ids") or []
                total += len(ids) * (1 + selection_cost(field.selection_set, rtype, fragments, variables, None))
            else:
                for node in sub if isinstance(sub, list) else []:
                    total += 1 + (selection_cost(field.selection_set, rtype, fragments, variables, node)
                                  if node is not None else 0)
        else:
            child = sub[0] if isinstance(sub, list) and sub else sub
            if data is not None and sub is None:
                total += 1
                continue
            total += 1 + selection_cost(field.selection_set, rtype, fragments, variables, child)
    return total


def connection_cost(field, fdef, rtype, fragments, variables, data, sub) -> int:
    node_type = unwrap(rtype.fields["nodes"].type)
    edge_type = unwrap(rtype.fields["edges"].type)
    inner = []  # (selection set of a node, how to get the returned nodes it applies to)
    for f in collect_fields(field.selection_set, fragments, rtype):
        if f.name.value == "nodes":
            inner.append((f.selection_set, lambda c, k=key_of(f): c.get(k) or []))
        elif f.name.value == "edges":
            for g in collect_fields(f.selection_set, fragments, edge_type):
                if g.name.value == "node":
                    inner.append((g.selection_set, lambda c, k=key_of(f), gk=key_of(g): [
                        e.get(gk) for e in c.get(k) or [] if isinstance(e, dict)]))
    if data is None:
        first = arguments(fdef, field, variables).get("first") or 0
        per_node = 1 + sum(selection_cost(s, node_type, fragments, variables, None) for s, _ in inner)
        return 2 + first * per_node
    if not isinstance(sub, dict):
        return 2
    count = max((len(nodes(sub)) for _, nodes in inner), default=0)
    return 2 + count + sum(selection_cost(s, node_type, fragments, variables, node)
                           for s, nodes in inner for node in nodes(sub))


def query_cost(doc, operation: OperationDefinitionNode, variables, data=None) -> int:
    fragments = {d.name.value: d for d in doc.definitions if hasattr(d, "name") and d.name
                 and not isinstance(d, OperationDefinitionNode)}
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * len(collect_fields(operation.selection_set, fragments))
    root = SCHEMA.query_type
    return selection_cost(operation.selection_set, root, fragments, variables, data)
