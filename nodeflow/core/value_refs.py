"""``NODE.FIELD`` as people type it on a command line (``--set``, ``--sweep``): which node's which value.

NODE is a node id, a unique title or a unique type name (``Graph.find``); FIELD a value (widget) input of its type.
"""
from __future__ import annotations


class ValueRefError(ValueError):
    """What is wrong with a reference, without the flag it came with (the caller prefixes it)."""


def widget_target(graph, registry, ref: str, field: str):
    """(node, input) for ``ref.field``, or ValueRefError saying what matched and which values exist."""
    matches = graph.find(ref)
    if not matches:
        raise ValueRefError(f"no node with id, title or type {ref!r}")
    if len(matches) > 1:
        ids = ", ".join(f"{n.id} '{n.label}'" for n in matches)
        raise ValueRefError(f"{ref!r} matches several nodes ({ids}); use a node id")
    node = matches[0]
    nt = registry.get(node.type)
    inp = nt.input(field) if nt else None
    if inp is None or not inp.is_widget:
        names = ", ".join(i.name for i in (nt.widget_inputs if nt else ()))
        raise ValueRefError(f"node {node.id} '{node.label}' has no value {field!r}"
                            + (f" (values: {names})" if names else ""))
    return node, inp
