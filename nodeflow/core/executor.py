"""The executor: runs a plan (``planning.plan``), node after node, reusing results whose content signature has not
changed.

A node's signature hashes its type, type version, widget values, file stamps and the signatures of what feeds it,
never node ids: a reloaded or renumbered graph hits the same cache entries. For every node of every run the executor
records whether it ran or was reused, and why. What outputs embed (a saved PNG's workflow chunks) is the host's to
say (``embed``): the executor knows no file format.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from nodeflow.core import events as ev
from nodeflow.core.cache import CacheEntry, OutputCache
from nodeflow.core.context import Cancelled, ExecutionContext, NodeError
from nodeflow.core.device import configure_cpu_threads, resolve_device
from nodeflow.core.graph import Graph, Node
from nodeflow.core.model_cache import ModelCache
from nodeflow.core.nodedef import NodeType
from nodeflow.core.planning import Plan, plan
from nodeflow.core.validation import Problem, input_is_linked_socket, resolved_values

Listener = Callable[[ev.Event], None]
#: What outputs embed, as the host computes it once per run: {key: text} (a PNG's text chunks), or a callable
#: giving it when first needed.
Embed = dict | Callable[[], dict] | None


@dataclass
class NodeRecord:
    node_id: int
    status: str  # "ran" | "cached" | "failed" | "skipped" | "cancelled" | "bypassed"
    reason: str = ""
    seconds: float = 0.0
    error: dict | None = None
    files: list = field(default_factory=list)
    info: dict = field(default_factory=dict)
    ui: dict = field(default_factory=dict)


@dataclass
class RunReport:
    run_id: int
    status: str = "ok"  # "ok" | "error" | "cancelled" | "invalid"
    planned: list[int] = field(default_factory=list)
    records: dict[int, NodeRecord] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    seconds_total: float = 0.0

    @property
    def executed(self) -> list[int]:
        return [i for i, r in self.records.items() if r.status == "ran"]

    @property
    def cached(self) -> list[int]:
        return [i for i, r in self.records.items() if r.status == "cached"]

    @property
    def outputs(self) -> list[str]:
        # a node that failed after writing some files (a full disk on the third image) still wrote the first two
        return [f for r in self.records.values() if r.status in ("ran", "failed") for f in r.files]

    @property
    def errors(self) -> list[dict]:
        errs = [p.to_dict() for p in self.problems]
        return errs + [r.error for r in self.records.values() if r.error]

    def to_json(self) -> dict:
        return {"status": self.status, "executed": self.executed, "cached": self.cached,
                "seconds_total": round(self.seconds_total, 4),
                "seconds": {str(i): round(r.seconds, 4) for i, r in self.records.items()
                            if r.status in ("ran", "cached")},
                "reasons": {str(i): r.reason for i, r in self.records.items()},
                "outputs": self.outputs, "errors": self.errors,
                "info": {str(i): _jsonable(r.info) for i, r in self.records.items() if r.info}}


class Executor:
    def __init__(self, env, *, cache_budget_bytes: int | None = None):
        """``env``: the Environment (settings and registry) runs happen in; ``env`` may be replaced between runs
        (the editor's Settings dialog), the caches stay."""
        self.env = env
        budget = cache_budget_bytes if cache_budget_bytes is not None else env.settings.cache_budget_bytes
        self.cache = OutputCache(budget)
        self.models = ModelCache()
        self._cancel = threading.Event()
        self._run_lock = threading.Lock()
        self._run_id = 0
        #: Signature components of each node's last run, per graph key: to explain why a node runs again.
        #: Bounded (least recently run first out), so a long-lived server seeing many graphs does not grow forever.
        self._last: "OrderedDict[tuple[str, int], dict]" = OrderedDict()

    #: How many (graph, node) explanations ``why`` can give at most (a few MB of signature components).
    MAX_REMEMBERED = 20_000

    @property
    def registry(self):
        return self.env.registry

    def remember(self, key: str, node_id: int, components: dict) -> None:
        """What a node last ran with, to explain why it runs again; the oldest are forgotten first."""
        self._last[(key, node_id)] = components
        self._last.move_to_end((key, node_id))
        while len(self._last) > self.MAX_REMEMBERED:
            self._last.popitem(last=False)

    @property
    def settings(self):
        return self.env.settings

    # -- control (any thread) -------------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Cooperative: takes effect at the running node's next progress report, or before the next node."""
        self._cancel.set()

    def free(self) -> dict:
        """Release cached outputs and loaded models."""
        freed = {"outputs_bytes": self.cache.free(), "models": self.models.free()}
        import gc
        import sys

        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
        return freed

    def device(self) -> str:
        device = resolve_device(self.settings.device)
        configure_cpu_threads(self.settings.cpu_threads)
        return device

    # -- running --------------------------------------------------------------------------------------------------
    def run(self, graph: Graph, targets: Iterable[int] | None = None, listener: Listener | None = None, *,
            key: str = "default", embed: Embed = None) -> RunReport:
        """Plan and run ``graph`` (which must not change meanwhile: pass a ``graph.copy()`` from an editor)."""
        return self.execute(plan(graph, self.env, targets), listener, key=key, embed=embed)

    def execute(self, work: Plan, listener: Listener | None = None, *, key: str = "default",
                embed: Embed = None, rerun_outputs: bool = False) -> RunReport:
        """Run a plan made with this executor's environment. ``key`` names the graph across runs (why a node runs
        again is explained against that graph's last run); ``embed``: what outputs embed (see ``Embed``);
        ``rerun_outputs``: output nodes run even when nothing they depend on changed (a batch wants its files
        written for every run; what feeds them still comes from the cache)."""
        with self._run_lock:
            self._cancel.clear()
            self._run_id += 1
            run = _Run(self, work, listener, key, embed)
            run.rerun_outputs = rerun_outputs
            return run.execute()


class _Run:
    """One run of one plan; holds the per-run state so the Executor itself stays small."""

    def __init__(self, ex: Executor, work: Plan, listener, key, embed):
        self.ex, self.plan, self.graph, self.key = ex, work, work.graph, key
        self.listener = listener
        self.report = RunReport(ex._run_id, problems=work.problems)
        self.results: dict[int, tuple] = {}
        self.signatures: dict[int, str] = {}
        self.components: dict[int, dict] = {}
        self._embed = embed
        self._embed_cache: dict | None = None
        self.rerun_outputs = False

    def emit(self, event: ev.Event) -> None:
        if self.listener is not None:
            self.listener(event)

    def embedded(self) -> dict:
        """What outputs embed, computed once per run, on first use."""
        if self._embed_cache is None:
            value = self._embed() if callable(self._embed) else self._embed
            self._embed_cache = dict(value or {})
        return self._embed_cache

    # -- signatures -----------------------------------------------------------------------------------------------
    def signature(self, node: Node, nt: NodeType) -> tuple[str, dict]:
        graph, settings = self.graph, self.ex.settings
        values, inputs, files = {}, {}, {}
        rvalues = resolved_values(nt, node)
        for inp in nt.inputs:
            links = graph.links_into(node.id, inp.name)
            if input_is_linked_socket(nt, node, inp, bool(links)):
                if links:
                    inputs[inp.name] = [self.signatures.get(links[-1].src, "?"), links[-1].src_output]
                continue
            value = rvalues.get(inp.name)
            values[inp.name] = value
            if inp.files is not None and isinstance(value, str):
                files[inp.name] = _file_stamp(self.plan.files.get(node.id, {}).get(inp.name))
        comp = {"type": nt.type_name, "version": nt.version, "mode": node.mode, "values": values,
                "inputs": inputs, "files": files}
        if nt.fingerprint is not None:
            comp["fingerprint"] = nt.fingerprint(rvalues, settings)
        if not nt.deterministic:
            comp["nonce"] = os.urandom(8).hex()
        text = json.dumps(comp, sort_keys=True, default=repr, separators=(",", ":"))
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest(), comp

    def why(self, node: Node, nt: NodeType, comp: dict) -> str:
        if not nt.deterministic:
            return "not cacheable (the node is not deterministic)"
        prev = self.ex._last.get((self.key, node.id))
        if prev is None or prev["type"] != comp["type"]:
            return "first run"
        changes = []
        for name in sorted(set(prev["values"]) | set(comp["values"])):
            a, b = prev["values"].get(name), comp["values"].get(name)
            if a != b:
                changes.append(f"value '{name}' changed ({_brief(a)} -> {_brief(b)})")
        for name in sorted(set(prev["inputs"]) | set(comp["inputs"])):
            if prev["inputs"].get(name) != comp["inputs"].get(name):
                changes.append(f"input '{name}' changed")
        for name in sorted(set(prev["files"]) | set(comp["files"])):
            if prev["files"].get(name) != comp["files"].get(name):
                changes.append(f"file of '{name}' changed")
        if prev["version"] != comp["version"]:
            changes.append("node type version changed")
        if prev["mode"] != comp["mode"]:
            changes.append(f"mode changed to {comp['mode']}")
        if prev.get("fingerprint") != comp.get("fingerprint"):
            changes.append("its source changed")
        return "; ".join(changes) if changes else "not in the cache (freed or evicted)"

    # -- execution ------------------------------------------------------------------------------------------------
    def execute(self) -> RunReport:
        start = time.perf_counter()
        report, order = self.report, self.plan.order
        if self.plan.invalid:
            report.status = "invalid"
            self.emit(ev.RunFinished(report.run_id, report.status, report))
            return report
        report.planned = list(order)
        self.emit(ev.RunStarted(report.run_id, report.planned))
        for t, reason in self.plan.skipped.items():
            report.records[t] = NodeRecord(t, "skipped", reason)
            self.emit(ev.NodeSkipped(t, reason))
        failed: set[int] = set()
        for nid in order:
            node = self.graph.nodes[nid]
            nt = self.ex.registry.get(node.type)
            sig, comp = self.signature(node, nt)
            self.signatures[nid], self.components[nid] = sig, comp
            upstream_failed = failed and [l.src for l in self.graph.incoming(nid) if l.src in failed]
            if upstream_failed:
                failed.add(nid)
                report.records[nid] = NodeRecord(nid, "skipped", f"not run: node {upstream_failed[0]} failed")
                self.emit(ev.NodeSkipped(nid, report.records[nid].reason))
                continue
            if self.ex._cancel.is_set():
                report.status = "cancelled"
                break
            if node.mode == "bypassed":
                self.results[nid] = self.bypass(node, nt)
                report.records[nid] = NodeRecord(nid, "bypassed", "bypassed: inputs passed through")
                self.emit(ev.NodeFinished(nid, 0.0, True, "bypassed"))
                continue
            reuse = nt.deterministic and not (self.rerun_outputs and nt.output_node)
            entry = self.ex.cache.get(sig) if reuse else None
            if entry is not None:
                self.results[nid] = entry.outputs
                self.ex.remember(self.key, nid, comp)
                report.records[nid] = NodeRecord(nid, "cached", "reused: nothing it depends on changed",
                                                 0.0, files=list(entry.files), info=entry.info,
                                                 ui=entry.ui)
                self.emit(ev.NodeFinished(nid, 0.0, True, report.records[nid].reason, entry.ui, entry.info,
                                          self.upstream_for_ui(nid, entry.ui)))
                continue
            reason = self.why(node, nt, comp)
            if not reuse and nt.deterministic and self.ex.cache.get(sig) is not None:
                reason = "an output node, run again as asked (rerun_outputs)"
            outcome = self.run_node(node, nt, sig, comp, reason)
            if outcome == "cancelled":
                report.status = "cancelled"
                break
            if outcome == "failed":
                failed.add(nid)
        if report.status != "cancelled":
            failed_any = any(r.status == "failed" for r in report.records.values())
            skipped_targets = any(r.status == "skipped" for r in report.records.values())
            report.status = "error" if failed_any or (skipped_targets and report.problems) else "ok"
        report.seconds_total = time.perf_counter() - start
        self.emit(ev.RunFinished(report.run_id, report.status, report))
        return report

    def run_node(self, node: Node, nt: NodeType, sig: str, comp: dict, reason: str) -> str:
        report, ex = self.report, self.ex
        kwargs = self.gather(node, nt)
        ctx = ExecutionContext(node_id=node.id, node_title=node.label, node_type=nt.type_name,
                               settings=ex.settings,
                               models=ex.models, cancel_event=ex._cancel, emit=self.emit,
                               device_resolver=ex.device, embedded=self.embedded,
                               upstream=lambda nid=node.id: self.upstream_info(nid),
                               files=self.plan.files.get(node.id, {}))
        self.emit(ev.NodeStarted(node.id, reason))
        t0 = time.perf_counter()
        try:
            outputs = _normalise(nt, nt.fn(ctx, **kwargs))
        except Cancelled:
            report.records[node.id] = NodeRecord(node.id, "cancelled", "cancelled while running",
                                                 time.perf_counter() - t0)
            return "cancelled"
        except Exception as e:  # a node's failure fails its run, never the engine
            seconds = time.perf_counter() - t0
            field_name = getattr(e, "field", None) if isinstance(e, NodeError) else None
            message = str(e) if isinstance(e, NodeError) else _describe_failure(e)
            error = {"kind": "node_failed", "node_id": node.id, "node_title": node.label, "field": field_name,
                     "message": message}
            report.records[node.id] = NodeRecord(node.id, "failed", reason, seconds, error=error,
                                                 files=list(ctx.files))
            self.emit(ev.NodeFailed(node.id, message, traceback.format_exc(), _summarise(kwargs), field_name))
            return "failed"
        seconds = time.perf_counter() - t0
        self.results[node.id] = outputs
        ex.remember(self.key, node.id, comp)
        if nt.deterministic:
            ex.cache.put(sig, CacheEntry(outputs, ctx.ui, ctx.info, list(ctx.files), seconds))
        report.records[node.id] = NodeRecord(node.id, "ran", reason, seconds, files=list(ctx.files),
                                             info=ctx.info, ui=ctx.ui)
        self.emit(ev.NodeFinished(node.id, seconds, False, reason, ctx.ui, ctx.info,
                                  self.upstream_for_ui(node.id, ctx.ui)))
        return "ran"

    def gather(self, node: Node, nt: NodeType) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        values = resolved_values(nt, node)
        for inp in nt.inputs:
            links = self.graph.links_into(node.id, inp.name)
            if input_is_linked_socket(nt, node, inp, bool(links)):
                kwargs[inp.name] = self.output_of(links[-1]) if links else None
            else:
                kwargs[inp.name] = values.get(inp.name)
        return kwargs

    def output_of(self, link) -> Any:
        src = self.graph.nodes[link.src]
        src_t = self.ex.registry.get(src.type)
        idx = src_t.output_index(link.src_output)
        return self.results[link.src][idx]

    def bypass(self, node: Node, nt: NodeType) -> tuple:
        """A bypassed node passes, for each output, the first input of the same type."""
        outs = []
        for out in nt.outputs:
            value = None
            for inp in nt.inputs:
                links = self.graph.links_into(node.id, inp.name)
                if inp.type == out.type and links:
                    value = self.output_of(links[-1])
                    break
            outs.append(value)
        return tuple(outs)

    def upstream_info(self, node_id: int) -> dict[int, dict]:
        records = self.report.records
        return {a: records[a].info for a in self.plan.ancestors(node_id) if a in records and records[a].info}

    def upstream_for_ui(self, node_id: int, ui: dict) -> dict[int, dict]:
        """What a node showing pictures was made from (its ancestors' recorded info), carried by its event."""
        return self.upstream_info(node_id) if ui.get("images") else {}


def _normalise(nt: NodeType, result: Any) -> tuple:
    n = len(nt.outputs)
    if n == 0:
        return ()
    if isinstance(result, dict) and set(result) <= {o.name for o in nt.outputs}:
        return tuple(result.get(o.name) for o in nt.outputs)
    if n == 1 and not (isinstance(result, tuple) and len(result) == 1):
        return (result,)
    if isinstance(result, (tuple, list)) and len(result) == n:
        return tuple(result)
    raise TypeError(f"{nt.type_name} returned {type(result).__name__}, expected {n} outputs")


def _file_stamp(path) -> list | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
        return [st.st_size, st.st_mtime_ns]
    except OSError:
        return None


def _describe_failure(e: Exception) -> str:
    """A node's unexpected exception in one line; running out of memory (torch's OutOfMemoryError, Python's
    MemoryError: matched by name, the core imports no torch) says what to lower."""
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError":
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        return ("out of memory while this node ran: lower the image size or batch size (or use the tiled VAE nodes)"
                + (f" ({first})" if first else ""))
    return f"{type(e).__name__}: {e}"


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _summarise(kwargs: dict) -> dict:
    out = {}
    for name, value in kwargs.items():
        shape = getattr(value, "shape", None)
        if shape is not None and hasattr(value, "dtype"):
            out[name] = f"{type(value).__name__}{list(shape)} {value.dtype}"
        elif isinstance(value, dict):
            out[name] = "{" + ", ".join(f"{k}: {_summarise({k: v})[k]}" for k, v in list(value.items())[:6]) + "}"
        else:
            out[name] = _brief(value)
    return out


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))
