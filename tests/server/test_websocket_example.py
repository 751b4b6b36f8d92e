"""ComfyUI's own websocket API example (script_examples/websockets_api_example.py in ComfyUI's repository), written
again against NodeFlow: websocket-client connects with a clientId, the prompt (the example's own, with NodeFlow's
built-in model at 64 px) is queued over urllib, messages are read until ``executing`` with node null for that prompt,
then /history names the images and /view returns them. Then what each message says is checked, and a new seed."""
import io
import json
import urllib.parse
import urllib.request
import uuid

import pytest
from PIL import Image

from nodeflow.formats.png import read_text_chunks
from tests.server.harness import unique_seed

websocket = pytest.importorskip("websocket")

pytestmark = pytest.mark.slow

#: The example's prompt (its node ids, classes and links), with the built-in model, 64 px and a few steps.
EXAMPLE_PROMPT = {
    "3": {"class_type": "KSampler", "inputs": {"cfg": 8, "denoise": 1, "latent_image": ["5", 0], "model": ["4", 0],
                                               "negative": ["7", 0], "positive": ["6", 0], "sampler_name": "euler",
                                               "scheduler": "normal", "seed": 8566257, "steps": 3}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "nodeflow_shapes.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"batch_size": 1, "height": 64, "width": 64}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": "a red circle on a blue background"}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": "bad hands"}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ccniyUI", "images": ["8", 0]}},
}


class ExampleClient:
    """What the example does, step by step."""

    def __init__(self, server):
        self.address = server.url.removeprefix("http://")
        self.client_id = str(uuid.uuid4())
        self.ws = websocket.WebSocket()
        self.ws.connect(f"ws://{self.address}/ws?clientId={self.client_id}", timeout=120)
        self.received = []

    def queue_prompt(self, prompt):
        data = json.dumps({"prompt": prompt, "client_id": self.client_id}).encode("utf-8")
        req = urllib.request.Request(f"http://{self.address}/prompt", data=data)
        return json.loads(urllib.request.urlopen(req).read())

    def get_image(self, filename, subfolder, folder_type):
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": folder_type})
        with urllib.request.urlopen(f"http://{self.address}/view?{query}") as response:
            return response.read()

    def get_history(self, prompt_id):
        with urllib.request.urlopen(f"http://{self.address}/history/{prompt_id}") as response:
            return json.loads(response.read())

    def get_images(self, prompt):
        prompt_id = self.queue_prompt(prompt)["prompt_id"]
        self.received = []
        while True:
            out = self.ws.recv()
            if isinstance(out, str):
                message = json.loads(out)
                self.received.append(message)
                if message["type"] == "executing":
                    data = message["data"]
                    if data["node"] is None and data["prompt_id"] == prompt_id:
                        break
            else:
                self.received.append(out)  # previews are binary data
        history = self.get_history(prompt_id)[prompt_id]
        output_images = {}
        for node_id, node_output in history["outputs"].items():
            if "images" in node_output:
                output_images[node_id] = [self.get_image(i["filename"], i["subfolder"], i["type"])
                                          for i in node_output["images"]]
        return prompt_id, output_images


def _of(messages, kind, prompt_id):
    return [m["data"] for m in messages if isinstance(m, dict) and m["type"] == kind
            and m["data"].get("prompt_id") == prompt_id]


def test_the_example_works_and_a_new_seed_reruns_only_the_sampler(server):
    client = ExampleClient(server)
    prompt = json.loads(json.dumps(EXAMPLE_PROMPT))
    prompt["6"]["inputs"]["text"] = "a green square on a white background"  # as the example edits its prompt
    prompt["3"]["inputs"]["seed"] = unique_seed()

    pid, images = client.get_images(prompt)
    assert list(images) == ["9"] and len(images["9"]) == 1
    picture = Image.open(io.BytesIO(images["9"][0]))
    assert picture.size == (64, 64) and picture.mode == "RGB"
    name = client.get_history(pid)[pid]["outputs"]["9"]["images"][0]["filename"]
    assert name.startswith("ccniyUI_") and (server.output / name).read_bytes() == images["9"][0]
    assert json.loads(read_text_chunks(server.output / name)["prompt"]) == prompt

    # ComfyUI's message sequence for one prompt
    kinds = [m["type"] for m in client.received if isinstance(m, dict) and m["data"].get("prompt_id") == pid]
    assert kinds[0] == "execution_start" and kinds[1] == "execution_cached"
    assert kinds[-2:] == ["execution_success", "executing"]
    assert not any(isinstance(m, bytes) for m in client.received)  # no previews unless asked (ComfyUI's default)
    steps = [d for d in _of(client.received, "progress", pid) if d["node"] == "3"]
    assert [d["value"] for d in steps] == [1, 2, 3] and {d["max"] for d in steps} == {3}
    (executed,) = _of(client.received, "executed", pid)
    assert executed["node"] == "9" and executed["output"]["images"][0]["filename"] == name

    prompt["3"]["inputs"]["seed"] += 1
    pid2, images2 = client.get_images(prompt)
    assert images2["9"][0] != images["9"][0]
    (cached,) = _of(client.received, "execution_cached", pid2)
    assert sorted(cached["nodes"]) == ["4", "5", "6", "7"]
    ran = [d["node"] for d in _of(client.received, "executing", pid2) if d["node"] is not None]
    assert ran == ["3", "8", "9"]
    report = client.get_history(pid2)[pid2]["nodeflow"]
    assert report["executed"] == ["3", "8", "9"] and report["reasons"]["3"].startswith("value 'seed' changed")

    # the same prompt again: everything cached, Save Image reports its earlier file and writes nothing new
    before = sorted(p.name for p in server.output.iterdir())
    pid3, images3 = client.get_images(prompt)
    (cached,) = _of(client.received, "execution_cached", pid3)
    assert sorted(cached["nodes"]) == ["3", "4", "5", "6", "7", "8", "9"]
    assert images3 == images2 and sorted(p.name for p in server.output.iterdir()) == before
    client.ws.close()


def test_non_numeric_prompt_ids_come_back_as_sent(server):
    """Prompt keys need not be numbers (expanded subgraphs send "12:3"): messages and history use them as sent."""
    prompt = {f"n:{k}": {"class_type": v["class_type"],
                         "inputs": {name: ([f"n:{x[0]}", x[1]] if isinstance(x, list) else x)
                                    for name, x in v["inputs"].items()}} for k, v in EXAMPLE_PROMPT.items()}
    prompt["n:3"]["inputs"]["seed"] = unique_seed()
    client = ExampleClient(server)
    pid, images = client.get_images(prompt)
    assert list(images) == ["n:9"]
    ran = [d["node"] for d in _of(client.received, "executing", pid) if d["node"] is not None]
    assert "n:3" in ran and all(n.startswith("n:") for n in ran)
    client.ws.close()
