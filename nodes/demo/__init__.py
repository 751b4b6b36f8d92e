"""The demo pack: NodeFlow's built-in shapes model (data, judge, training) and teaching nodes.

Only ``nodes`` is imported when the pack is declared; the training modules load when used.
"""
from nodes.demo import nodes as _nodes

PACK_NAME = "demo"
NODE_TYPES = list(_nodes.NODE_TYPES)
