"""Image and mask nodes that are no output nodes show their result on their card (ui "previews"), which the viewer
can open, but the gallery (output pictures) stays as it was."""
from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtGui import QImage

import nodes.diffusion.nodes_image as nodes_image
import nodes.diffusion.nodes_mask as nodes_mask
import nodes.diffusion.types as diffusion_types
from nodeflow.core.builders import GraphBuilder
from tests.app.window_kit import CanvasSpy, build_editor, close_editor, wait_run, window_registry


def test_a_mask_node_previews_its_output_on_its_card(qtbot, settings):
    reg = window_registry()
    types = [*nodes_mask.NODE_TYPES, nodes_image.preview_image]
    pack = SimpleNamespace(SOCKET_TYPES=diffusion_types.SOCKET_TYPES, NODE_TYPES=types)
    assert reg.add_module(pack, "masks") == len(types), reg.errors
    ed = build_editor(settings, reg)
    try:
        ed.window.show()
        b = GraphBuilder(reg, ed.graph)
        solid = b.add("SolidMask", value=0.5, width=24, height=16)
        inverted = b.add("InvertMask")
        b.link(solid, "MASK", inverted, "mask")
        to_image = b.add("MaskToImage")
        b.link(inverted, "MASK", to_image, "mask")
        preview = b.add("PreviewImage")
        b.link(to_image, "IMAGE", preview, "images")
        spy = CanvasSpy(ed.view.canvas)
        job = ed.window.run_current()
        wait_run(qtbot, ed, job)
        assert job.status == "ok", job.report
        shown = [args for args in spy.calls["set_node_images"] if args[0] == inverted]
        assert shown and isinstance(shown[-1][1][0], QImage)
        assert (shown[-1][1][0].width(), shown[-1][1][0].height()) == (24, 16)
        assert shown[-1][1][0].pixelColor(0, 0).red() in (127, 128)
        assert [a[0] for a in spy.calls["set_node_images"]].count(to_image) == 1
        # the gallery has Preview Image's output picture only: a card's preview is no output picture
        assert [e.node_title for e in ed.window.gallery.entries] == ["Preview Image"]
        assert (ed.doc.uid, inverted) in ed.window.run_control.node_images
    finally:
        close_editor(ed)


def test_the_node_search_finds_each_new_node_by_comfyui_name_and_display_name():
    from nodeflow.app.panels.library import matches
    from nodes.diffusion import nodes_image_ops, nodes_latent_ops, nodes_upscale

    types = [*nodes_image_ops.NODE_TYPES, *nodes_mask.NODE_TYPES, *nodes_latent_ops.NODE_TYPES,
             *nodes_upscale.NODE_TYPES]
    assert len(types) == 36
    for t in types:
        assert matches(t.type_name, t) and matches(t.display_name, t), t.type_name
    by_display = {t.display_name: t.type_name for t in types}
    assert by_display["Upscale Image (using Model)"] == "ImageUpscaleWithModel"
    assert by_display["VAE Encode (for Inpainting)"] == "VAEEncodeForInpaint"
