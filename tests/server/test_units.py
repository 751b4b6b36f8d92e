"""The server's parts on their own (no sockets): object_info against ComfyUI's published node specs and against
the widget layout the UI-format reader uses, the queue's order and bound, preview framing, NodeFlow's events on the
wire."""
import io
import struct

import pytest
from PIL import Image

from nodeflow.core import events as ev
from nodeflow.core.environment import Environment
from nodeflow.core.registry import load_registry
from nodeflow.formats.comfyui.mapping import type_for_class, widget_layout
from nodeflow.server import wire
from nodeflow.server.jobs import Job
from nodeflow.server.messages import preview_frame
from nodeflow.server.object_info import object_info
from nodeflow.server.prompt_queue import PromptQueue, QueueFull

VALUE_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from nodeflow.config import Settings

    root = tmp_path_factory.mktemp("units")
    (root / "input").mkdir()
    Image.new("RGB", (4, 4)).save(root / "input" / "mine.png")
    settings = Settings(data_dir=root, model_roots=(root / "models",), input_dir=root / "input",
                        output_dir=root / "output", pack_dirs=())
    return Environment(settings, load_registry([], entry_points=False))


def test_object_info_is_comfyuis_spec_of_ksampler(env):
    info = object_info(env.registry, env.settings, "KSampler")["KSampler"]
    req = info["input"]["required"]
    # ComfyUI's nodes.py KSampler.INPUT_TYPES, in its order, with its defaults and ranges
    assert info["input_order"]["required"] == ["model", "seed", "steps", "cfg", "sampler_name", "scheduler",
                                               "positive", "negative", "latent_image", "denoise"]
    assert req["model"][0] == "MODEL" and req["positive"][0] == "CONDITIONING" and req["latent_image"][0] == "LATENT"
    seed = req["seed"][1]
    assert req["seed"][0] == "INT" and (seed["default"], seed["min"], seed["max"]) == (0, 0, 0xffffffffffffffff)
    assert seed["control_after_generate"] is True
    assert req["steps"][0] == "INT" and (req["steps"][1]["default"], req["steps"][1]["min"],
                                         req["steps"][1]["max"]) == (20, 1, 10000)
    cfg = req["cfg"][1]
    assert req["cfg"][0] == "FLOAT" and (cfg["default"], cfg["min"], cfg["max"], cfg["step"]) == (8.0, 0.0, 100.0, 0.1)
    assert req["denoise"][0] == "FLOAT" and (req["denoise"][1]["default"], req["denoise"][1]["max"]) == (1.0, 1.0)
    assert "euler" in req["sampler_name"][0] and "karras" in req["scheduler"][0]
    assert info["output"] == ["LATENT"] and info["output_is_list"] == [False] and info["output_node"] is False
    assert info["name"] == "KSampler" and info["category"] and info["display_name"]


def test_object_info_lists_files_and_only_comfyui_classes(env):
    info = object_info(env.registry, env.settings)
    ckpt = info["CheckpointLoaderSimple"]
    assert list(ckpt["input"]["required"]) == ["ckpt_name"] and "optional" not in ckpt["input"]  # no "prediction"
    assert "nodeflow_shapes.safetensors" in ckpt["input"]["required"]["ckpt_name"][0]
    assert ckpt["output"] == ["MODEL", "CLIP", "VAE"]
    image = info["LoadImage"]["input"]["required"]["image"]
    assert "mine.png" in image[0] and image[1]["image_upload"] is True
    assert info["SaveImage"]["output_node"] is True and info["SaveImage"]["output"] == []
    for absent in ("Note", "Reroute", "Seed", "DemoAddNoise", "DemoPlotSchedule"):
        assert absent not in info
    for name in info:  # every class listed is one a prompt may name
        assert type_for_class(env.registry, name) is not None


def test_widgets_built_from_object_info_are_comfyuis_widgets_values_layout(env):
    """What ComfyUI's front end does with object_info: a widget per value input (a choice list is one), a control
    after each control_after_generate, an upload button for image_upload (its Comfy.UploadImage extension adds an
    "upload" input at the end of the required ones: Load Image (as Mask) saves [image, channel, "image"]); it must
    be the layout NodeFlow reads and writes ComfyUI's widgets_values with."""
    for name, info in object_info(env.registry, env.settings).items():
        widgets = []
        for section in ("required", "optional"):
            upload = False
            for inp in info["input_order"].get(section, []):
                spec = info["input"][section][inp]
                opts = spec[1] if len(spec) > 1 else {}
                if (isinstance(spec[0], list) or spec[0] in VALUE_TYPES) and not opts.get("forceInput"):
                    widgets.append((inp, "value"))
                    if opts.get("control_after_generate"):
                        widgets.append((inp, "control"))
                    upload = upload or bool(opts.get("image_upload"))
            if upload:
                widgets.append(("upload", "ui"))
        nt = type_for_class(env.registry, name)
        assert widgets == [(w.name, w.role) for w in widget_layout(nt)], name


def test_the_queue_runs_by_number_and_is_bounded():
    changes = []
    q = PromptQueue(max_pending=3, on_change=lambda: changes.append(1))
    for pid, number in (("a", 0), ("b", 1), ("front", -2)):
        q.put(Job(number, prompt_id=pid))
    with pytest.raises(QueueFull):
        q.put(Job(3, prompt_id="d"))
    assert [j.prompt_id for j in q.snapshot()[1]] == ["front", "a", "b"]
    assert q.delete(["a", 7]) == 1 and q.remaining() == 2
    job = q.take(timeout=0)
    assert job.prompt_id == "front" and q.running_ids() == ["front"] and q.remaining() == 2
    q.done(job)
    assert q.clear() == 1 and q.remaining() == 0 and q.take(timeout=0) is None
    assert len(changes) == 7  # 3 puts, 1 delete, take, done, clear: each broadcast


def test_preview_frames_are_comfyuis_framing():
    frame = preview_frame(Image.new("RGB", (1024, 600), (255, 0, 0)))
    assert struct.unpack(">II", frame[:8]) == (1, 1)
    picture = Image.open(io.BytesIO(frame[8:]))
    assert picture.format == "JPEG" and picture.size == (512, 300)
    r, g, b = picture.getpixel((10, 10))
    assert r > 240 and g < 20 and b < 20


def test_events_survive_the_wire():
    api = {1: "1", 7: "n:7"}.get
    back = {"1": 1, "n:7": 7}.get
    for event in (ev.RunStarted(3, [1, 7]), ev.NodeStarted(7, "first run"),
                  ev.NodeFinished(7, 0.25, False, "value 'seed' changed (1 -> 2)"),
                  ev.NodeFinished(1, 0.0, True, "reused"), ev.NodeFailed(7, "boom", "tb", {}, "steps"),
                  ev.NodeSkipped(7, "not run: node 1 failed")):
        again = wire.from_wire(wire.to_wire(event, api), back)
        assert type(again) is type(event)
        for name in ("planned", "node_id", "reason", "seconds", "cached", "message", "field"):
            if hasattr(event, name):
                assert getattr(again, name) == getattr(event, name), (event, name)
    done = wire.from_wire(wire.run_finished("ok", 1.5, ["n:7"], ["1"], [{"filename": "a.png"}], []), back)
    assert done.status == "ok" and done.report.executed == [7] and done.report.outputs == ["a.png"]


def test_what_serve_says_about_who_can_connect():
    from pathlib import Path

    from nodeflow.server.app import startup_notes
    from nodeflow.server.options import ServerOptions

    class S:
        output_dir, input_dir = Path("/o"), Path("/i")

    local = startup_notes([("127.0.0.1", 8188)], ServerOptions(), S())
    assert local[0] == "NodeFlow server listening on http://127.0.0.1:8188 (ComfyUI's API)"
    assert "only this machine can connect" in local[1]
    everyone = startup_notes([("0.0.0.0", 8188)], ServerOptions(listen="0.0.0.0"), S())
    assert everyone[1].startswith("warning: listening on all addresses without --auth")
    guarded = startup_notes([("0.0.0.0", 8188)], ServerOptions(listen="0.0.0.0", auth=("a", "b")), S())
    assert not any("warning" in line for line in guarded)
    assert startup_notes([("::1", 80)], ServerOptions(), S())[0].endswith("http://[::1]:80 (ComfyUI's API)")


def test_queue_and_history_are_bounded_in_bytes_too():
    from nodeflow.server.history import History
    from nodeflow.server.jobs import JobResult

    q = PromptQueue(max_pending=100, max_bytes=1000)
    q.put(Job(0, prompt_id="big", size=900))
    with pytest.raises(QueueFull, match="MB, the queue's limit"):
        q.put(Job(1, prompt_id="more", size=200))
    q.take(timeout=0)  # running prompts do not count
    q.put(Job(1, prompt_id="more", size=200))
    h = History(max_items=100, max_bytes=1000)
    for k in range(5):
        h.add(Job(k, prompt_id=f"p{k}", size=400), JobResult("success"))
    assert list(h.get()) == ["p3", "p4"]  # the oldest go first
    h.add(Job(9, prompt_id="huge", size=5000), JobResult("success"))
    assert list(h.get()) == ["huge"]  # the newest is always kept
