"""A batch on a Ray cluster: one actor per GPU (or per ``cpus_per_worker`` CPUs where there is none), each holding
a warm ``BatchWorker``; the driver hands each free actor its next job, collects outcomes, polls progress, and when
an actor dies (killed, its machine lost, out of memory) runs that actor's job again on another one and starts a
replacement.

Ray does the distributed part (placing actors on machines and GPUs, moving jobs and PNG bytes, noticing dead
processes); what is here is NodeFlow's policy on top. Jobs and outcomes travel as plain data (str, bytes, dicts).
Ray is imported only here, only when a pool starts: it is an optional extra (``pip install -e ".[ray]"``).
"""
from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from nodeflow.batch import events as bev
from nodeflow.batch.jobs import JobOutcome
from nodeflow.batch.worker import BatchWorker, settings_to_wire

#: Where this NodeFlow is imported from: a local cluster's workers import the same code.
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])


class RayMissing(RuntimeError):
    pass


def import_ray():
    try:
        import ray
    except ImportError:
        raise RayMissing("Ray is not installed: pip install -e \".[ray]\" (or pip install \"ray[default]\")") \
            from None
    return ray


class WorkerActor:
    """What runs inside each Ray actor (made remote with ``ray.remote`` when the pool starts). Threaded
    (``max_concurrency``), so progress and cancel are answered while a job runs."""

    def __init__(self, settings: dict, slot: str, cpu_threads: int | None):
        import socket

        gpus = self._gpus()
        name = f"{slot}@{socket.gethostname()}:{os.getpid()}" + (f" gpu {','.join(gpus)}" if gpus else "")
        self.worker = BatchWorker(settings, name, cpu_threads=cpu_threads)

    @staticmethod
    def _gpus() -> list[str]:
        try:
            import ray

            return [str(g) for g in ray.get_gpu_ids()]
        except Exception:
            return []

    def info(self) -> dict:
        return {**self.worker.info(), "gpus": self._gpus()}

    def run(self, job: dict) -> dict:
        return self.worker.run(job)

    def progress(self) -> dict:
        return self.worker.progress()

    def cancel(self) -> None:
        self.worker.cancel()


@dataclass
class _Slot:
    name: str
    actor: object
    ready_ref: object = None
    info: dict = field(default_factory=dict)
    ready: bool = False
    started: float = field(default_factory=time.monotonic)
    warm: set = field(default_factory=set)
    job: object = None
    run_ref: object = None
    progress_ref: object = None


class RayPool:
    def __init__(self, settings, *, address: str | None = "local", workers: int | None = None,
                 cpus_per_worker: int = 1, replace_lost: bool = True, poll_seconds: float = 0.1,
                 startup_timeout: float = 300.0, cancel_grace: float = 10.0, init_kwargs: dict | None = None):
        """``address``: "local" starts a private cluster on this machine (stopped by ``close``); anything else is
        a running cluster's address ("auto", "ray://host:10001", "host:6379"). ``workers``: how many actors
        (default: one per GPU of the cluster, else one per ``cpus_per_worker`` CPUs)."""
        self.settings = settings_to_wire(settings)
        self.address = address or "local"
        self.workers = workers
        self.cpus_per_worker = max(1, int(cpus_per_worker))
        self.replace_lost = replace_lost
        self.poll = poll_seconds
        self.startup_timeout = startup_timeout
        self.cancel_grace = cancel_grace
        self.init_kwargs = dict(init_kwargs or {})
        self.slots: list[_Slot] = []
        self._ray = None
        self._started_cluster = False
        self._cluster_pids: list[int] = []
        self._actor_pids: set[int] = set()
        self._stop = threading.Event()
        self._count = 0
        self._replacements = 0
        self._initial = 0
        self._options: dict = {}
        self._threads: int | None = None

    # -- the cluster and the actors -------------------------------------------------------------------------------
    def start(self) -> "RayPool":
        ray = self._ray = import_ray()
        local = self.address == "local"
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if local:
                cpus = (self.workers or max(1, (os.cpu_count() or 1) // self.cpus_per_worker)) * self.cpus_per_worker
                kwargs.update(address="local", num_cpus=cpus, _node_ip_address="127.0.0.1",
                              runtime_env={"env_vars": {"PYTHONPATH": _SOURCE_ROOT}})
                self._started_cluster = True
            else:
                kwargs["address"] = self.address
            kwargs.update(self.init_kwargs)
            ray.init(**kwargs)
            if self._started_cluster:
                self._cluster_pids = _local_cluster_pids(ray)
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0)) if self.settings["device"] != "cpu" else 0
        if gpus:  # one actor per GPU: Ray gives each its own CUDA_VISIBLE_DEVICES
            count = self.workers or gpus
            self._options = {"num_gpus": 1, "num_cpus": 1}
            self._threads = None
        else:
            count = self.workers or max(1, int(resources.get("CPU", 1)) // self.cpus_per_worker)
            self._options = {"num_cpus": self.cpus_per_worker}
            self._threads = self.cpus_per_worker  # torch's threads pinned to the CPUs Ray reserved for it
        self._initial = count
        for _ in range(count):
            self._spawn()
        return self

    def _spawn(self) -> _Slot:
        ray = self._ray
        self._count += 1
        name = f"worker-{self._count}"
        cls = ray.remote(WorkerActor).options(max_concurrency=4, max_restarts=0, **self._options)
        actor = cls.remote(self.settings, name, self._threads)
        slot = _Slot(name, actor, ready_ref=actor.info.remote())
        self.slots.append(slot)
        return slot

    def cancel(self) -> None:
        """Stop the batch from any thread: no new job starts, the running ones are cancelled."""
        self._stop.set()

    # -- running a batch ------------------------------------------------------------------------------------------
    def run(self, batch) -> None:
        if self._ray is None:
            self.start()
        self._stop.clear()
        for slot in self.slots:  # workers still warm from an earlier batch of this pool
            if slot.ready:
                batch.workers.append(slot.info)
                batch.emit(bev.WorkerReady(slot.info.get("name", slot.name), slot.info))
        try:
            self._loop(batch)
        except KeyboardInterrupt:  # Ctrl+C: wind down, then let the caller know (it reports "cancelled")
            self._stop.set()
            self._wind_down(batch)
            raise
        if self._stop.is_set():
            self._wind_down(batch)

    def _loop(self, batch) -> None:
        ray = self._ray
        while not batch.schedule.done and not self._stop.is_set():
            self._check_ready(batch)
            live = [s for s in self.slots if s.ready]
            if not live and not any(s.ready_ref is not None for s in self.slots):
                batch.abandon("no worker could be started or every worker was lost")
                return
            for slot in live:
                if slot.job is None:
                    self._dispatch(batch, slot)
            running = {s.run_ref: s for s in self.slots if s.run_ref is not None}
            if not running:
                time.sleep(self.poll)
                continue
            # back as soon as one job ends (a free worker gets its next job at once), with any others that have
            ready, rest = ray.wait(list(running), num_returns=1, timeout=self.poll)
            if ready and rest:
                ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
            for ref in ready:
                self._collect(batch, running[ref], ref)
            self._poll_progress(batch)

    def _check_ready(self, batch) -> None:
        ray = self._ray
        for slot in [s for s in self.slots if s.ready_ref is not None]:
            done, _ = ray.wait([slot.ready_ref], timeout=0)
            if done:
                try:
                    slot.info = ray.get(slot.ready_ref)
                    slot.ready, slot.ready_ref = True, None
                    self._actor_pids.add(int(slot.info.get("pid", 0)))
                    batch.workers.append(slot.info)
                    batch.emit(bev.WorkerReady(slot.info.get("name", slot.name), slot.info))
                except ray.exceptions.RayError as e:
                    slot.ready_ref = None
                    self.slots.remove(slot)
                    batch.emit(bev.WorkerLost(slot.name, f"did not start: {_brief(e)}"))
            elif time.monotonic() - slot.started > self.startup_timeout:
                slot.ready_ref = None
                self.slots.remove(slot)
                ray.kill(slot.actor)
                batch.emit(bev.WorkerLost(slot.name, f"not started after {self.startup_timeout:.0f}s "
                                                     "(the cluster may lack the resources for it)"))

    def _dispatch(self, batch, slot: _Slot) -> None:
        name = slot.info.get("name", slot.name)
        job = batch.schedule.next_for(name, slot.warm)
        if job is None:
            return
        slot.job, slot.run_ref = job, slot.actor.run.remote(job.to_wire())
        batch.emit(bev.JobStarted(job, name, batch.schedule.attempts(job.job_id)))

    def _collect(self, batch, slot: _Slot, ref) -> None:
        ray = self._ray
        job, name = slot.job, slot.info.get("name", slot.name)
        slot.job = slot.run_ref = None
        try:
            outcome = JobOutcome.from_wire(ray.get(ref))
        except ray.exceptions.RayTaskError as e:  # our code raised inside the actor: the actor lives on
            outcome = JobOutcome(job.job_id, "error", name, message=_brief(e))
        except ray.exceptions.RayError as e:  # the actor's process or machine is gone
            self._lose(batch, slot, job, _brief(e))
            return
        slot.warm.add(job.model_key)
        batch.record(outcome)

    def _lose(self, batch, slot: _Slot, job, reason: str) -> None:
        name = slot.info.get("name", slot.name)
        if slot in self.slots:
            self.slots.remove(slot)
        batch.emit(bev.WorkerLost(name, reason))
        if job is not None:
            batch.lost(job.job_id, name, reason)
        if self.replace_lost and not self._stop.is_set() and self._replacements < self._initial \
                and not batch.schedule.done:
            self._replacements += 1
            self._spawn()

    def _poll_progress(self, batch) -> None:
        ray = self._ray
        for slot in self.slots:
            if slot.progress_ref is not None:
                done, _ = ray.wait([slot.progress_ref], timeout=0)
                if not done:
                    continue
                try:
                    p = ray.get(slot.progress_ref)
                except ray.exceptions.RayError:
                    p = {}
                slot.progress_ref = None
                if p and slot.job is not None and p.get("job_id") == slot.job.job_id:
                    batch.emit(bev.JobProgress(p["job_id"], slot.info.get("name", slot.name), p["node"],
                                               p["value"], p["total"]))
            if slot.job is not None:
                slot.progress_ref = slot.actor.progress.remote()

    def _wind_down(self, batch) -> None:
        """Cancel: the waiting jobs end as cancelled, the running ones are asked to stop and given
        ``cancel_grace`` seconds to answer (what they finished is kept), then their actors are killed."""
        ray = self._ray
        batch.cancel()
        busy = [s for s in self.slots if s.run_ref is not None]
        for slot in busy:
            slot.actor.cancel.remote()
        deadline = time.monotonic() + self.cancel_grace
        while busy and time.monotonic() < deadline:
            ready, _ = ray.wait([s.run_ref for s in busy], num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
            for slot in [s for s in busy if s.run_ref in ready]:
                self._collect(batch, slot, slot.run_ref)
                busy.remove(slot)
        for slot in busy:
            ray.kill(slot.actor)
            batch.lost(slot.job.job_id, slot.info.get("name", slot.name), "cancelled")

    def close(self) -> None:
        """Kill the actors this pool started; stop the cluster if it started one (and make sure, by pid, that its
        processes are gone)."""
        ray = self._ray
        if ray is None:
            return
        for slot in self.slots:
            try:
                ray.kill(slot.actor)
            except Exception:
                pass
        self.slots = []
        if self._started_cluster:
            pids = set(self._cluster_pids) | self._actor_pids
            ray.shutdown()
            _reap(pids)
        self._ray = None

    def pids(self) -> dict:
        """The processes of this pool: its actors', and the local cluster's it started (tests check they end)."""
        return {"actors": sorted(p for p in self._actor_pids if p), "cluster": sorted(self._cluster_pids)}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def _brief(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


def _local_cluster_pids(ray) -> list[int]:
    """The processes ``ray.init`` started for a local cluster (GCS, raylet, ...). Ray's private API: best effort."""
    try:
        node = ray._private.worker._global_node
        return sorted({info.process.pid for infos in node.all_processes.values() for info in infos
                       if getattr(info, "process", None) is not None})
    except Exception:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _reap(pids, timeout: float = 10.0) -> None:
    """Wait for ``pids`` to exit; kill the ones that do not, by pid."""
    pids = {p for p in pids if p and p != os.getpid()}
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = {p for p in pids if _alive(p)}
        if pids:
            time.sleep(0.1)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
