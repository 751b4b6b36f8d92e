"""A batch from start to end: the schedule, the outcomes written (once each) into the output folder, events for the
caller, and the report. The pool (``local_pool``, ``ray_pool``) only moves jobs and outcomes."""
from __future__ import annotations

import time
from typing import Callable

from nodeflow.batch import events as bev
from nodeflow.batch.jobs import BatchJob, JobOutcome
from nodeflow.batch.outputs import OutputWriter, UnsafeOutput
from nodeflow.batch.schedule import Schedule


class Batch:
    def __init__(self, jobs: list[BatchJob], writer: OutputWriter, listener: Callable | None = None,
                 retries: int = 1):
        self.jobs = jobs
        self.by_id = {j.job_id: j for j in jobs}
        self.schedule = Schedule(jobs, retries)
        self.writer = writer
        self.listener = listener
        self.paths: dict[str, list[str]] = {}
        self.workers: list[dict] = []
        self.started = time.perf_counter()
        self.seconds = 0.0

    def emit(self, event) -> None:
        if self.listener is not None:
            self.listener(event)

    def record(self, outcome: JobOutcome) -> None:
        """A worker's outcome: written and reported the first time, dropped (counted) if the job has one."""
        if not self.schedule.finished(outcome):
            return
        try:
            paths = self.writer.write(outcome)
        except (OSError, UnsafeOutput) as e:
            outcome.status, outcome.message, paths = "error", f"writing its outputs failed: {e}", []
        self.paths[outcome.job_id] = paths
        outcome.files = []  # written: the bytes are not kept for the whole batch
        self._done(outcome)

    def lost(self, job_id: str, worker: str, reason: str) -> None:
        outcome = self.schedule.lost(job_id, worker, reason)
        if outcome is not None:
            self._done(outcome)
        elif job_id in self.schedule.pending:
            self.emit(bev.JobRetried(self.by_id[job_id], worker, reason))

    def cancel(self) -> None:
        for outcome in self.schedule.cancel():
            self._done(outcome)

    def abandon(self, reason: str) -> None:
        for outcome in self.schedule.abandon(reason):
            self._done(outcome)

    def _done(self, outcome: JobOutcome) -> None:
        self.paths.setdefault(outcome.job_id, [])
        self.emit(bev.JobDone(self.by_id[outcome.job_id], outcome, self.paths[outcome.job_id],
                              len(self.schedule.outcomes), len(self.jobs)))

    def finish(self) -> None:
        self.seconds = time.perf_counter() - self.started

    @property
    def ok(self) -> bool:
        return self.schedule.done and all(o.status == "ok" for o in self.schedule.outcomes.values())

    def report(self) -> dict:
        runs = []
        for job in self.jobs:
            o = self.schedule.outcomes.get(job.job_id) or JobOutcome(job.job_id, "cancelled")
            details = {k: v for k, v in o.report.items() if k != "outputs"}
            runs.append({"job_id": job.job_id, "index": job.index, "label": job.label,
                         "overrides": [list(x) for x in job.overrides], "status": o.status, "worker": o.worker,
                         "attempts": self.schedule.attempts(job.job_id), "outputs": self.paths.get(job.job_id, []),
                         "wall_seconds": round(o.seconds, 4), "message": o.message, **details})
        images = sum(len(r["outputs"]) for r in runs)
        statuses = [r["status"] for r in runs]
        return {"batch": {"jobs": len(runs), "ok": statuses.count("ok"),
                          "failed": len(runs) - statuses.count("ok"), "images": images,
                          "seconds": round(self.seconds, 3),
                          "images_per_second": round(images / self.seconds, 3) if self.seconds else None,
                          "duplicates_dropped": self.schedule.duplicates, "workers": self.workers},
                "runs": runs}


def make_jobs(graph, registry, runs, batch_id: str) -> list[BatchJob]:
    """One job per run of the sweep, all carrying the same workflow text."""
    from nodeflow.batch.jobs import model_key
    from nodeflow.formats import workflow

    text = workflow.dumps(graph)
    return [BatchJob(f"{batch_id}:{r.index}", r.index, text, r.overrides, r.label,
                     model_key(graph, registry, r.overrides)) for r in runs]
