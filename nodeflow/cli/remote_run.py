"""``nodeflow run --server URL FILE...``: the files run on a running server (``nodeflow serve``, or ComfyUI), which
keeps its models loaded and its cache between calls; the same per-node report is printed as for a local run
(from a NodeFlow server; ComfyUI's own messages give which nodes ran or were cached, without the reasons).

Each file is converted to an API prompt (``formats.comfyui.export_api``; its UI form travels in extra_pnginfo, so the
saved PNGs carry the workflow as ComfyUI's front end makes them do). All files are checked by the server before any
runs (NodeFlow servers; ComfyUI has no check-only request). Nothing is downloaded: the images stay in the server's
output folder and their URLs are printed.
"""
from __future__ import annotations

import sys

from nodeflow.cli.common import apply_overrides, environment_from_args, load_any
from nodeflow.cli.errors import EXIT_FAILED, EXIT_INVALID, EXIT_OK, CliError
from nodeflow.cli.printer import RunPrinter


def _node_id(key: str):
    return int(key) if key.isdigit() else key


def _print_rejection(path: str, graph, e) -> None:
    errors = e.node_errors
    if not errors:
        err = e.error
        print(f"{path}: {err.get('message', '')}" + (f" ({err['details']})" if err.get("details") and
                                                    err.get("details") != err.get("message") else ""),
              file=sys.stderr)
    for key, entry in errors.items():
        node = graph.nodes.get(_node_id(key))
        where = f"node {key} '{node.label}'" if node is not None else f"node {key}"
        for err in entry.get("errors", []):
            print(f"{path}: {where}: {err.get('message', '')}: {err.get('details', '')}", file=sys.stderr)


def run_remote(args) -> int:
    from nodeflow.formats.comfyui import ExportError, export_api, export_ui
    from nodeflow.server.client import PromptRejected, ServerClient, ServerError

    if args.out:
        raise CliError("--out: with --server the images go into the server's output folder "
                       "(nodeflow serve --output-directory)")
    env = environment_from_args(args, quiet=args.quiet)
    try:
        client = ServerClient(args.server)
    except ValueError as e:
        raise CliError(f"--server: {e}") from None
    jobs = []
    for path in args.files:
        graph = load_any(path, env)
        apply_overrides(graph, env.registry, args.set)
        try:
            prompt = export_api(graph, env.registry)
        except ExportError as e:
            raise CliError(f"{path}: cannot be sent to a ComfyUI server: {e}") from None
        extra = {}
        try:
            extra["extra_pnginfo"] = {"workflow": export_ui(graph, env.registry)}
        except (ExportError, ValueError):
            pass
        jobs.append((path, graph, prompt, extra))
    try:
        for path, graph, prompt, extra in jobs if client.is_nodeflow() else ():  # all checked before any runs
            try:
                client.queue_prompt(prompt, extra, validate_only=True)
            except PromptRejected as e:
                _print_rejection(path, graph, e)
                raise CliError(f"{path}: refused by the server; nothing was run", EXIT_INVALID) from None
        runs, code = [], EXIT_OK
        for path, graph, prompt, extra in jobs:
            printer = RunPrinter(graph, path, quiet=args.quiet)
            try:
                outcome = client.run(prompt, extra_data=extra, on_event=printer, node_id=_node_id)
            except PromptRejected as e:
                _print_rejection(path, graph, e)
                raise CliError(f"{path}: refused by the server", EXIT_INVALID) from None
            except KeyboardInterrupt:
                client.interrupt()
                raise
            error = outcome.error
            if error and error.get("node_id") is None:
                print(f"{path}: {error.get('exception_message', 'failed')}", file=sys.stderr)
            printer.summary(outcome.report)
            runs.append({"file": path, "server": client.url, "prompt_id": outcome.prompt_id,
                         **outcome.report.to_json()})
            if outcome.status != "success":
                code = EXIT_FAILED
    except ServerError as e:
        raise CliError(str(e), EXIT_FAILED) from None
    if args.report:
        from nodeflow.cli.run_cmd import write_report

        write_report(args.report, runs)
    return code
