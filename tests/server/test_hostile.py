"""Requests made to hurt: path traversal in /view and uploads, 100 MB bodies, invalid prompts, 1,000 prompts at
once, clients vanishing mid-run. Each gets a clean answer (4xx with a message, never a 500 or a traceback), nothing
outside the server's folders is read or written, and the server keeps running and answering."""
import http.client
import io
import json
import os
import secrets
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from tests.server.harness import basic, default_prompt, rss_bytes, unique_seed

pytestmark = pytest.mark.slow
MB = 1024 * 1024


def png_bytes(color=(10, 20, 30), size=(8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def multipart(fields: dict, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = "b" + secrets.token_hex(8)
    out = io.BytesIO()
    for k, v in fields.items():
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode())
    out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{filename}\"\r\n"
              "Content-Type: image/png\r\n\r\n".encode() + data + f"\r\n--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def upload(server, filename, data=None, **fields):
    body, ctype = multipart(fields, filename, png_bytes() if data is None else data)
    status, answer, _ = server.request("POST", "/upload/image", body, {"Content-Type": ctype})
    return status, json.loads(answer) if answer.startswith(b"{") else answer


def assert_clean_refusal(status, body, allowed=(400, 403, 404)):
    assert status in allowed, (status, body)
    text = body if isinstance(body, bytes) else json.dumps(body).encode()
    assert b"Traceback" not in text and b'File "' not in text


def assert_serving(server):
    assert server.alive
    status, _, _ = server.request("GET", "/system_stats")
    assert status == 200


# -- paths -----------------------------------------------------------------------------------------------------------
def test_view_never_leaves_its_folders(server, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the secret")
    (server.output / "sub").mkdir(exist_ok=True)
    (server.output / "sub" / "fine.png").write_bytes(png_bytes())
    for name, target in (("link.png", secret), ("escape", tmp_path)):
        link = server.output / name
        if not link.is_symlink():
            link.symlink_to(target)
    assert server.request("GET", "/view?filename=fine.png&subfolder=sub&type=output")[1] == png_bytes()
    hostile = ["filename=../../../../etc/passwd", "filename=/etc/passwd", "filename=%2e%2e%2fsecret.txt",
               "filename=passwd&subfolder=../../../../../etc", "filename=passwd&subfolder=/etc",
               "filename=passwd&subfolder=sub/../../../../etc", "filename=secret.txt&type=../..",
               "filename=.", "filename=..", "filename=", "filename=a%00b", "filename=a%0d%0aSet-Cookie:%20x=1",
               "filename=link.png", "filename=secret.txt&subfolder=escape", f"filename={secret}",
               "filename=fine.png&subfolder=sub&type=input", "filename=..%5c..%5csecret.txt",
               "filename=secret.txt%20[output]&subfolder=escape"]
    for query in hostile:
        status, body, _ = server.request("GET", "/view?" + query)
        assert_clean_refusal(status, body)
        assert b"the secret" not in body and b"root:" not in body, query
    assert_serving(server)


def test_uploads_never_leave_the_input_folder(server, tmp_path):
    outside = server.root  # the folder above input/ and output/
    before = set(os.listdir(outside))
    name = f"evil-{uuid.uuid4().hex[:8]}.png"
    cases = [(f"../{name}", {}), (f"/tmp/{name}", {}), (f"..\\{name}", {}), (f"a/{name}", {}),
             (name, {"subfolder": "../.."}), (name, {"subfolder": "/tmp"}), (name, {"subfolder": "a/../../.."}),
             (name, {"type": "../../"}), (name, {"type": "models"}), ("", {}), ("..", {}), ("notes.txt", {})]
    for filename, fields in cases:
        status, body = upload(server, filename, **fields)
        if status == 200:  # a name the multipart parser made harmless ("..\\x" reads as "..x"): kept inside
            landed = (server.input / body["subfolder"] / body["name"]).resolve()
            assert landed.is_file() and server.input.resolve() in landed.parents, (filename, body)
        else:
            assert_clean_refusal(status, body)
    assert set(os.listdir(outside)) == before and not os.path.exists(f"/tmp/{name}")
    # a symlinked subfolder leading out is refused too
    link = server.input / "out-link"
    if not link.is_symlink():
        link.symlink_to(tmp_path)
    status, body = upload(server, name, subfolder="out-link")
    assert_clean_refusal(status, body)
    assert not (tmp_path / name).exists()
    # not a picture
    status, body = upload(server, "fake.png", data=b"#!/bin/sh\necho owned\n")
    assert status == 400 and "not a picture" in body["error"]["message"]
    assert_serving(server)


def test_upload_names_collide_as_in_comfyui(server):
    name = f"pic-{uuid.uuid4().hex[:8]}.png"
    assert upload(server, name)[1]["name"] == name
    assert upload(server, name)[1]["name"] == name  # the same picture again: the file there is reused
    other = png_bytes((250, 0, 0))
    stem = name[:-4]
    assert upload(server, name, data=other)[1]["name"] == f"{stem} (1).png"
    assert (server.input / f"{stem} (1).png").read_bytes() == other
    assert (server.input / name).read_bytes() == png_bytes()
    assert upload(server, name, data=other, overwrite="true")[1]["name"] == name
    assert (server.input / name).read_bytes() == other


# -- sizes -----------------------------------------------------------------------------------------------------------
def _raw(server, head: str) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head.encode())
        return s.recv(4096)


def test_100_mb_bodies_are_refused_without_being_read(server, strict_server):
    for srv, path in ((server, "/prompt"), (strict_server, "/upload/image")):
        # a prompt first: the worker has imported torch and loaded the model, so memory is measured at rest
        srv.wait_history(srv.queue(default_prompt(seed=unique_seed()))["prompt_id"])
        rss = rss_bytes(srv.proc.pid)
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nContent-Length: {100 * MB}\r\n"
                "Content-Type: application/json\r\n")
        if srv.auth:
            head += f"Authorization: {basic(*srv.auth)}\r\n"
        answer = _raw(srv, head + "\r\n")  # the headers only: the answer comes before any of the body
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        # and a 100 MB body sent without a length: read up to the limit, then refused
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        headers = {"Content-Type": "application/json" if path == "/prompt" else "multipart/form-data; boundary=x"}
        if srv.auth:
            headers["Authorization"] = basic(*srv.auth)
        try:
            conn.request("POST", path, body=(b"x" * MB for _ in range(100)), headers=headers,
                         encode_chunked=True)
            status = conn.getresponse().status
        except (BrokenPipeError, ConnectionResetError):
            status = 413  # the server stopped reading and closed: also a refusal
        finally:
            conn.close()
        assert status in (400, 413)
        assert rss_bytes(srv.proc.pid) - rss < 50 * MB  # it never held the 100 MB
        assert_serving(srv)


def test_an_upload_over_the_limit_is_refused(strict_server):
    body, ctype = multipart({}, "big.png", b"\x89PNG" + b"0" * (2 * MB))
    status, answer, _ = strict_server.request("POST", "/upload/image", body, {"Content-Type": ctype})
    assert status == 413 and not (strict_server.input / "big.png").exists()


# -- invalid prompts -------------------------------------------------------------------------------------------------
def _prompt_with(change):
    p = default_prompt()
    change(p)
    return {"prompt": p}


INVALID = {
    "malformed JSON": (b"{bad", "not valid JSON"),
    "NaN": (b'{"prompt": {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": NaN}}}}', "not valid JSON"),
    "a list": (b"[]", "must be a JSON object"),
    "no prompt": (b"{}", "No prompt provided"),
    "prompt a list": (json.dumps({"prompt": []}).encode(), "must be a JSON object of nodes"),
    "node not an object": (json.dumps({"prompt": {"1": 5}}).encode(), "expected an object"),
    "class_type a number": (json.dumps({"prompt": {"1": {"class_type": 7}}}).encode(), "class_type"),
    "inputs text": (json.dumps({"prompt": {"1": {"class_type": "KSampler", "inputs": "x"}}}).encode(), "inputs"),
    "unknown node type": (json.dumps({"prompt": {"1": {"class_type": "Nope", "inputs": {}}}}).encode(),
                          "node Nope does not exist"),
    "UI-only node": (json.dumps({"prompt": {"1": {"class_type": "Note", "inputs": {"text": "x"}}}}).encode(),
                     "node Note does not exist"),
    "a reroute": (json.dumps({"prompt": {"1": {"class_type": "Reroute", "inputs": {}}}}).encode(),
                  "node Reroute does not exist"),
    "link to a missing node": (json.dumps({"prompt": {"1": {"class_type": "SaveImage",
                                                            "inputs": {"images": ["9", 0]}}}}).encode(),
                               "not in the prompt"),
    "a cycle": (json.dumps({"prompt": {
        "1": {"class_type": "VAEDecode", "inputs": {"samples": ["2", 0], "vae": ["2", 0]}},
        "2": {"class_type": "VAEEncode", "inputs": {"pixels": ["1", 0], "vae": ["1", 0]}}}}).encode(), "cycle"),
    "no output": (json.dumps({"prompt": {"1": {"class_type": "EmptyLatentImage",
                                               "inputs": {"width": 64, "height": 64, "batch_size": 1}}}}).encode(),
                  "Prompt has no outputs"),
    "client_id a number": (json.dumps({"prompt": {}, "client_id": 5}).encode(), "client_id"),
    "extra_data text": (json.dumps({"prompt": {}, "extra_data": "x"}).encode(), "extra_data"),
    "number text": (json.dumps({"prompt": {}, "number": "first"}).encode(), "number"),
    "deep nesting": (b'{"prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "JSON"),
    "huge integer": (json.dumps(_prompt_with(lambda p: p["5"]["inputs"].update(seed=10 ** 400))).encode(),
                     "too large"),
}

NODE_ERRORS = {  # planned: ComfyUI's 400 with node_errors naming the node, its class and ComfyUI's error type
    "steps text": (lambda p: p["5"]["inputs"].update(steps="many"), "5", "KSampler", "invalid_input_type"),
    "steps 0": (lambda p: p["5"]["inputs"].update(steps=0), "5", "KSampler", "value_smaller_than_min"),
    "cfg 1000": (lambda p: p["5"]["inputs"].update(cfg=1000.0), "5", "KSampler", "value_bigger_than_max"),
    "sampler unknown": (lambda p: p["5"]["inputs"].update(sampler_name="warp"), "5", "KSampler",
                        "value_not_in_list"),
    "checkpoint outside": (lambda p: p["1"]["inputs"].update(ckpt_name="../../../etc/passwd"), "1",
                           "CheckpointLoaderSimple", "value_not_in_list"),
    "prefix outside": (lambda p: p["7"]["inputs"].update(filename_prefix="../../evil"), "7", "SaveImage",
                       "custom_validation_failed"),
    "input missing": (lambda p: p["5"]["inputs"].pop("positive"), "5", "KSampler", "required_input_missing"),
    "wrong link type": (lambda p: p["5"]["inputs"].update(positive=["4", 0]), "5", "KSampler",
                        "return_type_mismatch"),
}


def test_invalid_prompts_get_400_with_a_message(server):
    for label, (body, words) in INVALID.items():
        status, answer, _ = server.request("POST", "/prompt", body, {"Content-Type": "application/json"})
        assert status == 400, (label, status, answer[:300])
        data = json.loads(answer)
        assert_clean_refusal(status, data)
        text = json.dumps(data["error"])
        assert words in text, (label, data)
        assert isinstance(data["node_errors"], dict)
    for label, (change, node, class_type, kind) in NODE_ERRORS.items():
        status, data = server.post_json("/prompt", _prompt_with(change))
        assert status == 400, (label, data)
        assert data["error"]["type"] == "prompt_outputs_failed_validation", label
        entry = data["node_errors"][node]
        assert entry["class_type"] == class_type and entry["dependent_outputs"] == ["7"], label
        assert entry["errors"][0]["type"] == kind, (label, entry)
        assert str(server.root) not in json.dumps(data) and "site-packages" not in json.dumps(data), \
            "no server path in the answer"
    assert_serving(server)
    answer = server.queue(default_prompt(seed=unique_seed()))  # and a good prompt still runs
    assert server.wait_history(answer["prompt_id"])["status"]["status_str"] == "success"


def test_outputs_without_problems_still_run(server):
    """As in ComfyUI: a prompt whose one output is broken runs its other outputs; the answer lists the problem."""
    p = default_prompt(seed=unique_seed())
    p["8"] = {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "/abs/evil"}}
    answer = server.queue(p)
    assert list(answer["node_errors"]) == ["8"] and answer["node_errors"]["8"]["dependent_outputs"] == ["8"]
    entry = server.wait_history(answer["prompt_id"])
    assert entry["status"]["status_str"] == "success" and list(entry["outputs"]) == ["7"]
    assert entry["prompt"][4] == ["7"]  # outputs_to_execute


def test_a_node_failing_at_run_time_is_reported_and_the_server_goes_on(server):
    (server.input / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    p = {"1": {"class_type": "LoadImage", "inputs": {"image": "broken.png"}},
         "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    import websocket

    cid = uuid.uuid4().hex
    ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws?clientId={cid}", timeout=60)
    pid = server.queue(p, cid)["prompt_id"]
    messages = []
    while not (messages and messages[-1]["type"] == "executing" and messages[-1]["data"]["node"] is None
               and messages[-1]["data"]["prompt_id"] == pid):
        messages.append(json.loads(ws.recv()))
    ws.close()
    (error,) = [m["data"] for m in messages if m["type"] == "execution_error"]
    assert error["node_id"] == "1" and error["node_type"] == "LoadImage" and error["prompt_id"] == pid
    assert "not a readable image" in error["exception_message"] and error["traceback"] == []
    entry = server.get_json(f"/history/{pid}")[pid]
    assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
    assert_serving(server)


# -- load ------------------------------------------------------------------------------------------------------------
def test_1000_prompts_at_once_are_all_accepted_and_run(server):
    prompt = default_prompt(seed=unique_seed())
    server.wait_history(server.queue(prompt)["prompt_id"])  # now every node of it is cached

    def post(i):
        return server.post_json("/prompt", {"prompt": prompt, "client_id": f"load-{i % 7}"})

    t0 = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(post, range(1000)))
    assert all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:3]
    assert len({a["prompt_id"] for _, a in answers}) == 1000
    server.wait_idle(timeout=240)
    history = server.get_json("/history")
    done = [history[a["prompt_id"]] for _, a in answers]
    assert all(e["status"]["status_str"] == "success" for e in done)
    assert all(e["nodeflow"]["executed"] == [] for e in done)  # all from the cache
    print(f"1000 cached prompts queued and run in {time.perf_counter() - t0:.1f} s")
    assert_serving(server)


def test_a_full_queue_refuses_cleanly_then_clear_and_interrupt(strict_server):
    srv = strict_server
    long = default_prompt(steps=2000, seed=unique_seed())
    busy = srv.queue(long)["prompt_id"]
    deadline = time.monotonic() + 60
    while not srv.get_json("/queue")["queue_running"] and time.monotonic() < deadline:
        time.sleep(0.05)
    cheap = default_prompt(seed=unique_seed())

    def post(_):
        return srv.post_json("/prompt", {"prompt": cheap})

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(post, range(1000)))
    accepted = [a for s, a in answers if s == 200]
    refused = [a for s, a in answers if s != 200]
    assert len(accepted) == 40 and len(refused) == 960  # --max-queue 40, the long prompt running
    assert all(s == 503 for s, _ in answers if s != 200)
    assert all(r["error"]["type"] == "queue_full" for r in refused)
    assert len(srv.get_json("/queue")["queue_pending"]) == 40
    assert srv.post_json("/queue", {"delete": [accepted[0]["prompt_id"]]})[0] == 200
    assert len(srv.get_json("/queue")["queue_pending"]) == 39
    assert srv.post_json("/queue", {"clear": True})[0] == 200
    assert srv.get_json("/queue")["queue_pending"] == []
    assert srv.post_json("/interrupt", {})[0] == 200
    entry = srv.wait_history(busy)
    kinds = [m[0] for m in entry["status"]["messages"]]
    assert "execution_interrupted" in kinds and entry["status"]["status_str"] == "error"
    assert srv.wait_history(srv.queue(cheap)["prompt_id"])["status"]["status_str"] == "success"


# -- clients going away ----------------------------------------------------------------------------------------------
def test_clients_disconnecting_mid_run(server):
    import websocket

    cid = uuid.uuid4().hex
    ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws?clientId={cid}", timeout=60)
    pid = server.queue(default_prompt(steps=150, seed=unique_seed()), cid)["prompt_id"]
    while True:  # until the sampler is under way
        m = json.loads(ws.recv())
        if m["type"] == "progress" and m["data"]["node"] == "5" and m["data"]["value"] >= 2:
            break
    ws.sock.shutdown(socket.SHUT_RDWR)  # gone, without a goodbye
    ws.sock.close()
    # half an HTTP request, and a body shorter than announced, then gone
    for head in ("POST /prompt HTTP/1.1\r\nHost: x\r\nContent-Len", "POST /prompt HTTP/1.1\r\nHost: x\r\n"
                 "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"prompt\":"):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(head.encode())
        s.close()
    # garbage on a websocket
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    raw.sendall(b"GET /ws?clientId=junk HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    raw.recv(1024)
    raw.sendall(os.urandom(4096))
    raw.close()
    entry = server.wait_history(pid)
    assert entry["status"]["status_str"] == "success" and entry["outputs"]["7"]["images"]
    # the same client id reconnecting gets the queue status first, as ComfyUI's clients expect
    ws2 = websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws?clientId={cid}", timeout=30)
    first = json.loads(ws2.recv())
    assert first["type"] == "status" and first["data"]["sid"] == cid
    ws2.close()
    assert_serving(server)
