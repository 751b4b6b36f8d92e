"""Counting test nodes for the engine tests: each records how often it ran."""
from __future__ import annotations

import time
from collections import Counter

from nodeflow.core.context import NodeError
from nodeflow.core.nodedef import BOOLEAN, FLOAT, INT, STRING, Input, Output, node
from nodeflow.core.registry import Registry

SOCKET_TYPES = {"BLOB": ("#ffffff", "test bytes")}
CALLS: Counter = Counter()


@node("Const", category="test", inputs=[Input("value", INT, default=1, min=-1000, max=1000)],
      outputs=[Output("INT", INT)])
def const(ctx, value):
    CALLS["Const"] += 1
    return (value,)


@node("Add", category="test", inputs=[Input("a", INT, kind="socket"), Input("b", INT, default=0)],
      outputs=[Output("INT", INT)])
def add(ctx, a, b):
    CALLS["Add"] += 1
    return (a + b,)


@node("Scale", category="test", inputs=[Input("x", INT, kind="socket"), Input("factor", FLOAT, default=1.0, min=0,
                                                                          max=10)],
      outputs=[Output("FLOAT", FLOAT)])
def scale(ctx, x, factor):
    CALLS["Scale"] += 1
    return (x * factor,)


@node("Sink", category="test", output_node=True,
      inputs=[Input("x", INT, kind="socket"), Input("label", STRING, default="out"),
              Input("mode", "COMBO", default="plain", choices=("plain", "fancy"))])
def sink(ctx, x, label, mode):
    CALLS["Sink"] += 1
    ctx.show(text=f"{label}={x}")
    ctx.record(x=x)
    return None


@node("FloatSink", category="test", output_node=True, inputs=[Input("x", FLOAT, kind="socket")])
def float_sink(ctx, x):
    CALLS["FloatSink"] += 1
    ctx.show(text=str(x))


@node("Random", category="test", deterministic=False, inputs=[], outputs=[Output("INT", INT)])
def random_node(ctx):
    CALLS["Random"] += 1
    return (CALLS["Random"],)


@node("Slow", category="test", inputs=[Input("x", INT, kind="socket"), Input("steps", INT, default=5, min=1,
                                                                           max=1000)],
      outputs=[Output("INT", INT)])
def slow(ctx, x, steps):
    CALLS["Slow"] += 1
    for i in range(steps):
        CALLS["Slow.step"] += 1
        time.sleep(0.002)
        ctx.progress(i + 1, steps)
    return (x,)


@node("Fail", category="test", inputs=[Input("x", INT, kind="socket"), Input("flag", BOOLEAN, default=True)],
      outputs=[Output("INT", INT)])
def fail(ctx, x, flag):
    CALLS["Fail"] += 1
    if flag:
        raise NodeError("the flag says fail", field="flag")
    return (x,)


@node("Blob", category="test", inputs=[Input("kb", INT, default=100, min=1, max=100000),
                                       Input("tag", INT, default=0)],
      outputs=[Output("BLOB", "BLOB")])
def blob(ctx, kb, tag):
    CALLS["Blob"] += 1
    return (bytes(kb * 1024),)


@node("BlobSink", category="test", output_node=True, inputs=[Input("blob", "BLOB")])
def blob_sink(ctx, blob):
    CALLS["BlobSink"] += 1


@node("ReadFile", category="test", inputs=[Input("name", "COMBO", files="input")], outputs=[Output("INT", INT)])
def read_file(ctx, name):
    CALLS["ReadFile"] += 1
    return (len(ctx.settings.folders.resolve("input", name).read_bytes()),)


NODE_TYPES = TEST_TYPES = [const, add, scale, sink, float_sink, random_node, slow, fail, blob, blob_sink, read_file]


def make_registry(with_builtin: bool = False) -> Registry:
    from nodeflow.core.registry import load_registry

    import sys

    reg = load_registry(builtin=with_builtin, entry_points=False)
    assert reg.add_module(sys.modules[__name__], "testpack") == len(TEST_TYPES), reg.errors
    return reg
