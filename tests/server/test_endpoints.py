"""The rest of ComfyUI's endpoints, in its shapes: /queue and /history (list, delete, clear), /free, /models,
/embeddings, /features, GET /prompt, the /api prefix, /upload/mask."""
import io
import json
import secrets

import pytest
from PIL import Image

from tests.server.harness import default_prompt, unique_seed

pytestmark = pytest.mark.slow


def test_history_and_queue_shapes(server):
    prompt = default_prompt(seed=unique_seed())
    answer = server.queue(prompt, "shapes-client", extra_data={"extra_pnginfo": {"workflow": {"nodes": []}},
                                                               "api_key_comfy_org": "secret-key"})
    assert set(answer) == {"prompt_id", "number", "node_errors"} and answer["node_errors"] == {}
    entry = server.wait_history(answer["prompt_id"])
    number, pid, sent, extra, outputs = entry["prompt"]
    assert (number, pid, sent, outputs) == (answer["number"], answer["prompt_id"], prompt, ["7"])
    assert extra["client_id"] == "shapes-client" and "api_key_comfy_org" not in extra  # never kept
    assert entry["meta"]["7"] == {"node_id": "7", "display_node": "7", "parent_node": None, "real_node_id": "7"}
    assert [m[0] for m in entry["status"]["messages"]] == ["execution_start", "execution_cached",
                                                           "execution_success"]
    # the workflow the client gave travels into the PNG, as ComfyUI's server embeds it
    from nodeflow.formats.png import read_text_chunks

    name = entry["outputs"]["7"]["images"][0]["filename"]
    assert json.loads(read_text_chunks(server.output / name)["workflow"]) == {"nodes": []}

    assert server.get_json("/api/history/" + pid) == {pid: entry}  # the same under /api
    assert list(server.get_json("/history?max_items=1")) == [list(server.get_json("/history"))[-1]]
    assert server.post_json("/history", {"delete": [pid]})[0] == 200
    assert server.get_json(f"/history/{pid}") == {}
    assert server.get_json("/prompt") == {"exec_info": {"queue_remaining": 0}}
    status, _ = server.post_json("/history", {"delete": "not a list"})
    assert status == 400


def test_free_releases_the_cache_and_models(server):
    prompt = default_prompt(seed=unique_seed())
    server.wait_history(server.queue(prompt)["prompt_id"])
    assert server.post_json("/free", {"unload_models": True, "free_memory": True})[0] == 200
    entry = server.wait_history(server.queue(prompt)["prompt_id"])
    assert sorted(entry["nodeflow"]["executed"]) == ["1", "2", "3", "4", "5", "6", "7"]
    assert entry["nodeflow"]["reasons"]["1"] == "not in the cache (freed or evicted)"


def test_models_embeddings_features(server):
    kinds = server.get_json("/models")
    assert "checkpoints" in kinds and "unet" in kinds and "clip" in kinds
    assert "nodeflow_shapes.safetensors" in server.get_json("/models/checkpoints")
    assert server.get_json("/models/unet") == server.get_json("/models/diffusion_models")
    assert server.request("GET", "/models/secrets")[0] == 404
    assert isinstance(server.get_json("/embeddings"), list)
    assert server.get_json("/features")["max_upload_size"] == 100 * 1024 * 1024
    assert server.get_json("/object_info/NoSuchNode") == {}


def test_upload_mask_puts_the_masks_alpha_into_the_original(server):
    name = f"photo-{secrets.token_hex(4)}.png"
    buf = io.BytesIO()
    Image.new("RGB", (6, 4), (0, 128, 255)).save(buf, format="PNG")
    from tests.server.test_hostile import multipart

    body, ctype = multipart({}, name, buf.getvalue())
    assert server.request("POST", "/upload/image", body, {"Content-Type": ctype})[0] == 200
    mask = Image.new("RGBA", (6, 4), (0, 0, 0, 255))
    mask.putpixel((1, 1), (0, 0, 0, 0))
    mbuf = io.BytesIO()
    mask.save(mbuf, format="PNG")
    ref = json.dumps({"filename": name, "subfolder": "", "type": "input"})
    body, ctype = multipart({"original_ref": ref, "subfolder": "clipspace"}, "mask.png", mbuf.getvalue())
    status, answer, _ = server.request("POST", "/upload/mask", body, {"Content-Type": ctype})
    assert status == 200 and json.loads(answer)["subfolder"] == "clipspace"
    with Image.open(server.input / "clipspace" / json.loads(answer)["name"]) as out:
        assert out.mode == "RGBA" and out.getpixel((1, 1)) == (0, 128, 255, 0) and out.getpixel((0, 0))[3] == 255
    # an original outside the folders is refused
    ref = json.dumps({"filename": "passwd", "subfolder": "../../../../etc", "type": "input"})
    body, ctype = multipart({"original_ref": ref}, "mask.png", mbuf.getvalue())
    assert server.request("POST", "/upload/mask", body, {"Content-Type": ctype})[0] == 400


def test_the_client_rebuilds_events_from_comfyuis_messages_alone(server):
    """Against a server that sends only ComfyUI's messages (ComfyUI itself), the client still reports which nodes
    ran and which were cached: the messages of a real run, without NodeFlow's events, replayed."""
    from nodeflow.core import events as ev
    from nodeflow.server.client import EventReplay, ServerClient

    client = ServerClient(server.url)
    assert client.is_nodeflow()
    prompt = default_prompt(seed=unique_seed())
    client.run(prompt)
    prompt["5"]["inputs"]["seed"] += 1
    messages = []
    outcome = client.run(prompt, on_message=messages.append)  # no on_event: ComfyUI's messages only
    assert outcome.status == "success" and not [m for m in messages if m["type"].startswith("nodeflow")]
    heard = []
    replay = EventReplay(heard.append, int, client.view_url)
    for m in messages:
        replay(m)
    report = replay.finish(outcome.status, outcome.history)
    finished = {e.node_id: e.cached for e in heard if isinstance(e, ev.NodeFinished)}
    assert finished == {1: True, 2: True, 3: True, 4: True, 5: False, 6: False, 7: False}
    assert report.status == "ok" and report.executed == [5, 6, 7]
    assert report.outputs == [client.view_url(outcome.images[0])]
    assert isinstance(heard[-1], ev.RunFinished)
