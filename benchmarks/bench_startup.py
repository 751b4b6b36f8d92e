"""Time to the first editor window, measured in fresh interpreters (as a user starts ``nodeflow``): from launching
Python to the window shown and painted once, with the default workflow (or FILE). Target: under 2 s. Also checks
that torch was not imported.

    python benchmarks/bench_startup.py [--repeat 5] [FILE]

Offscreen unless there is a display. Prints the phases of the median run and the end-to-end wall time.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from PySide6.QtWidgets import QApplication
app = QApplication([sys.argv[0]])
t_qt = time.perf_counter()
from nodeflow.core.registry import load_registry
reg = load_registry()
t_reg = time.perf_counter()
from nodeflow.app.main import create_editor
ed = create_editor(FILE, interactive=False, autosave=False, registry=reg)
t_built = time.perf_counter()
ed.window.show()
ed.window.repaint()  # one full paint, canvas included
app.processEvents()
t_shown = time.perf_counter()
print(json.dumps({"qt": t_qt - t0, "registry": t_reg - t_qt, "window": t_built - t_reg, "paint": t_shown - t_built,
                  "in_process": t_shown - t0, "torch_imported": "torch" in sys.modules, "types": len(reg.types),
                  "nodes": len(ed.window.tabs.current_view().document.graph.nodes)}), flush=True)
"""


def one_run(file: str | None) -> dict:
    env = dict(os.environ)
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")) and sys.platform.startswith("linux"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    code = CHILD.replace("FILE", repr(file))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env=env)
    line = proc.stdout.readline()  # printed as soon as the window is painted
    wall = time.perf_counter() - start
    proc.kill()
    _, err = proc.communicate()
    if not line:
        raise SystemExit(f"the editor did not start:\n{err}")
    result = json.loads(line)
    result["wall"] = wall
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", help="workflow to open (default: the default workflow)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    runs = [one_run(args.file) for _ in range(args.repeat)]
    runs.sort(key=lambda r: r["wall"])
    median = runs[len(runs) // 2]
    print(f"time to first window (wall, fresh interpreter): median {median['wall']:.2f} s, "
          f"min {runs[0]['wall']:.2f} s, max {runs[-1]['wall']:.2f} s over {len(runs)} runs")
    print(f"  median run: Qt {median['qt']:.2f} s, node packs {median['registry']:.2f} s ({median['types']} types), "
          f"window {median['window']:.2f} s, first paint {median['paint']:.2f} s "
          f"({median['nodes']} nodes open); in-process {median['in_process']:.2f} s")
    torch = any(r["torch_imported"] for r in runs)
    print(f"  torch imported at start: {'YES (regression)' if torch else 'no'}")
    print(f"  target < 2 s: {'met' if median['wall'] < 2.0 else 'MISSED'}")
    sys.exit(1 if torch else 0)


if __name__ == "__main__":
    main()
