"""``nodeflow nodes [--json]``: every node type with its declared inputs and outputs."""
from __future__ import annotations

import json

from nodeflow.cli.common import environment_from_args

name = "nodes"
help = "list node types with their inputs and outputs"


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--settings", metavar="FILE")


def run(args) -> int:
    registry = environment_from_args(args, quiet=args.json).registry
    if args.json:
        print(json.dumps({"nodes": [t.describe() for t in registry],
                          "errors": [str(e) for e in registry.errors]}, indent=1, default=str))
        return 0
    for category, types in registry.categories().items():
        print(f"{category}")
        for t in types:
            flags = "".join([" [output]" if t.output_node else "", "" if t.deterministic else " [always runs]"])
            print(f"  {t.type_name} ({t.display_name}){flags}")
            for i in t.inputs:
                extra = []
                if i.default is not None and i.is_widget:
                    extra.append(f"default {i.default!r}")
                if i.min is not None or i.max is not None:
                    extra.append(f"{i.min}..{i.max}")
                if i.files:
                    extra.append(f"file in {i.files}")
                elif i.choices is not None and not callable(i.choices):
                    extra.append("one of " + ", ".join(map(str, i.choices[:8])) + (", ..." if len(i.choices) > 8
                                                                                  else ""))
                if i.optional:
                    extra.append("optional")
                print(f"    in  {i.name}: {i.type} ({i.kind})" + (f" - {'; '.join(extra)}" if extra else ""))
            for o in t.outputs:
                print(f"    out {o.name}: {o.type}")
    return 0
