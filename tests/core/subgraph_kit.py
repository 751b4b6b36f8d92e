"""A two-level nested subgraph used twice, built from workflows/default.json with the subgraph operations, and its
unpacked twin built by copying nodes: the fixtures of the subgraph tests (core and editor)."""
from __future__ import annotations

from nodeflow.core import operations as ops
from nodeflow.core.graph import Graph, Link, Node
from nodeflow.core.subgraph import INPUTS_NODE_ID, Port, SubgraphTypes
from nodeflow.core.subgraph_ops import InSubgraph, SetSubgraphPorts, convert_to_subgraph
from nodeflow.formats import workflow
from tests.conftest import REPO

CKPT, POS, NEG, LATENT, SAMPLER, DECODE, SAVE = 1, 2, 3, 4, 5, 6, 7
STEPS = 4


def default_graph(reg) -> Graph:
    g, _ = workflow.load(REPO / "workflows" / "default.json", reg)
    g.apply(ops.SetValue(SAMPLER, "steps", STEPS))
    g.apply(ops.SetValue(SAVE, "filename_prefix", "A"))
    return g


def expose(g: Graph, def_id: str, port: Port, node_id: int, input_name: str) -> None:
    """Add a value input to a definition, feeding an inner input."""
    d = g.subgraphs[def_id]
    g.apply(SetSubgraphPorts(def_id, tuple(d.inputs) + (port,), tuple(d.outputs)))
    g.apply(InSubgraph(def_id, ops.AddLink(Link(d.graph.new_link_id(), INPUTS_NODE_ID, port.name, node_id,
                                                 input_name))))


def nested(reg, seeds=(1, 2)) -> tuple[Graph, dict]:
    """Top: Load Checkpoint -> two instances of "Generate" -> Save Image A / B. "Generate" holds the prompts, the
    empty latent and an instance of "Sampler" (KSampler + VAE Decode); the seed is exposed through both levels
    and set on each top-level instance."""
    g = default_graph(reg)
    types = SubgraphTypes(reg, g)
    op, sampler, s_inst = convert_to_subgraph(g, [SAMPLER, DECODE], types, name="Sampler")
    g.apply(op)
    expose(g, sampler, Port("seed", "INT"), SAMPLER, "seed")
    op, gen, a = convert_to_subgraph(g, [POS, NEG, LATENT, s_inst], types, name="Generate")
    g.apply(op)
    expose(g, gen, Port("seed", "INT"), s_inst, "seed")
    b = g.new_node_id()
    g.apply(ops.AddNode(Node(b, gen, "Generate B", (300.0, 700.0))))
    save_b = b + 1
    g.apply(ops.AddNode(Node(save_b, "SaveImage", "Save B", (1400.0, 700.0), values={"filename_prefix": "B"})))
    for out, port in (("CLIP", "clip"), ("MODEL", "model"), ("VAE", "vae")):
        g.apply(ops.connect(g, CKPT, out, b, port))
    g.apply(ops.connect(g, b, "IMAGE", save_b, "images"))
    g.apply(ops.SetNodeField(a, "title", "Generate A"))
    g.apply(ops.SetValue(a, "seed", seeds[0]))
    g.apply(ops.SetValue(b, "seed", seeds[1]))
    return g, {"sampler": sampler, "generate": gen, "a": a, "b": b, "sampler_instance": s_inst}


def twin(reg, seeds=(1, 2)) -> Graph:
    """The same pipeline twice, as plain nodes."""
    g = default_graph(reg)
    g.apply(ops.SetValue(SAMPLER, "seed", seeds[0]))
    part = g.subgraph([POS, NEG, LATENT, SAMPLER, DECODE, SAVE])
    batch, ids = ops.add_nodes_with_links(g, list(part.nodes.values()), list(part.links.values()), (0, 700),
                                          feeding=[l for l in g.links.values() if l.src == CKPT])
    g.apply(batch)
    g.apply(ops.SetValue(ids[SAMPLER], "seed", seeds[1]))
    g.apply(ops.SetValue(ids[SAVE], "filename_prefix", "B"))
    return g
