"""Runs a batch in this process on one warm worker (``nodeflow batch`` without ``--ray``)."""
from __future__ import annotations

from nodeflow.batch import events as bev
from nodeflow.batch.jobs import JobOutcome
from nodeflow.batch.worker import BatchWorker


class LocalPool:
    def __init__(self, settings, *, cpu_threads: int | None = None):
        self.worker = BatchWorker(settings, "local", cpu_threads=cpu_threads, on_progress=self._progress)
        self.warm: set[str] = set()
        self._batch = None

    def _progress(self, p: dict) -> None:
        if self._batch is not None:
            self._batch.emit(bev.JobProgress(p["job_id"], self.worker.name, p["node"], p["value"], p["total"]))

    def run(self, batch) -> None:
        self._batch = batch
        batch.workers.append(self.worker.info())
        batch.emit(bev.WorkerReady(self.worker.name, self.worker.info()))
        while (job := batch.schedule.next_for(self.worker.name, self.warm)) is not None:
            batch.emit(bev.JobStarted(job, self.worker.name, batch.schedule.attempts(job.job_id)))
            try:
                outcome = self.worker.run_job(job.to_wire())
            except KeyboardInterrupt:
                batch.record(JobOutcome(job.job_id, "cancelled", self.worker.name, message="interrupted"))
                raise
            self.warm.add(job.model_key)
            batch.record(outcome)

    def cancel(self) -> None:
        self.worker.cancel()

    def close(self) -> None:
        self.worker.close()
