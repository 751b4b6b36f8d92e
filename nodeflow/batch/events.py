"""What a batch reports while it runs (the CLI prints them, tests watch them). Plain dataclasses."""
from __future__ import annotations

from dataclasses import dataclass, field

from nodeflow.batch.jobs import BatchJob, JobOutcome


@dataclass
class WorkerReady:
    worker: str
    info: dict = field(default_factory=dict)


@dataclass
class WorkerLost:
    worker: str
    reason: str


@dataclass
class JobStarted:
    job: BatchJob
    worker: str
    attempt: int


@dataclass
class JobProgress:
    job_id: str
    worker: str
    node_id: int
    value: float
    total: float


@dataclass
class JobRetried:
    job: BatchJob
    worker: str
    reason: str


@dataclass
class JobDone:
    job: BatchJob
    outcome: JobOutcome
    #: The files written for it in the caller's output folder.
    paths: list[str]
    done: int
    total: int
