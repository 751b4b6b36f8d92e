"""``nodeflow batch FILE --sweep NODE.FIELD=A..B``: one workflow run many times (a seed sweep, a grid), in this
process or spread over a Ray cluster (``--ray local`` or ``--ray ADDRESS``), outputs numbered in one folder."""
from __future__ import annotations

import json
import secrets
import sys

from nodeflow.cli.common import add_settings_arguments, environment_from_args, load_any, settings_from_args
from nodeflow.cli.errors import EXIT_FAILED, EXIT_INVALID, EXIT_OK, CliError

name = "batch"
help = "run a workflow over a sweep of values (seeds, a grid), here or on a Ray cluster"


def add_arguments(p):
    p.add_argument("file", metavar="FILE")
    p.add_argument("--sweep", action="append", default=[], metavar="NODE.FIELD=VALUES",
                   help="values a field takes: A..B (integers, inclusive), A..B:STEP, v1,v2,... or a JSON list "
                        "(values with commas); several --sweep make a grid")
    p.add_argument("--set", action="append", default=[], metavar="NODE.FIELD=VALUE",
                   help="change a value for every run")
    p.add_argument("--out", metavar="DIR", help="output folder (default: the settings' output folder)")
    p.add_argument("--report", metavar="PATH", help="write a JSON report: every run, its worker, files, seconds")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run on Ray: 'local' starts a cluster on this machine for the batch; or a running "
                        "cluster's address ('auto', HOST:6379, ray://HOST:10001)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="with --ray: how many workers (default: one per GPU, else one per --cpus-per-worker CPUs)")
    p.add_argument("--cpus-per-worker", type=int, default=1, metavar="K",
                   help="with --ray on CPUs: CPUs (and torch threads) per worker (default 1)")
    p.add_argument("--retries", type=int, default=1, metavar="N",
                   help="how often a run whose worker died is run again elsewhere (default 1)")
    p.add_argument("--no-local-check", action="store_true",
                   help="do not check the workflow here first (this machine lacks the models the workers have)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only errors and the summary")
    add_settings_arguments(p)


def run(args) -> int:
    from nodeflow.batch.driver import Batch, make_jobs
    from nodeflow.batch.outputs import OutputWriter
    from nodeflow.batch.sweep import SweepError, grid, parse_axis

    if args.workers is not None and args.workers < 1 or args.cpus_per_worker < 1 or args.retries < 0:
        raise CliError("--workers and --cpus-per-worker must be at least 1, --retries at least 0")
    if args.workers is not None and not args.ray:
        raise CliError("--workers needs --ray (without it the batch runs in this process, on one worker)")
    env = environment_from_args(args, quiet=args.quiet)
    graph = load_any(args.file, env)
    try:
        sets = [parse_axis(graph, env.registry, t, "--set") for t in args.set]
        sweeps = [parse_axis(graph, env.registry, t, "--sweep") for t in args.sweep]
        runs = grid(sets, sweeps)
    except SweepError as e:
        raise CliError(str(e)) from None
    jobs = make_jobs(graph, env.registry, runs, secrets.token_hex(4))
    if not args.no_local_check:
        _check(graph, env, jobs, args.file)
    settings = settings_from_args(args)
    printer = BatchPrinter(len(jobs), quiet=args.quiet)
    batch = Batch(jobs, OutputWriter(settings.output_dir), printer, retries=args.retries)
    pool = _pool(args, settings)
    interrupted = False
    try:
        try:
            pool.run(batch)
        except KeyboardInterrupt:
            interrupted = True
            batch.cancel()
    finally:
        pool.close()
    batch.finish()
    report = batch.report()
    printer.summary(report, interrupted)
    if args.report:
        from nodeflow.formats.atomic import atomic_write_text

        atomic_write_text(args.report, json.dumps(report, indent=1) + "\n")
    return EXIT_OK if batch.ok else EXIT_FAILED


def _check(graph, env, jobs, path: str) -> None:
    """Plan the first run, and the first of each other set of models, before anything runs."""
    from nodeflow.core import operations as ops
    from nodeflow.core.planning import plan

    seen = set()
    for job in jobs:
        if job.model_key in seen and job is not jobs[0]:
            continue
        seen.add(job.model_key)
        g = graph.copy()
        for node_id, field_name, value in job.overrides:
            g.apply(ops.SetValue(node_id, field_name, value))
        work = plan(g, env)
        if work.problems:
            for p in work.problems:
                print(f"{path} ({job.label}): {p}", file=sys.stderr)
            raise CliError(f"{path}: {len(work.problems)} problem(s); nothing was run", EXIT_INVALID)


def _pool(args, settings):
    if not args.ray:
        from nodeflow.batch.local_pool import LocalPool

        return LocalPool(settings)
    from nodeflow.batch.ray_pool import RayMissing, RayPool

    try:
        return RayPool(settings, address=args.ray, workers=args.workers,
                       cpus_per_worker=args.cpus_per_worker).start()
    except RayMissing as e:
        raise CliError(str(e)) from None
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise CliError(f"--ray {args.ray}: cannot connect ({e})", EXIT_FAILED) from None


class BatchPrinter:
    """One line per finished run; on a terminal, one status line for the batch with each worker's progress."""

    def __init__(self, total: int, quiet: bool = False, out=None):
        self.total, self.quiet = total, quiet
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.done = 0
        self.progress: dict[str, str] = {}
        self._status_shown = False

    def _line(self, text: str) -> None:
        if self._status_shown:
            self.out.write("\r\x1b[K")
            self._status_shown = False
        print(text, file=self.out, flush=True)

    def _status(self) -> None:
        if not self.tty or self.quiet:
            return
        width = len(str(self.total))
        bar = "#" * int(20 * self.done / max(1, self.total))
        workers = "  ".join(f"{w.split('@')[0]}: {p}" for w, p in sorted(self.progress.items()))
        self.out.write(f"\r\x1b[K[{bar:<20}] {self.done:>{width}}/{self.total}  {workers}")
        self.out.flush()
        self._status_shown = True

    def __call__(self, event) -> None:
        from nodeflow.batch import events as bev

        if isinstance(event, bev.WorkerReady) and not self.quiet:
            self._line(f"worker {event.worker} ready")
        elif isinstance(event, bev.WorkerLost):
            self.progress.pop(event.worker, None)
            self._line(f"worker {event.worker} lost: {event.reason}")
        elif isinstance(event, bev.JobStarted):
            self.progress[event.worker] = f"{event.job.label} starting"
        elif isinstance(event, bev.JobProgress):
            self.progress[event.worker] = f"{int(event.value)}/{int(event.total)}"
        elif isinstance(event, bev.JobRetried):
            self._line(f"  [ retry] {event.job.label}: {event.reason}")
        elif isinstance(event, bev.JobDone):
            self.done = event.done
            self.progress.pop(event.outcome.worker, None)
            o = event.outcome
            width = len(str(event.total))
            where = f" on {o.worker}" if o.worker else ""
            files = f" -> {', '.join(event.paths)}" if event.paths else ""
            if o.status != "ok":
                self._line(f"  [{event.done:>{width}}/{event.total}] {event.job.label}: {o.status}{where}"
                           + (f": {o.message}" if o.message else ""))
            elif not self.quiet:
                self._line(f"  [{event.done:>{width}}/{event.total}] {event.job.label}: ok {o.seconds:.2f}s"
                           f"{where}{files}")
        self._status()

    def summary(self, report: dict, interrupted: bool = False) -> None:
        b = report["batch"]
        state = "cancelled" if interrupted else ("ok" if b["failed"] == 0 else "finished with failures")
        rate = f", {b['images_per_second']} images/s" if b["images_per_second"] else ""
        self._line(f"batch {state}: {b['ok']}/{b['jobs']} runs ok, {b['images']} images in {b['seconds']:.2f}s"
                   f"{rate} on {len(b['workers'])} worker(s)")
