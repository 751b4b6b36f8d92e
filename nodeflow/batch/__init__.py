"""Batches: one workflow run many times with values changed (a seed sweep, a grid), spread over workers.

``sweep`` turns ``--sweep``/``--set`` into jobs (plain data); ``worker.BatchWorker`` runs jobs on one warm
Executor and hands back PNG bytes and the run report; ``outputs.OutputWriter`` writes them into the caller's output
folder with the usual numbering; ``schedule.Schedule`` decides which job goes where, retries a lost worker's job
and keeps a job from being recorded twice; ``local_pool`` runs jobs in this process, ``ray_pool`` on a Ray cluster
(an optional extra: ``pip install -e ".[ray]"``); ``driver.run_batch`` ties them together.
"""
