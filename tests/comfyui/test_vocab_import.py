"""The image / mask / latent / upscale nodes read and write ComfyUI files one to one: Load Image (as Mask) with its
upload widget after the channel (as ComfyUI's frontend saves it: [image, channel, "image"]), an old Scale Image to
Total Pixels without resolution_steps (ComfyUI's default 1), and the socket types."""
from nodeflow.formats.comfyui import export_api, export_ui, import_ui
from tests.comfyui.build import node, workflow


def test_load_image_mask_and_total_pixels_round_trip(registry, settings):
    wf = workflow([
        node(1, "LoadImageMask", outputs=[("MASK", "MASK")], wv=["alpha mask.png", "red", "image"]),
        node(2, "LoadImage", outputs=[("IMAGE", "IMAGE"), ("MASK", "MASK")], wv=["pic.png", "image"]),
        node(3, "ImageScaleToTotalPixels", inputs=[("image", "IMAGE", 2)], outputs=[("IMAGE", "IMAGE")],
             wv=["nearest-exact", 0.25]),
        node(4, "ImageCompositeMasked", inputs=[("destination", "IMAGE", 3), ("source", "IMAGE", 4),
                                                ("mask", "MASK", 1)], outputs=[("IMAGE", "IMAGE")],
             wv=[8, 16, True]),
        node(5, "UpscaleModelLoader", outputs=[("UPSCALE_MODEL", "UPSCALE_MODEL")], wv=["x4.pth"]),
        node(6, "ImageUpscaleWithModel", inputs=[("upscale_model", "UPSCALE_MODEL", 5), ("image", "IMAGE", 6)],
             outputs=[("IMAGE", "IMAGE")]),
        node(7, "PreviewImage", inputs=[("images", "IMAGE", 7)]),
    ], [[2, 2, 0, 3, 0, "IMAGE"], [3, 3, 0, 4, 0, "IMAGE"], [4, 2, 0, 4, 1, "IMAGE"], [1, 1, 0, 4, 2, "MASK"],
        [5, 5, 0, 6, 0, "UPSCALE_MODEL"], [6, 4, 0, 6, 1, "IMAGE"], [7, 6, 0, 7, 0, "IMAGE"]])
    graph, report = import_ui(wf, registry, settings)
    assert not report.placeholders
    assert graph.nodes[1].values == {"image": "alpha mask.png", "channel": "red"}
    assert graph.nodes[3].values == {"upscale_method": "nearest-exact", "megapixels": 0.25, "resolution_steps": 1}
    assert graph.nodes[4].values == {"x": 8, "y": 16, "resize_source": True}
    api = export_api(graph, registry)
    assert api["1"]["class_type"] == "LoadImageMask"
    assert api["1"]["inputs"] == {"image": "alpha mask.png", "channel": "red"}
    assert api["3"]["inputs"]["resolution_steps"] == 1 and api["4"]["inputs"]["mask"] == ["1", 0]
    assert api["6"]["inputs"] == {"upscale_model": ["5", 0], "image": ["4", 0]}
    ui = export_ui(graph, registry)
    by_id = {n["id"]: n for n in ui["nodes"]}
    assert by_id[1]["widgets_values"] == ["alpha mask.png", "red", "image"]
    assert by_id[3]["widgets_values"] == ["nearest-exact", 0.25, 1]
    assert registry.socket_types.is_known("UPSCALE_MODEL") and registry.socket_types.is_known("MASK")
