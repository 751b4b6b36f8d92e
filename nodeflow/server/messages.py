"""Executor events -> ComfyUI's websocket messages for one prompt, in ComfyUI's order and shapes:

    execution_start, execution_cached {nodes}, executing {node}, progress {value, max, node}, executed {node, output},
    then execution_success | execution_error | execution_interrupted.

Previews become binary frames in ComfyUI's framing (``preview_frame``). Node ids are the prompt's. What ComfyUI keeps
in a prompt's history (its status messages, the outputs, meta) is collected on the way (``Translator.result``).

The executor finds cached nodes as it walks the plan, so the cached ones met before the first node that runs are
announced together in one execution_cached (ComfyUI announces all of them up front); any met later follow in
another execution_cached, which ComfyUI's clients merge the same way.
"""
from __future__ import annotations

import io
import struct
import time
from typing import Protocol

from nodeflow.core import events as ev
from nodeflow.server import wire
from nodeflow.server.jobs import Job, JobResult
from nodeflow.server.outputs import OutputRefs

#: ComfyUI's BinaryEventTypes.PREVIEW_IMAGE, and its image format codes.
PREVIEW_IMAGE = 1
JPEG, PNG = 1, 2
PREVIEW_MAX_SIZE = 512


class Sink(Protocol):
    """Where a prompt's messages go (the server's websocket hub; for a remote worker, whatever carries them back)."""

    def send(self, event: str, data: dict, sid: str | None) -> None:
        """``sid`` None: to every client (ComfyUI's broadcast)."""

    def send_bytes(self, payload: bytes, sid: str) -> None: ...

    def connected(self, sid: str | None) -> bool: ...


def preview_frame(image, max_size: int = PREVIEW_MAX_SIZE) -> bytes:
    """A live preview as ComfyUI sends it: 4-byte big-endian event type, 4-byte image format, JPEG bytes."""
    from PIL import Image

    picture = image if isinstance(image, Image.Image) else Image.fromarray(image)
    if max(picture.size) > max_size:
        picture = picture.copy()
        picture.thumbnail((max_size, max_size), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    buf.write(struct.pack(">II", PREVIEW_IMAGE, JPEG))
    picture.convert("RGB").save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def now_ms() -> int:
    return int(time.time() * 1000)


def _exception_type(trace: str) -> str:
    last = trace.strip().splitlines()[-1] if trace.strip() else ""
    name = last.split(":", 1)[0].strip()
    return name if name and " " not in name else "NodeError"


class Translator:
    """Listens to one run (pass it as the executor's listener) and talks ComfyUI to the prompt's client."""

    def __init__(self, job: Job, api_ids: dict[int, str], class_types: dict[int, str], sink: Sink,
                 refs: OutputRefs, previews: bool = False):
        self.job, self.api_ids, self.class_types = job, api_ids, class_types
        self.sink, self.refs, self.previews = sink, refs, previews
        self.sid = job.client_id
        nodeflow = job.extra_data.get("nodeflow")
        self.events = isinstance(nodeflow, dict) and nodeflow.get("events") is True
        self.messages: list = []
        self.outputs: dict[str, dict] = {}
        self.done: list[str] = []  # ran or cached, in order (ComfyUI's "executed" list)
        self.current: str | None = None
        self._cached: list[str] = []
        self._deferred: list[tuple[str, dict]] = []
        self._cached_sent = False
        self._failure: dict | None = None
        self.status = "error"  # "success" | "error" | "interrupted", once the run is over
        self.report = None

    def api(self, node_id: int) -> str:
        return self.api_ids.get(node_id, str(node_id))

    # -- sending --------------------------------------------------------------------------------------------------
    def send(self, event: str, data: dict, *, record: bool = False, broadcast: bool = False) -> None:
        if record:
            self.messages.append([event, data])
        if broadcast:
            self.sink.send(event, data, None)
        elif self.sid is not None:
            self.sink.send(event, data, self.sid)

    def _flush_cached(self) -> None:
        if self._cached or not self._cached_sent:
            self.send("execution_cached", {"nodes": self._cached, "prompt_id": self.job.prompt_id,
                                           "timestamp": now_ms()}, record=True)
            self._cached, self._cached_sent = [], True
        for event, data in self._deferred:
            self.send(event, data)
        self._deferred = []

    def _executed(self, node_id: int, ui: dict) -> tuple[str, dict] | None:
        output = self.refs.to_comfy(ui) if ui else {}
        if not output:
            return None
        key = self.api(node_id)
        self.outputs[key] = output
        return "executed", {"node": key, "display_node": key, "output": output, "prompt_id": self.job.prompt_id}

    # -- the listener ---------------------------------------------------------------------------------------------
    def __call__(self, event: ev.Event) -> None:
        pid = self.job.prompt_id
        if self.events and not isinstance(event, ev.RunFinished):
            data = wire.to_wire(event, self.api)
            if data is not None:
                self.send(wire.MESSAGE_TYPE, {"prompt_id": pid, **data})
        if isinstance(event, ev.RunStarted):
            self.send("execution_start", {"prompt_id": pid, "timestamp": now_ms()}, record=True)
        elif isinstance(event, ev.NodeStarted):
            self._flush_cached()
            self.current = self.api(event.node_id)
            self.send("executing", {"node": self.current, "display_node": self.current, "prompt_id": pid})
        elif isinstance(event, ev.NodeProgress):
            value, total = event.value, event.total
            self.send("progress", {"value": int(value) if float(value).is_integer() else value,
                                   "max": int(total) if float(total).is_integer() else total,
                                   "prompt_id": pid, "node": self.api(event.node_id)})
        elif isinstance(event, ev.NodePreview):
            if self.previews and self.sid is not None and self.sink.connected(self.sid):
                self.sink.send_bytes(preview_frame(event.image), self.sid)
        elif isinstance(event, ev.NodeFinished):
            self.done.append(self.api(event.node_id))
            message = self._executed(event.node_id, event.ui)
            if event.cached:
                self._cached.append(self.api(event.node_id))
                if message:
                    self._deferred.append(message)
            elif message:
                self.send(*message)
        elif isinstance(event, ev.NodeFailed) and self._failure is None:
            self._failure = {"prompt_id": pid, "node_id": self.api(event.node_id),
                             "node_type": self.class_types.get(event.node_id, ""), "executed": list(self.done),
                             "exception_message": event.message + (f" (input '{event.field}')" if event.field
                                                                   else ""),
                             "exception_type": _exception_type(event.traceback),
                             # The traceback stays in the server's log: it names server paths.
                             "traceback": [], "current_inputs": event.inputs,
                             "current_outputs": list(self.done), "timestamp": now_ms()}
            self.send("execution_error", self._failure, record=True)
        elif isinstance(event, ev.RunFinished):
            self._finish(event)

    def _finish(self, event: ev.RunFinished) -> None:
        pid = self.job.prompt_id
        self._flush_cached()
        report = event.report
        if event.status == "cancelled":
            node = self.current
            self.send("execution_interrupted", {"prompt_id": pid, "node_id": node,
                                                "node_type": self._class_of(node), "executed": list(self.done),
                                                "timestamp": now_ms()}, record=True, broadcast=True)
            self.status = "interrupted"
        elif self._failure is not None or event.status == "invalid":
            if self._failure is None:
                self.fail("the prompt cannot run: " + "; ".join(str(p) for p in report.problems))
            self.status = "error"
        else:
            self.send("execution_success", {"prompt_id": pid, "timestamp": now_ms()}, record=True)
            self.status = "success"
        if self.events:
            status = {"success": "ok", "interrupted": "cancelled"}.get(self.status, "error")  # the executor's words
            self.send(wire.MESSAGE_TYPE, {"prompt_id": pid, **wire.run_finished(
                status, report.seconds_total, [self.api(n) for n in report.executed],
                [self.api(n) for n in report.cached],
                [r for n in report.executed for r in self.outputs.get(self.api(n), {}).get("images", [])],
                [e.get("message", "") for e in report.errors])})
        self.report = report

    def _class_of(self, api_id: str | None) -> str:
        by_api = {v: k for k, v in self.api_ids.items()}
        return self.class_types.get(by_api.get(api_id), "") if api_id is not None else ""

    def fail(self, message: str, node_id: str | None = None, node_type: str = "") -> None:
        """An error that is no node's failure (the prompt could not be prepared to run)."""
        self._failure = {"prompt_id": self.job.prompt_id, "node_id": node_id, "node_type": node_type,
                         "executed": list(self.done), "exception_message": message,
                         "exception_type": "ValidationError", "traceback": [], "current_inputs": {},
                         "current_outputs": [], "timestamp": now_ms()}
        self.send("execution_error", self._failure, record=True)
        self.status = "error"

    # -- what the history keeps -----------------------------------------------------------------------------------
    def result(self) -> JobResult:
        report = self.report
        summary = {}
        if report is not None:
            summary = {"status": report.status, "seconds_total": round(report.seconds_total, 4),
                       "executed": [self.api(n) for n in report.executed],
                       "cached": [self.api(n) for n in report.cached],
                       "seconds": {self.api(i): round(r.seconds, 4) for i, r in report.records.items()
                                   if r.status in ("ran", "cached")},
                       "reasons": {self.api(i): r.reason for i, r in report.records.items()},
                       "errors": [e.get("message", "") for e in report.errors]}
        meta = {k: {"node_id": k, "display_node": k, "parent_node": None, "real_node_id": k} for k in self.outputs}
        return JobResult(self.status, self.outputs, self.messages, meta, summary)
