"""The node search ranks by how often nodes are used (a prior of common ComfyUI nodes, then the user's own adds):
a wire dropped from CLIP offers CLIP Text Encode first, from LATENT the sampler and decoder before Add Noise."""
from __future__ import annotations

from PySide6.QtCore import QPointF

from tests.app.test_import_layout import diffusion_editor  # noqa: F401


def _results(canvas, filter_from):
    canvas.open_search(QPointF(0, 0), filter_from=filter_from)
    names = [e.type_name for e in canvas.search.results()]
    canvas.search.dismiss()
    return names


def test_wire_drop_search_puts_common_nodes_first_and_learns(qtbot, diffusion_editor):
    from nodeflow.core.builders import GraphBuilder

    ed = diffusion_editor
    b = GraphBuilder(ed.registry, ed.graph)
    ckpt = b.add("CheckpointLoaderSimple")
    latent = b.add("EmptyLatentImage")
    canvas = ed.view.canvas
    clip = _results(canvas, (ckpt, "CLIP", "out"))
    assert clip[0] == "CLIPTextEncode" and clip.index("CLIPTextEncode") < clip.index("CLIPSetLastLayer")
    lat = _results(canvas, (latent, "LATENT", "out"))
    assert lat[:2] == ["KSampler", "VAEDecode"] or lat[0] == "KSampler", lat
    if "AddNoise" in lat:
        assert lat.index("AddNoise") > lat.index("VAEDecode")
    for _ in range(12):  # this user sets the clip layer on every workflow
        canvas.open_search(QPointF(0, 0), filter_from=(ckpt, "CLIP", "out"))
        canvas._search_chosen("CLIPSetLastLayer")
    assert _results(canvas, (ckpt, "CLIP", "out"))[0] == "CLIPSetLastLayer"
    assert ed.window.node_usage.counts["CLIPSetLastLayer"] == 12


def test_a_new_user_finds_the_current_controlnet_apply_before_the_deprecated_one():
    from nodeflow.app.node_usage import NodeUsage
    from nodeflow.app.search_popup import SearchEntry, rank
    from nodeflow.core.registry import load_registry

    entries = [SearchEntry.of(t) for t in load_registry(entry_points=False)]
    for query in ("controlnet", "apply controlnet", "controlnet apply"):
        names = [e.type_name for e in rank(query, entries, NodeUsage())]
        assert names.index("ControlNetApplyAdvanced") < names.index("ControlNetApply"), (query, names[:4])
