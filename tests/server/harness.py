"""A real ``nodeflow serve`` in a subprocess on 127.0.0.1 (a free port it picks itself and prints), stopped by its
process id; plus the small HTTP/websocket helpers the server tests share."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STARTUP_S = 90
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")


class ServerProcess:
    def __init__(self, root: Path, *flags: str, auth: tuple[str, str] | None = None):
        self.root = Path(root)
        self.auth = auth
        if auth is not None:
            flags = (*flags, "--auth", f"{auth[0]}:{auth[1]}")
        self.output = self.root / "output"
        self.input = self.root / "input"
        for d in (self.output, self.input, self.root / "home"):
            d.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, NODEFLOW_HOME=str(self.root / "home"),
                   NODEFLOW_SETTINGS=str(self.root / "no-settings.json"), HF_HUB_OFFLINE="1",
                   TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
        cmd = [sys.executable, "-m", "nodeflow", "serve", "--port", "0", "--output-directory", str(self.output),
               "--input-directory", str(self.input), "--device", "cpu", *flags]
        self.log = self.root / "server.log"
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines: list[str] = []
        found = threading.Event()
        self.url = ""

        def read():
            with open(self.log, "w") as logf:
                for line in self.proc.stdout:
                    self.lines.append(line)
                    logf.write(line)
                    logf.flush()
                    m = LISTENING.search(line)
                    if m and not found.is_set():
                        self.url, self.port = m.group(1), int(m.group(2))
                        found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(STARTUP_S):
            self.stop()
            raise RuntimeError("the server did not start:\n" + "".join(self.lines))

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    # -- HTTP helpers ---------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 30) -> tuple[int, bytes, dict]:
        headers = dict(headers or {})
        if self.auth is not None and "Authorization" not in headers:
            headers["Authorization"] = basic(*self.auth)
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def get_json(self, path: str, **kw):
        status, data, _ = self.request("GET", path, **kw)
        assert status == 200, (path, status, data[:300])
        return json.loads(data)

    def post_json(self, path: str, obj, **kw) -> tuple[int, object]:
        status, data, _ = self.request("POST", path, json.dumps(obj).encode(),
                                       {"Content-Type": "application/json"}, **kw)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, data

    def queue(self, prompt: dict, client_id: str | None = None, **extra) -> dict:
        status, answer = self.post_json("/prompt", {"prompt": prompt, "client_id": client_id or "", **extra})
        assert status == 200, answer
        return answer

    def wait_idle(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            q = self.get_json("/queue")
            if not q["queue_running"] and not q["queue_pending"]:
                return
            time.sleep(0.05)
        raise AssertionError("the queue did not drain")

    def wait_history(self, prompt_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            h = self.get_json(f"/history/{prompt_id}")
            if prompt_id in h:
                return h[prompt_id]
            time.sleep(0.05)
        raise AssertionError(f"prompt {prompt_id} did not finish")


def basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux), 0 where it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def default_prompt(steps: int = 3, seed: int = 1) -> dict:
    """The default workflow (workflows/default.json, the built-in 64 px shapes model), exported to ComfyUI's API
    format as ComfyUI's front end would queue it."""
    from nodeflow.core.registry import load_registry
    from nodeflow.formats.comfyui import export_api
    from nodeflow.formats.open_any import load_graph

    registry = load_registry([], entry_points=False)
    graph = load_graph(REPO / "workflows" / "default.json", registry)
    prompt = export_api(graph, registry)
    ks = next(k for k, v in prompt.items() if v["class_type"] == "KSampler")
    prompt[ks]["inputs"].update(steps=steps, seed=seed)
    return prompt


def unique_seed() -> int:
    return uuid.uuid4().int % (2 ** 48)
