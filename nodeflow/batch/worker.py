"""One batch worker: a warm Executor (its loaded models and cached outputs survive between jobs) that runs a job
into a scratch folder and hands back the files it saved, as bytes, with the run report.

The same class runs in this process (``local_pool``) and inside a Ray actor (``ray_pool``): nothing here knows Ray.
Saving into a private scratch folder and letting the caller write the files keeps the output folder's numbering in
one place (the caller's) however many workers and machines there are.
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from nodeflow.batch.jobs import JobOutcome, OutputFile

_PATH_FIELDS = ("data_dir", "input_dir", "output_dir")


def settings_to_wire(settings) -> dict:
    """Settings as plain data for a worker elsewhere (it finds the models under the same paths: the same
    folders on every machine, or a shared filesystem)."""
    return {"data_dir": str(settings.data_dir), "model_roots": [str(p) for p in settings.model_roots],
            "input_dir": str(settings.input_dir), "output_dir": str(settings.output_dir),
            "device": settings.device, "precision": settings.precision,
            "cache_budget_mb": settings.cache_budget_mb, "cpu_threads": settings.cpu_threads,
            "compile": settings.compile, "pack_dirs": [str(p) for p in settings.pack_dirs],
            "include_builtin_models": settings.include_builtin_models}


def settings_from_wire(d: dict):
    from nodeflow.config import Settings

    return Settings(data_dir=Path(d["data_dir"]), model_roots=tuple(Path(p) for p in d["model_roots"]),
                    input_dir=Path(d["input_dir"]), output_dir=Path(d["output_dir"]), device=d["device"],
                    precision=d["precision"], cache_budget_mb=int(d["cache_budget_mb"]),
                    cpu_threads=int(d["cpu_threads"]), compile=bool(d["compile"]),
                    pack_dirs=tuple(Path(p) for p in d["pack_dirs"]),
                    include_builtin_models=bool(d["include_builtin_models"]))


class BatchWorker:
    def __init__(self, settings, name: str = "", *, cpu_threads: int | None = None, entry_points: bool = True,
                 on_progress=None):
        """``on_progress(dict)``: called with each progress report (in this process; a remote caller polls
        ``progress`` instead)."""
        from nodeflow.core.environment import Environment
        from nodeflow.core.executor import Executor

        if isinstance(settings, dict):
            settings = settings_from_wire(settings)
        if cpu_threads is not None:
            settings = replace(settings, cpu_threads=cpu_threads)
        self.scratch = Path(tempfile.mkdtemp(prefix="nodeflow-batch-"))
        self.settings = replace(settings, output_dir=self.scratch)
        self.env = Environment.create(self.settings, entry_points=entry_points)
        self.executor = Executor(self.env)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._lock = threading.Lock()
        self._progress: dict = {}
        self.on_progress = on_progress

    # -- what the caller may ask while a job runs (another thread) ------------------------------------------------
    def progress(self) -> dict:
        """The running job's latest progress: {job_id, node, value, total} (empty when idle)."""
        with self._lock:
            return dict(self._progress)

    def cancel(self) -> None:
        self.executor.cancel()

    def info(self) -> dict:
        return {"name": self.name, "pid": os.getpid(), "host": socket.gethostname()}

    # -- running --------------------------------------------------------------------------------------------------
    def run(self, job: dict) -> dict:
        """Run one job (``BatchJob.to_wire()``); the outcome as plain data (``JobOutcome.to_wire()``)."""
        return self.run_job(job).to_wire()

    def run_job(self, job: dict) -> JobOutcome:
        """Run one job; a failure outside the nodes (a bug, an unreadable workflow) is the job's, not the worker's."""
        try:
            return self._run(job)
        except Exception as e:
            return JobOutcome(job.get("job_id", "?"), "error", self.name, message=f"{type(e).__name__}: {e}")

    def _run(self, job: dict) -> JobOutcome:
        from nodeflow.core import operations as ops
        from nodeflow.core.planning import plan
        from nodeflow.formats import workflow
        from nodeflow.formats.embedding import workflow_chunks

        t0 = time.perf_counter()
        job_id = job["job_id"]
        graph, _ = workflow.loads(job["workflow"], self.env.registry)
        for node_id, field_name, value in job["overrides"]:
            graph.apply(ops.SetValue(int(node_id), field_name, value))
        out_dir = Path(tempfile.mkdtemp(prefix="job-", dir=self.scratch))
        env = self.env.with_settings(replace(self.settings, output_dir=out_dir))
        self.executor.env = env  # the caches stay; this job's files go to its own folder
        try:
            work = plan(graph, env)
            if work.problems:
                text = "; ".join(str(p) for p in work.problems)
                return JobOutcome(job_id, "invalid", self.name, message=text,
                                  report={"errors": [p.to_dict() for p in work.problems]},
                                  seconds=time.perf_counter() - t0)
            report = self.executor.execute(work, self._listener(job_id), key="batch",
                                           embed=lambda: workflow_chunks(graph, env.registry),
                                           rerun_outputs=True)
            files = []
            for path in report.outputs:
                p = Path(path)
                try:
                    rel = p.resolve().relative_to(out_dir.resolve()).as_posix()
                except ValueError:  # written elsewhere (a node with its own folder): not the batch's to move
                    continue
                files.append(OutputFile(rel, p.read_bytes()))
            data = report.to_json()
            data["outputs"] = [f.name for f in files]
            message = "; ".join(e.get("message", "") for e in report.errors if isinstance(e, dict))
            return JobOutcome(job_id, report.status, self.name, files, data, time.perf_counter() - t0, message)
        finally:
            with self._lock:
                self._progress = {}
            shutil.rmtree(out_dir, ignore_errors=True)

    def _listener(self, job_id: str):
        from nodeflow.core import events as ev

        def listen(event):
            if isinstance(event, (ev.NodeProgress, ev.NodeStarted)):
                progress = {"job_id": job_id, "node": event.node_id, "value": getattr(event, "value", 0),
                            "total": getattr(event, "total", 0)}
                with self._lock:
                    self._progress = progress
                if self.on_progress is not None and isinstance(event, ev.NodeProgress):
                    self.on_progress(progress)

        return listen

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)
