"""--auth (HTTP basic, websocket included), --cors-origin, the origin check without it, and live previews as binary
frames in ComfyUI's framing (--preview-method auto)."""
import io
import json
import struct
import uuid

import pytest
from PIL import Image

from tests.server.harness import basic, default_prompt, unique_seed

pytestmark = pytest.mark.slow


def test_basic_auth_is_required_everywhere(strict_server):
    srv = strict_server
    for headers in ({"Authorization": "none"}, {"Authorization": basic("ann", "wrong")},
                    {"Authorization": basic("bob", "s3cret word")}):
        for path in ("/system_stats", "/object_info", "/history", "/view?filename=x.png", "/ws?clientId=a"):
            status, body, answer_headers = srv.request("GET", path, headers=headers)
            assert status == 401 and answer_headers.get("WWW-Authenticate", "").startswith("Basic"), path
    status, _, _ = srv.request("GET", "/system_stats")  # the harness sends the right credentials
    assert status == 200
    # the password never shows in /system_stats' argv
    assert "s3cret" not in json.dumps(srv.get_json("/system_stats"))


def test_a_third_party_client_with_credentials(strict_server):
    comfy = pytest.importorskip("comfy_api_simplified")
    api = comfy.ComfyApiWrapper(strict_server.url, user="ann", password="s3cret word")
    images = api.queue_and_wait_images(default_prompt(seed=unique_seed()), "Save Image")
    # previews are on here: the client returns what came as binary frames (ComfyUI's framing, 8 bytes stripped)
    assert images and all(Image.open(io.BytesIO(b)).format == "JPEG" for b in images.values())


def test_previews_are_binary_frames_in_comfyuis_framing(strict_server):
    websocket = pytest.importorskip("websocket")
    cid = uuid.uuid4().hex
    ws = websocket.create_connection(f"ws://127.0.0.1:{strict_server.port}/ws?clientId={cid}", timeout=60,
                                     header=[f"Authorization: {basic(*strict_server.auth)}"])
    pid = strict_server.queue(default_prompt(steps=4, seed=unique_seed()), cid)["prompt_id"]
    frames, executing = [], None
    while True:
        out = ws.recv()
        if isinstance(out, bytes):
            frames.append((executing, out))
            continue
        m = json.loads(out)
        if m["type"] == "executing" and m["data"]["prompt_id"] == pid:
            executing = m["data"]["node"]
            if executing is None:
                break
    ws.close()
    assert len(frames) == 4 and {node for node, _ in frames} == {"5"}  # one per sampling step, from the KSampler
    for _, frame in frames:
        event, fmt = struct.unpack(">II", frame[:8])
        assert (event, fmt) == (1, 1)  # PREVIEW_IMAGE, JPEG
        picture = Image.open(io.BytesIO(frame[8:]))
        assert picture.format == "JPEG" and max(picture.size) <= 512


def test_cors_for_the_allowed_origin(strict_server):
    status, _, headers = strict_server.request("OPTIONS", "/prompt", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Authorization": ""})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    status, _, headers = strict_server.request("GET", "/queue", headers={"Origin": "https://app.example"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_without_cors_a_foreign_page_cannot_post_to_this_machine(server):
    """ComfyUI's protection: a web page elsewhere posting to a server on 127.0.0.1 is refused."""
    prompt = json.dumps({"prompt": default_prompt()}).encode()
    status, _, _ = server.request("POST", "/prompt", prompt, {"Origin": "https://evil.example",
                                                              "Content-Type": "application/json"})
    assert status == 403
    history = len(server.get_json("/history"))
    status, _, _ = server.request("POST", "/prompt", prompt, {"Origin": f"http://127.0.0.1:{server.port}",
                                                              "Content-Type": "application/json"})
    assert status == 200  # the server's own page may
    server.wait_idle()
    assert len(server.get_json("/history")) == history + 1
