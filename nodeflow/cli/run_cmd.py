"""``nodeflow run FILE...``: run workflows headless, in one process sharing the cache."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from nodeflow.cli.common import add_settings_arguments, apply_overrides, environment_from_args, load_any
from nodeflow.cli.errors import EXIT_FAILED, EXIT_INVALID, EXIT_OK, CliError
from nodeflow.cli.printer import RunPrinter

name = "run"
help = "run workflow files (or PNGs carrying a workflow) and write their outputs"


def add_arguments(p):
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--set", action="append", default=[], metavar="NODE.FIELD=VALUE",
                   help="change a value before running; NODE is a node id, a unique title or a unique type name")
    p.add_argument("--out", metavar="DIR", help="output folder for saved images")
    p.add_argument("--report", metavar="PATH", help="write a JSON report of every run")
    p.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    p.add_argument("--server", metavar="URL",
                   help="run on a running server (nodeflow serve, or ComfyUI) instead of here, e.g. "
                        "http://127.0.0.1:8188 (http://user:password@host:port with --auth)")
    add_settings_arguments(p)


def run(args) -> int:
    if args.server:
        from nodeflow.cli.remote_run import run_remote

        return run_remote(args)
    from nodeflow.core.executor import Executor
    from nodeflow.core.planning import plan
    from nodeflow.formats.embedding import workflow_chunks

    env = environment_from_args(args, quiet=args.quiet)
    plans = []
    for path in args.files:  # everything is checked before anything runs or is written
        graph = load_any(path, env)
        apply_overrides(graph, env.registry, args.set)
        work = plan(graph, env)
        if work.problems:
            for p in work.problems:
                print(f"{path}: {p}", file=sys.stderr)
            raise CliError(f"{path}: {len(work.problems)} problem(s); nothing was run", EXIT_INVALID)
        plans.append((path, work))
    executor = Executor(env)
    runs, code = [], EXIT_OK
    say = (lambda text: None) if args.quiet else (lambda text: print(f"note: {text}", file=sys.stderr))
    try:
        for path, work in plans:
            printer = RunPrinter(work.graph, path, quiet=args.quiet)
            try:
                report = executor.execute(work, listener=printer, key=str(Path(path).resolve()),
                                          embed=lambda g=work.graph: workflow_chunks(g, env.registry, say))
            except Exception as e:  # an internal failure in one file must not lose the others' results
                print(f"{path}: the run failed: {type(e).__name__}: {e}", file=sys.stderr)
                runs.append({"file": path, "status": "error", "error": f"{type(e).__name__}: {e}"})
                code = EXIT_FAILED
                continue
            printer.summary(report)
            runs.append({"file": path, **report.to_json()})
            if report.status != "ok":
                code = EXIT_FAILED
    finally:
        if args.report:
            write_report(args.report, runs)
    return code


def write_report(path: str, runs: list[dict]) -> None:
    from nodeflow.formats.atomic import WriteError, atomic_write_text

    try:
        atomic_write_text(path, json.dumps({"runs": runs}, indent=1, ensure_ascii=False) + "\n")
    except WriteError as e:
        written = [f for r in runs for f in r.get("outputs", ())]
        raise CliError(f"--report: {e} (the runs finished; they wrote {len(written)} file(s)"
                       + (": " + ", ".join(written) if written else "") + ")", EXIT_FAILED) from None
