"""An unmodified third-party ComfyUI client from PyPI (comfy-api-simplified 1.6.0: requests + websockets) drives the
real server over real sockets: it queues the default workflow exported to API format, waits on the websocket,
fetches the PNG through /history and /view; a second prompt with a new seed reruns only the sampler cone."""
import io
import json

import pytest
from PIL import Image

from nodeflow.formats.png import read_text_chunks
from tests.server.harness import default_prompt, unique_seed

comfy = pytest.importorskip("comfy_api_simplified")

pytestmark = pytest.mark.slow


def test_default_workflow_then_a_new_seed_reruns_only_the_sampler_cone(server):
    api = comfy.ComfyApiWrapper(server.url)
    wf = comfy.ComfyWorkflowWrapper(default_prompt(steps=3, seed=unique_seed()))
    assert wf.get_node_id("KSampler") == "5" and wf.get_node_id("Save Image") == "7"

    first = api.queue_and_wait_images(wf, "Save Image")
    (name1, png1), = first.items()
    assert name1.startswith("NodeFlow_") and name1.endswith("_.png")
    # the bytes the client fetched are the file Save Image wrote into the server's output folder
    assert (server.output / name1).read_bytes() == png1
    picture1 = Image.open(io.BytesIO(png1))
    assert picture1.size == (64, 64)
    # embedded as ComfyUI's server embeds: the prompt as received, plus NodeFlow's own chunk
    texts = read_text_chunks((server.output / name1))
    assert json.loads(texts["prompt"]) == dict(wf)
    assert json.loads(texts["nodeflow"])["format"] == "nodeflow.workflow"

    wf.set_node_param("KSampler", "seed", unique_seed())
    second = api.queue_and_wait_images(wf, "Save Image")
    (name2, png2), = second.items()
    assert name2 != name1 and (server.output / name2).read_bytes() == png2
    assert Image.open(io.BytesIO(png2)).tobytes() != picture1.tobytes()  # another seed, another picture

    # what the websocket said (the history keeps ComfyUI's status messages as sent) and NodeFlow's report
    history = server.get_json("/history")
    (entry,) = [e for e in history.values() if e["outputs"]["7"]["images"][0]["filename"] == name2]
    messages = dict((m[0], m[1]) for m in entry["status"]["messages"])
    assert sorted(messages["execution_cached"]["nodes"]) == ["1", "2", "3", "4"]
    assert "execution_success" in messages and entry["status"]["status_str"] == "success"
    report = entry["nodeflow"]
    assert report["executed"] == ["5", "6", "7"] and sorted(report["cached"]) == ["1", "2", "3", "4"]
    assert report["reasons"]["5"].startswith("value 'seed' changed")


def test_the_clients_other_calls(server):
    api = comfy.ComfyApiWrapper(server.url)
    info = api.get_object_info("KSampler")["KSampler"]
    assert info["input"]["required"]["seed"][1]["control_after_generate"] is True
    assert "nodeflow_shapes.safetensors" in \
        api.get_object_info("CheckpointLoaderSimple")["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    assert set(api.get_queue()) == {"queue_running", "queue_pending"}
    stats = api.get_system_stats()
    assert stats["devices"][0]["type"] in ("cpu", "cuda") and "python_version" in stats["system"]
    assert isinstance(api.get_embeddings(), list)

    picture = server.root / "upload-me.png"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(picture)
    answer = api.upload_image(picture)  # into input/default_upload_folder, the client's default
    assert answer == {"name": "upload-me.png", "subfolder": "default_upload_folder", "type": "input"}
    assert (server.input / "default_upload_folder" / "upload-me.png").read_bytes() == picture.read_bytes()
