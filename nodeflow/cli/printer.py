"""Prints a run's events on the terminal: one line per node (ran/cached, seconds, why), progress on a TTY."""
from __future__ import annotations

import sys

from nodeflow.core import events as ev


class RunPrinter:
    def __init__(self, graph, path: str, quiet: bool = False, out=None):
        self.graph, self.path, self.quiet = graph, path, quiet
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self._progress_shown = False

    def label(self, node_id: int) -> str:
        node = self.graph.nodes.get(node_id)
        return f"{node_id:>3} {node.label}" if node else str(node_id)

    def _line(self, text: str) -> None:
        if self._progress_shown:
            self.out.write("\r\x1b[K")
            self._progress_shown = False
        print(text, file=self.out, flush=True)

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted) and not self.quiet:
            self._line(f"{self.path}: running {len(event.planned)} node(s)")
        elif isinstance(event, ev.NodeProgress) and self.tty and not self.quiet:
            self.out.write(f"\r\x1b[K    {self.label(event.node_id)}: {event.text or ''} "
                           f"{int(event.value)}/{int(event.total)}")
            self.out.flush()
            self._progress_shown = True
        elif isinstance(event, ev.NodeFinished) and not self.quiet:
            state = "cached" if event.cached else "ran"
            secs = "" if event.cached else f" {event.seconds:7.2f}s"
            self._line(f"  [{state:>6}] {self.label(event.node_id)}{secs}  ({event.reason})")
        elif isinstance(event, ev.NodeFailed):
            where = f" [{event.field}]" if event.field else ""
            self._line(f"  [failed] {self.label(event.node_id)}{where}: {event.message}")
        elif isinstance(event, ev.NodeSkipped) and not self.quiet:
            self._line(f"  [  skip] {self.label(event.node_id)}: {event.reason}")
        elif isinstance(event, ev.NodeLog):
            self._line(f"  [  note] {self.label(event.node_id)}: {event.message}")

    def summary(self, report) -> None:
        for path in report.outputs:
            if not self.quiet:
                self._line(f"  wrote {path}")
        if report.status != "ok":
            self._line(f"{self.path}: {report.status} after {report.seconds_total:.2f}s")
        elif not self.quiet:
            self._line(f"{self.path}: ok in {report.seconds_total:.2f}s "
                       f"({len(report.executed)} ran, {len(report.cached)} cached)")
