"""Which job a free worker gets next, what happens to a lost worker's job, and the rule that a job is recorded
once: pure bookkeeping, the same for the local and the Ray pool (and testable without either)."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from nodeflow.batch.jobs import BatchJob, JobOutcome


@dataclass
class JobState:
    job: BatchJob
    attempts: int = 0
    #: Workers that were running it when they were lost (it goes elsewhere next).
    lost_on: list[str] = field(default_factory=list)


class Schedule:
    def __init__(self, jobs: list[BatchJob], retries: int = 1):
        """``retries``: how many times a job whose worker was lost runs again elsewhere (ComfyUI has none; one
        by default, so a job that kills every worker it touches cannot take the whole pool down)."""
        self.retries = retries
        self.states = {j.job_id: JobState(j) for j in jobs}
        if len(self.states) != len(jobs):
            raise ValueError("job ids must be unique")
        self.pending: deque[str] = deque(j.job_id for j in jobs)
        self.running: dict[str, str] = {}  # job id -> worker
        self.outcomes: dict[str, JobOutcome] = {}
        self.duplicates = 0
        self.cancelled = False

    def next_for(self, worker: str, warm: set[str] = frozenset()) -> BatchJob | None:
        """The next job for ``worker``: the first waiting job whose models it holds (``warm`` model keys), else the
        first waiting job, skipping (while others wait) jobs this worker was lost on."""
        if self.cancelled or not self.pending:
            return None
        candidates = [jid for jid in self.pending if worker not in self.states[jid].lost_on] or list(self.pending)
        chosen = next((jid for jid in candidates if self.states[jid].job.model_key in warm), candidates[0])
        self.pending.remove(chosen)
        state = self.states[chosen]
        state.attempts += 1
        self.running[chosen] = worker
        return state.job

    def finished(self, outcome: JobOutcome) -> bool:
        """Record a job's outcome; False for a second outcome of a job already recorded (never written twice)."""
        self.running.pop(outcome.job_id, None)
        if outcome.job_id in self.outcomes or outcome.job_id not in self.states:
            self.duplicates += 1
            return False
        self.outcomes[outcome.job_id] = outcome
        return True

    def lost(self, job_id: str, worker: str, reason: str) -> JobOutcome | None:
        """The worker running ``job_id`` is gone: the job waits again at the front (None), or, past its retries,
        ends as "lost" (its outcome, already recorded)."""
        if self.running.get(job_id) == worker:
            del self.running[job_id]
        if job_id in self.outcomes:
            return None
        state = self.states[job_id]
        state.lost_on.append(worker)
        if state.attempts > self.retries or self.cancelled:
            outcome = JobOutcome(job_id, "lost" if not self.cancelled else "cancelled", worker,
                                 message=f"worker {worker} was lost ({reason}); tried {state.attempts} time(s)")
            self.outcomes[job_id] = outcome
            return outcome
        self.pending.appendleft(job_id)
        return None

    def cancel(self) -> list[JobOutcome]:
        """No more jobs start; the waiting ones end as cancelled (their outcomes)."""
        self.cancelled = True
        ended = []
        while self.pending:
            jid = self.pending.popleft()
            outcome = JobOutcome(jid, "cancelled", message="cancelled before it started")
            self.outcomes[jid] = outcome
            ended.append(outcome)
        return ended

    def abandon(self, reason: str) -> list[JobOutcome]:
        """No worker is left: everything not finished ends as lost."""
        ended = []
        for jid in list(self.pending) + list(self.running):
            if jid not in self.outcomes:
                outcome = JobOutcome(jid, "lost", message=reason)
                self.outcomes[jid] = outcome
                ended.append(outcome)
        self.pending.clear()
        self.running.clear()
        return ended

    @property
    def done(self) -> bool:
        return len(self.outcomes) == len(self.states)

    def attempts(self, job_id: str) -> int:
        return self.states[job_id].attempts
