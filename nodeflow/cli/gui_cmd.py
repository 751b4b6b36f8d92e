"""``nodeflow gui [FILE]``: the desktop editor (the default command)."""
from __future__ import annotations

name = "gui"
help = "open the editor (default workflow unless FILE is given)"


def add_arguments(p):
    p.add_argument("file", nargs="?", metavar="FILE")
    p.add_argument("--screenshot", metavar="OUT.png", help="render the window to a PNG and exit")
    p.add_argument("--run", action="store_true", help="with --screenshot: run the workflow first")
    p.add_argument("--screenshot-state", choices=("search", "error"),
                   help="with --screenshot: open the node search, or run and show the first failure")
    p.add_argument("--settings", metavar="FILE")


def run(args) -> int:
    from nodeflow.app.main import run_app

    return run_app(args)
