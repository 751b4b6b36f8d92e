"""A small client of ComfyUI's API, for NodeFlow's CLI (``nodeflow run --server``) and, later, the editor: HTTP with
the standard library (urllib), the websocket with aiohttp. Works against ``nodeflow serve`` and against ComfyUI.

    client = ServerClient("http://127.0.0.1:8188")          # "http://user:password@host:port" for --auth
    outcome = client.run(prompt, on_event=listener)           # connects the websocket first, queues, follows
    outcome.status, outcome.images                            # "success" | "error" | "interrupted", output refs
    client.fetch(outcome.images[0])                           # the PNG's bytes (GET /view)

``run`` blocks (call it from a worker thread in a GUI); ``on_event`` hears NodeFlow's executor events, rebuilt from
the server's messages (``wire``: exact per-node reports from a NodeFlow server; from ComfyUI's own messages
otherwise), so a listener written for a local ``Executor`` (``cli.printer.RunPrinter``, the editor's) works as is.
"""
from __future__ import annotations

import asyncio
import base64
import io
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from nodeflow.core import events as ev
from nodeflow.server import wire


class ServerError(Exception):
    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.status, self.body = status, body


class PromptRejected(ServerError):
    """The server refused a prompt (HTTP 400): ``error`` and ``node_errors`` as ComfyUI gives them."""

    @property
    def error(self) -> dict:
        err = self.body.get("error") if isinstance(self.body, dict) else None
        return err if isinstance(err, dict) else {"message": str(err or self)}

    @property
    def node_errors(self) -> dict:
        errs = self.body.get("node_errors") if isinstance(self.body, dict) else None
        return errs if isinstance(errs, dict) else {}


@dataclass
class RunOutcome:
    prompt_id: str
    #: "success" | "error" | "interrupted"
    status: str
    #: The prompt's /history entry.
    history: dict = field(default_factory=dict)
    #: Every JSON message about this prompt, in order ({"type", "data"}).
    messages: list[dict] = field(default_factory=list)
    #: The run's report as the listener got it (``wire.RemoteReport``).
    report: Any = None

    @property
    def outputs(self) -> dict:
        return self.history.get("outputs", {})

    @property
    def images(self) -> list[dict]:
        return [i for out in self.outputs.values() for i in out.get("images", [])]

    @property
    def error(self) -> dict | None:
        return next((m["data"] for m in self.messages if m["type"] == "execution_error"), None)


class ServerClient:
    def __init__(self, url: str, *, auth: tuple[str, str] | None = None, timeout: float = 30.0,
                 client_id: str | None = None):
        parts = urllib.parse.urlsplit(url if "//" in url else "http://" + url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) server address")
        if parts.username and auth is None:
            auth = (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
        self.url = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
        self.ws_url = ("wss" if parts.scheme == "https" else "ws") + self.url[len(parts.scheme):] + "/ws"
        self.auth = auth
        self.timeout = timeout
        self.client_id = client_id or uuid.uuid4().hex
        self._nodeflow: bool | None = None

    # -- HTTP -----------------------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
                 query: dict | None = None) -> bytes:
        url = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        req = urllib.request.Request(url, data=body, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        if self.auth is not None:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as e:
            data = e.read()
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = data.decode("utf-8", "replace")
            cls = PromptRejected if e.code == 400 and path == "/prompt" else ServerError
            message = parsed.get("error", {}).get("message") if isinstance(parsed, dict) and \
                isinstance(parsed.get("error"), dict) else str(parsed)[:300]
            raise cls(f"{method} {path}: HTTP {e.code}: {message}", e.code, parsed) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ServerError(f"cannot reach {self.url}: {reason}") from None

    def get_json(self, path: str, **query) -> Any:
        return json.loads(self._request("GET", path, query=query or None))

    def post_json(self, path: str, body: Any) -> bytes:
        return self._request("POST", path, json.dumps(body).encode(), "application/json")

    def object_info(self, class_type: str | None = None) -> dict:
        return self.get_json(f"/object_info/{urllib.parse.quote(class_type)}" if class_type else "/object_info")

    def system_stats(self) -> dict:
        return self.get_json("/system_stats")

    def is_nodeflow(self) -> bool:
        """Is the server NodeFlow's (it then also checks prompts without running them, and reports per node)?"""
        if self._nodeflow is None:
            version = self.system_stats().get("system", {}).get("comfyui_version", "")
            self._nodeflow = isinstance(version, str) and version.startswith("nodeflow")
        return self._nodeflow

    def queue(self) -> dict:
        return self.get_json("/queue")

    def history(self, prompt_id: str | None = None) -> dict:
        return self.get_json(f"/history/{urllib.parse.quote(prompt_id)}" if prompt_id else "/history")

    def interrupt(self, prompt_id: str | None = None) -> None:
        self.post_json("/interrupt", {"prompt_id": prompt_id} if prompt_id else {})

    def free(self, unload_models: bool = True, free_memory: bool = True) -> None:
        self.post_json("/free", {"unload_models": unload_models, "free_memory": free_memory})

    def queue_prompt(self, prompt: dict, extra_data: dict | None = None, *, front: bool = False,
                     validate_only: bool = False) -> dict:
        """POST /prompt -> {"prompt_id", "number", "node_errors"}; PromptRejected (its node_errors) on a 400.
        ``validate_only``: a NodeFlow server checks the prompt and queues nothing."""
        extra = dict(extra_data or {})
        if validate_only:
            if not self.is_nodeflow():  # ComfyUI would ignore the flag and run the prompt
                raise ServerError(f"{self.url} cannot check a prompt without running it (not a NodeFlow server)")
            extra["nodeflow"] = {**extra.get("nodeflow", {}), "validate_only": True}
        body = {"prompt": prompt, "client_id": self.client_id, "extra_data": extra}
        if front:
            body["front"] = True
        return json.loads(self.post_json("/prompt", body))

    def view_url(self, ref: dict) -> str:
        """Where an output ({filename, subfolder, type}) can be fetched (without credentials)."""
        query = {"filename": ref.get("filename", ""), "subfolder": ref.get("subfolder", ""),
                 "type": ref.get("type", "output")}
        return f"{self.url}/view?{urllib.parse.urlencode(query)}"

    def fetch(self, ref: dict) -> bytes:
        return self._request("GET", "/view", query={"filename": ref.get("filename", ""),
                                                     "subfolder": ref.get("subfolder", ""),
                                                     "type": ref.get("type", "output")})

    def upload_image(self, data: bytes, filename: str, *, subfolder: str = "", overwrite: bool = False,
                     folder_type: str = "input") -> dict:
        """POST /upload/image -> {"name", "subfolder", "type"} (the name may differ: collisions get " (1)")."""
        boundary = "nodeflow-" + secrets.token_hex(12)
        buf = io.BytesIO()
        for name, value in (("subfolder", subfolder), ("type", folder_type), ("overwrite", str(overwrite).lower())):
            buf.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode())
        quoted = filename.replace('"', "%22").replace("\r", "").replace("\n", "")
        buf.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{quoted}\"\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n".encode())
        buf.write(data)
        buf.write(f"\r\n--{boundary}--\r\n".encode())
        return json.loads(self._request("POST", "/upload/image", buf.getvalue(),
                                        f"multipart/form-data; boundary={boundary}"))

    # -- running a prompt -----------------------------------------------------------------------------------------
    def run(self, prompt: dict, *, extra_data: dict | None = None, on_message: Callable[[dict], None] | None = None,
            on_event: Callable[[ev.Event], None] | None = None, node_id: Callable[[str], Any] = str,
            timeout: float | None = None) -> RunOutcome:
        """Queue ``prompt`` and follow it to its end. ``on_message`` hears every message about it (previews as
        {"type": "preview", "data": bytes}); ``on_event`` NodeFlow's events, node ids mapped by ``node_id``.
        PromptRejected if the server refuses it; ServerError if the connection is lost or ``timeout`` passes."""
        extra = dict(extra_data or {})
        if on_event is not None:
            extra["nodeflow"] = {**extra.get("nodeflow", {}), "events": True}
        replay = EventReplay(on_event, node_id, self._output_name) if on_event is not None else None
        return asyncio.run(self._run(prompt, extra, on_message, replay, timeout))

    def _output_name(self, ref: dict) -> str:
        return self.view_url(ref)

    async def _run(self, prompt, extra, on_message, replay, timeout) -> RunOutcome:
        import aiohttp

        auth = aiohttp.BasicAuth(*self.auth) if self.auth is not None else None
        deadline = None if timeout is None else time.monotonic() + timeout
        messages: list[dict] = []
        loop = asyncio.get_running_loop()
        try:
            async with aiohttp.ClientSession(auth=auth) as session:
                # Connected before the prompt is queued, so no message about it can be missed.
                async with session.ws_connect(f"{self.ws_url}?clientId={self.client_id}", max_msg_size=0) as ws:
                    answer = await loop.run_in_executor(None, lambda: self.queue_prompt(prompt, extra))
                    prompt_id = answer["prompt_id"]
                    while True:
                        left = None if deadline is None else deadline - time.monotonic()
                        if left is not None and left <= 0:
                            raise ServerError(f"prompt {prompt_id} did not finish within {timeout} s")
                        msg = await ws.receive(timeout=left)
                        if msg.type == aiohttp.WSMsgType.BINARY:
                            if on_message:
                                on_message({"type": "preview", "data": msg.data})
                            if replay:
                                replay.preview(msg.data)
                            continue
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            raise ServerError(f"the server closed the connection while running prompt {prompt_id}")
                        message = json.loads(msg.data)
                        data = message.get("data") if isinstance(message.get("data"), dict) else {}
                        if data.get("prompt_id") != prompt_id:
                            continue  # another prompt's, or the queue's status
                        messages.append(message)
                        if on_message:
                            on_message(message)
                        if replay:
                            replay(message)
                        if message.get("type") == "executing" and data.get("node") is None:
                            break
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            raise ServerError(f"lost the connection to {self.url}: {e or type(e).__name__}") from None
        history = (await loop.run_in_executor(None, self.history, prompt_id)).get(prompt_id, {})
        kinds = {m.get("type") for m in messages}
        status = "interrupted" if "execution_interrupted" in kinds else \
            "success" if "execution_success" in kinds else "error"
        report = replay.finish(status, history) if replay else None
        return RunOutcome(prompt_id, status, history, messages, report)


class EventReplay:
    """A server's messages about one prompt -> NodeFlow's executor events. A NodeFlow server sends its own events
    (``wire``); from ComfyUI's messages alone, nodes are reported as they start and end (no reasons)."""

    def __init__(self, listener: Callable[[ev.Event], None], node_id: Callable[[str], Any],
                 output_name: Callable[[dict], str]):
        self.listener, self.node, self.output_name = listener, node_id, output_name
        self.native = False
        self.current: str | None = None
        self._started = 0.0
        self._t0 = time.perf_counter()
        self._ran: list[str] = []
        self._cached: list[str] = []
        self.finished: ev.RunFinished | None = None

    def __call__(self, message: dict) -> None:
        kind, data = message.get("type"), message.get("data", {})
        if kind == wire.MESSAGE_TYPE:
            self.native = True
            event = wire.from_wire(data, self.node, self.output_name)
            if isinstance(event, ev.RunFinished):
                self.finished = event
            if event is not None:
                self.listener(event)
            return
        if kind == "executing" and data.get("node") is not None:
            self.current = data["node"]
        elif kind == "progress" and data.get("node") is not None:
            self.listener(ev.NodeProgress(self.node(data["node"]), float(data.get("value", 0)),
                                          float(data.get("max", 1))))
        if self.native:
            return
        # ComfyUI's messages only
        if kind == "execution_cached":
            for n in data.get("nodes", []):
                self._cached.append(n)
                self.listener(ev.NodeFinished(self.node(n), 0.0, True, "cached"))
        elif kind in ("executing", "execution_success", "execution_error", "execution_interrupted"):
            self._end_current(kind)
            if kind == "executing" and data.get("node") is not None:
                self.current, self._started = data["node"], time.perf_counter()
                self.listener(ev.NodeStarted(self.node(self.current), ""))
            if kind == "execution_error":
                self.listener(ev.NodeFailed(self.node(data.get("node_id")), data.get("exception_message", ""),
                                            "", {}, None))

    def _end_current(self, kind: str) -> None:
        if self.current is not None and self.current not in self._ran and kind != "execution_error":
            self._ran.append(self.current)
            self.listener(ev.NodeFinished(self.node(self.current), time.perf_counter() - self._started, False,
                                          "ran"))
        self.current = None

    def preview(self, payload: bytes) -> None:
        if self.current is None or len(payload) <= 8:
            return
        from PIL import Image

        try:
            image = Image.open(io.BytesIO(payload[8:]))
            image.load()
        except Exception:  # a preview that cannot be read is only a missed preview
            return
        self.listener(ev.NodePreview(self.node(self.current), image))

    def finish(self, status: str, history: dict) -> wire.RemoteReport:
        if self.finished is not None:
            return self.finished.report
        refs = [r for out in history.get("outputs", {}).values() for r in out.get("images", [])]
        report = wire.RemoteReport({"success": "ok", "interrupted": "cancelled"}.get(status, "error"),
                                   time.perf_counter() - self._t0, [self.node(n) for n in self._ran],
                                   [self.node(n) for n in self._cached], [self.output_name(r) for r in refs])
        self.listener(ev.RunFinished(0, report.status, report))
        return report
