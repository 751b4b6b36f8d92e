"""``nodeflow convert IN -o OUT [--to nodeflow|comfy-api|comfy-ui]``: between NodeFlow's and ComfyUI's formats.

IN is a .json (NodeFlow workflow, ComfyUI workflow or ComfyUI API prompt, detected) or a .png carrying one. What
the import changed or could not bring across is printed; the output is written atomically, and only when
everything succeeded (exit 2 and nothing written otherwise).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from nodeflow.cli.common import add_settings_arguments, environment_from_args
from nodeflow.cli.errors import EXIT_OK, CliError

name = "convert"
help = "convert between NodeFlow workflows and ComfyUI workflows / API prompts (JSON or PNG in, JSON out)"
TARGETS = ("nodeflow", "comfy-api", "comfy-ui")


def add_arguments(p):
    p.add_argument("input", metavar="IN", help="a .json workflow or prompt, or a .png carrying one")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the .json file to write")
    p.add_argument("--to", choices=TARGETS,
                   help="output format (default: nodeflow, or comfy-ui when IN is already a NodeFlow workflow)")
    p.add_argument("--strict", action="store_true",
                   help="fail (exit 2) when validation finds problems other than missing model files")
    p.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    add_settings_arguments(p)


def run(args) -> int:
    from nodeflow.core.validation import validate
    from nodeflow.formats.atomic import atomic_write_text
    from nodeflow.formats.open_any import load_graph_report
    from nodeflow.formats.workflow import WorkflowError

    src, dst = Path(args.input), Path(args.output)
    if not src.is_file():
        raise CliError(f"{src}: no such file")
    if dst.suffix.lower() != ".json":
        raise CliError(f"{dst}: the output must be a .json file")
    if dst.is_dir():
        raise CliError(f"{dst}: is a folder; -o takes the .json file to write")
    if dst.exists() and dst.resolve() == src.resolve():
        raise CliError(f"{dst}: the output would overwrite the input")
    env = environment_from_args(args, quiet=args.quiet)
    registry, settings = env.registry, env.settings
    try:
        graph, report = load_graph_report(src, registry, settings)
    except (WorkflowError, ValueError) as e:
        raise CliError(str(e)) from None
    imported = hasattr(report, "messages")  # a ComfyUI import's report (NodeFlow files give a LoadReport)
    target = args.to or ("nodeflow" if imported else "comfy-ui")
    say = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr))
    if imported:
        say(f"{src}: read as {report.source}")
        for message in report.messages():
            say(f"note: {message}")
    problems = [p for p in validate(graph, registry, settings) if p.kind not in ("missing_file", "unknown_type")]
    for p in problems:
        say(f"warning: {p}")
    if problems and args.strict:
        raise CliError(f"{src}: {len(problems)} problem(s) (--strict); nothing was written")
    try:
        text = _render(graph, registry, target, say)
    except (WorkflowError, ValueError) as e:
        raise CliError(f"{src}: {e}; nothing was written") from None
    try:
        atomic_write_text(dst, text)
    except OSError as e:  # WriteError: what, where and why
        raise CliError(f"{e}; nothing was written") from None
    say(f"wrote {dst} ({target}, {len(graph.nodes)} nodes)")
    return EXIT_OK


def _render(graph, registry, target: str, say) -> str:
    from nodeflow.formats import comfyui, workflow

    if target == "nodeflow":
        return workflow.dumps(graph) + "\n"
    notes: list[str] = []
    if target == "comfy-api":
        data = comfyui.export_api(graph, registry, notes)
    else:
        data = comfyui.export_ui(graph, registry)
    for n in notes:
        say(f"note: {n}")
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
