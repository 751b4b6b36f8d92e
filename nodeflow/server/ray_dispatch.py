"""``nodeflow serve --ray ADDRESS``: the server's queue run by a pool of Ray actors (one per GPU, or per CPU where
there is none), so a ComfyUI client gets every GPU of a cluster behind one URL.

Each actor holds a ``PromptRunner`` (one warm Executor) whose Sink buffers the prompt's messages; a driver thread
per actor takes jobs from the same ``PromptQueue`` as the local workers, sends the job (plain data) to its actor,
relays the buffered messages to the websocket hub while it runs, and ends the job with ``dispatch.finish`` as the
local dispatcher does. Files a worker saves travel back as bytes with the message that names them: the relay writes
them into the server's own output (or temp) folder with the usual numbering and rewrites the references, so
/history and /view name files that are here. A worker that dies has its prompt queued again once, on another
actor, and a replacement actor is started.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

from nodeflow.batch.outputs import OutputWriter
from nodeflow.batch.ray_pool import _SOURCE_ROOT, _brief, _local_cluster_pids, _reap, import_ray
from nodeflow.batch.worker import settings_from_wire, settings_to_wire
from nodeflow.server.dispatch import _crashed, finish
from nodeflow.server.jobs import Job, JobResult

log = logging.getLogger("nodeflow.server")
_REF_KEYS = {"filename", "subfolder", "type"}


def _refs_in(obj):
    """Every {filename, subfolder, type} reference inside a message or an output."""
    if isinstance(obj, dict):
        if _REF_KEYS <= set(obj) and obj.get("type") in ("output", "temp"):
            yield obj
        for v in obj.values():
            yield from _refs_in(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _refs_in(v)


class _BufferSink:
    """A Sink inside the actor: messages wait here until the driver drains them, each with the bytes of the files
    it names (read once, then removed from the worker's scratch folder)."""

    def __init__(self, refs):
        self.refs = refs
        self._lock = threading.Lock()
        self._items: list = []

    def send(self, event: str, data: dict, sid) -> None:
        files = self.files_for(data)
        with self._lock:
            self._items.append(["json", event, data, sid, files])

    def send_bytes(self, payload: bytes, sid) -> None:
        with self._lock:
            self._items.append(["bytes", None, payload, sid, []])

    def connected(self, sid) -> bool:
        return True  # the driver drops frames for clients that left

    def files_for(self, obj) -> list:
        files = []
        for ref in _refs_in(obj):
            root = self.refs.output_dir if ref["type"] == "output" else self.refs.temp_dir
            path = root / ref["subfolder"] / ref["filename"]
            try:
                data = path.read_bytes()
            except OSError:  # shipped already (a cached node names its file again): the driver knows it
                continue
            path.unlink(missing_ok=True)
            files.append([ref["type"], ref["subfolder"], ref["filename"], data])
        return files

    def drain(self) -> list:
        with self._lock:
            items, self._items = self._items, []
        return items


class PromptActor:
    """What runs inside each Ray actor (made remote when the dispatcher starts)."""

    def __init__(self, settings: dict, previews: bool):
        from nodeflow.core.environment import Environment
        from nodeflow.server.outputs import OutputRefs
        from nodeflow.server.runner import PromptRunner

        scratch = Path(tempfile.mkdtemp(prefix="nodeflow-serve-worker-"))
        self.settings = dataclasses.replace(settings_from_wire(settings), output_dir=scratch / "output")
        self.settings.output_dir.mkdir(parents=True, exist_ok=True)
        self.env = Environment.create(self.settings)
        self.sink = _BufferSink(OutputRefs(self.settings.output_dir, scratch / "temp"))
        self.runner = PromptRunner(self.env, self.sink, self.sink.refs, previews=previews)
        self._interrupted: set = set()
        self._jobs = 0

    def info(self) -> dict:
        import socket

        return {"pid": os.getpid(), "host": socket.gethostname()}

    def warm_up(self) -> None:
        self.runner.warm_up()

    def run(self, job: dict) -> dict:
        """Run a job; each saves into its own sub-folder (``job-N``), so a file's name never comes back for
        another job: the driver's relay knows every name it has seen by that name."""
        import shutil

        job = Job(**job)
        self._jobs += 1
        folder = f"job-{self._jobs}"
        env = self.env.with_settings(dataclasses.replace(self.settings,
                                                         output_dir=self.settings.output_dir / folder))
        self.runner.env = self.runner.executor.env = env  # the caches stay
        try:
            result = self.runner.run(job, interrupted=lambda: job.prompt_id in self._interrupted)
            data = dataclasses.asdict(result)
            return {"result": data, "files": self.sink.files_for(data["outputs"])}
        finally:
            self._interrupted.discard(job.prompt_id)
            shutil.rmtree(self.settings.output_dir / folder, ignore_errors=True)

    def drain(self) -> list:
        return self.sink.drain()

    def interrupt(self, prompt_id: str | None) -> None:
        if prompt_id is not None:
            self._interrupted.add(prompt_id)
        self.runner.interrupt()

    def free(self) -> dict:
        return self.runner.free()


class _Relay:
    """Writes a worker's files here and rewrites references to them (remembered: a cached node names its file
    again later)."""

    MAX_REMEMBERED = 100_000

    def __init__(self, output_dir: Path, temp_dir: Path):
        self.writers = {"output": OutputWriter(output_dir), "temp": OutputWriter(temp_dir)}
        self.roots = {"output": Path(output_dir), "temp": Path(temp_dir)}
        self._map: "OrderedDict[tuple, dict]" = OrderedDict()
        self._lock = threading.Lock()

    def absorb(self, worker: str, files: list) -> None:
        for kind, sub, name, data in files:
            key = (worker, kind, sub, name)
            if kind == "output":  # the worker's per-job folder (job-N/...) is the worker's business
                sub = sub.partition("/")[2]
            rel = f"{sub}/{name}" if sub else name
            path = self.writers[kind].write_one(rel, data)
            folder = path.parent.relative_to(self.roots[kind]).as_posix()
            with self._lock:
                self._map[key] = {"filename": path.name, "subfolder": "" if folder == "." else folder, "type": kind}
                while len(self._map) > self.MAX_REMEMBERED:
                    self._map.popitem(last=False)

    def rewrite(self, worker: str, obj):
        for ref in _refs_in(obj):
            with self._lock:
                new = self._map.get((worker, ref["type"], ref["subfolder"], ref["filename"]))
            if new is not None:
                ref.update(new)
        return obj


@dataclasses.dataclass
class _Worker:
    name: str
    actor: object
    thread: threading.Thread | None = None
    job: Job | None = None


class RayDispatcher:
    def __init__(self, queue, history, sink, env, temp_dir: Path, *, address: str = "local",
                 workers: int | None = None, previews: bool = False, retries: int = 1, poll_seconds: float = 0.05):
        self.queue, self.history, self.sink = queue, history, sink
        self.settings = settings_to_wire(env.settings)
        self.relay = _Relay(Path(env.settings.output_dir), Path(temp_dir))
        self.address, self.count, self.previews = address or "local", workers, previews
        self.retries, self.poll = retries, poll_seconds
        self._ray = None
        self._started_cluster = False
        self._cluster_pids: list[int] = []
        self._actor_pids: set[int] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._attempts: dict[str, int] = {}
        self._spawned = 0
        self._replacements = 0

    # -- life -----------------------------------------------------------------------------------------------------
    def start(self) -> None:
        ray = self._ray = import_ray()
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.address == "local":
                kwargs.update(address="local", _node_ip_address="127.0.0.1",
                              runtime_env={"env_vars": {"PYTHONPATH": _SOURCE_ROOT}})
                if self.count:
                    kwargs["num_cpus"] = self.count
                self._started_cluster = True
            else:
                kwargs["address"] = self.address
            ray.init(**kwargs)
            if self._started_cluster:
                self._cluster_pids = _local_cluster_pids(ray)
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0)) if self.settings["device"] != "cpu" else 0
        self._options = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": 1}
        n = self.count or gpus or max(1, int(resources.get("CPU", 1)))
        self._initial = n
        for _ in range(n):
            self._spawn()

    def _spawn(self) -> None:
        ray = self._ray
        self._spawned += 1
        cls = ray.remote(PromptActor).options(max_concurrency=4, max_restarts=0, **self._options)
        worker = _Worker(f"worker-{self._spawned}", cls.remote(self.settings, self.previews))
        worker.thread = threading.Thread(target=self._work, args=(worker,), name=f"nodeflow-ray-{worker.name}",
                                         daemon=True)
        with self._lock:
            self._workers.append(worker)
        worker.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.queue.close()
        self.interrupt()
        for w in list(self._workers):
            if w.thread is not None:
                w.thread.join(timeout)
        ray = self._ray
        if ray is None:
            return
        for w in list(self._workers):
            try:
                ray.kill(w.actor)
            except Exception:
                pass
        if self._started_cluster:
            pids = set(self._cluster_pids) | self._actor_pids
            ray.shutdown()
            _reap(pids)
        self._ray = None

    def interrupt(self, prompt_id: str | None = None) -> None:
        with self._lock:
            busy = [w for w in self._workers if w.job is not None]
        for w in busy:
            if prompt_id is None or w.job is not None and w.job.prompt_id == prompt_id:
                w.actor.interrupt.remote(w.job.prompt_id if w.job is not None else None)

    def free(self, unload_models: bool = False, free_memory: bool = False) -> None:
        if unload_models or free_memory:
            for w in list(self._workers):
                w.actor.free.remote()

    def pids(self) -> dict:
        return {"actors": sorted(self._actor_pids), "cluster": sorted(self._cluster_pids)}

    # -- one driver thread per actor ------------------------------------------------------------------------------
    def _work(self, worker: _Worker) -> None:
        ray = self._ray
        try:
            info = ray.get(worker.actor.info.remote())
            self._actor_pids.add(int(info["pid"]))
            ray.get(worker.actor.warm_up.remote())
        except ray.exceptions.RayError as e:
            log.warning("Ray worker %s did not start: %s", worker.name, _brief(e))
            self._retire(worker)
            return
        log.info("Ray worker %s ready (pid %s on %s)", worker.name, info["pid"], info["host"])
        while not self._stop.is_set():
            job = self.queue.take(timeout=1.0)
            if job is None:
                continue
            worker.job = job
            try:
                outcome = self._run(worker, job)
            finally:
                worker.job = None
            if outcome is None:  # the actor is gone: the job is queued again or ended; this thread ends
                return

    def _run(self, worker: _Worker, job: Job):
        ray = self._ray
        self._attempts[job.prompt_id] = self._attempts.get(job.prompt_id, 0) + 1
        ref = worker.actor.run.remote(dataclasses.asdict(job))
        try:
            while True:
                ready, _ = ray.wait([ref], timeout=self.poll)
                self._relay(worker, ray.get(worker.actor.drain.remote()))
                if ready:
                    break
            answer = ray.get(ref)
        except ray.exceptions.RayTaskError as e:  # our code raised in the actor: the prompt fails, the actor lives
            log.warning("prompt %s failed on %s: %s", job.prompt_id, worker.name, _brief(e))
            finish(job, _crashed(job, self.sink), self.queue, self.history, self.sink)
            return True
        except ray.exceptions.RayError as e:
            self._lost(worker, job, _brief(e))
            return None
        self.relay.absorb(worker.name, answer["files"])
        data = self.relay.rewrite(worker.name, answer["result"])
        self._attempts.pop(job.prompt_id, None)
        finish(job, JobResult(**data), self.queue, self.history, self.sink)
        return True

    def _relay(self, worker: _Worker, items: list) -> None:
        for kind, event, data, sid, files in items:
            if kind == "bytes":
                if sid is not None and self.sink.connected(sid):
                    self.sink.send_bytes(data, sid)
                continue
            self.relay.absorb(worker.name, files)
            self.sink.send(event, self.relay.rewrite(worker.name, data), sid)

    def _lost(self, worker: _Worker, job: Job, reason: str) -> None:
        log.warning("Ray worker %s lost while running prompt %s: %s", worker.name, job.prompt_id, reason)
        self._retire(worker)
        if self._attempts.get(job.prompt_id, 0) <= self.retries and not self._stop.is_set():
            self.queue.done(job)
            try:
                self.queue.put(job)  # same number: it runs next, on another actor
                return
            except Exception as e:  # the queue is full or closed: the prompt ends here
                log.warning("prompt %s cannot be queued again: %s", job.prompt_id, e)
        self._attempts.pop(job.prompt_id, None)
        finish(job, _crashed(job, self.sink), self.queue, self.history, self.sink)

    def _retire(self, worker: _Worker) -> None:
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
        if not self._stop.is_set() and self._replacements < self._initial:
            self._replacements += 1
            self._spawn()
