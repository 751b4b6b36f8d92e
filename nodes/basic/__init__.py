"""Basic nodes every workflow may use: notes, reroutes, seeds and primitive values."""
from nodeflow.core.nodedef import BOOLEAN, FLOAT, INT, STRING, Comfy, Input, NodeType, Output, node
from nodeflow.core.socket_types import ANY

PACK_NAME = "basic"

Note = NodeType(type_name="Note", display_name="Note", category="utils", fn=None, ui_only=True,
                comfy=Comfy(aliases=("MarkdownNote",)),
                description="A text note on the canvas; never runs.",
                inputs=(Input("text", STRING, default="", multiline=True, kind="widget"),))


@node("Reroute", display="Reroute", category="utils", comfy=True, inputs=[Input("input", ANY)],
      outputs=[Output("output", ANY)])
def reroute(ctx, input):
    """A dot that routes a wire; passes its input through unchanged."""
    return (input,)


@node("Seed", display="Seed", category="utils", comfy=Comfy(inlined=True),
      inputs=[Input("seed", INT, default=0, min=0, max=2 ** 64 - 1, control_after_generate=True,
                    tooltip="The seed used by this run; 'control after generate' changes it after each run.")],
      outputs=[Output("seed", INT)])
def seed(ctx, seed):
    """A seed value that can drive any seed input; fixed, increment, decrement or randomize after each run."""
    ctx.record(seed=seed)
    return (seed,)


@node("PrimitiveInt", display="Integer", category="utils/primitives",
      comfy=Comfy(controls=("value",), primitive_for=INT),
      inputs=[Input("value", INT, default=0, min=-(2 ** 63), max=2 ** 64 - 1)], outputs=[Output("INT", INT)])
def primitive_int(ctx, value):
    """An integer value to feed into inputs turned into sockets."""
    return (value,)


@node("PrimitiveFloat", display="Float", category="utils/primitives", comfy=Comfy(primitive_for=FLOAT),
      inputs=[Input("value", FLOAT, default=0.0)], outputs=[Output("FLOAT", FLOAT)])
def primitive_float(ctx, value):
    """A number to feed into inputs turned into sockets."""
    return (value,)


@node("PrimitiveString", display="Text", category="utils/primitives",
      comfy=Comfy(aliases=("PrimitiveStringMultiline",), primitive_for=STRING),
      inputs=[Input("value", STRING, default="", multiline=True)], outputs=[Output("STRING", STRING)])
def primitive_string(ctx, value):
    """A text to feed into inputs turned into sockets (a shared prompt, a file prefix)."""
    return (value,)


@node("PrimitiveBoolean", display="Boolean", category="utils/primitives", comfy=Comfy(primitive_for=BOOLEAN),
      inputs=[Input("value", BOOLEAN, default=False)], outputs=[Output("BOOLEAN", BOOLEAN)])
def primitive_boolean(ctx, value):
    """A true/false value to feed into inputs turned into sockets."""
    return (value,)


NODE_TYPES = [Note, reroute, seed, primitive_int, primitive_float, primitive_string, primitive_boolean]
