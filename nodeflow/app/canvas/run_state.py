"""What the canvas draws on a node about its last or current run. Qt-free: the runner builds these anywhere and
the window hands them to ``Canvas.set_node_state`` on the GUI thread."""
from __future__ import annotations

from dataclasses import dataclass

RUN_KINDS = ("pending", "cached", "running", "done", "error")


@dataclass(frozen=True)
class NodeRunState:
    """``kind``: pending (queued), cached (its output was reused), running, done, error.

    progress: (value, total) while running; text: a short status ("step 5/20"); seconds: how long it ran;
    message: the error message (full text in the tooltip); reason: why it ran or was reused (shown on hover).
    """

    kind: str
    progress: tuple[int, int] | None = None
    text: str = ""
    seconds: float | None = None
    message: str = ""
    reason: str = ""
    #: the node (or one it depends on) changed since: what the badge reports is not what a run would give now
    stale: bool = False

    def __post_init__(self):
        if self.kind not in RUN_KINDS:
            raise ValueError(f"run state kind {self.kind!r} must be one of {RUN_KINDS}")

    @property
    def fraction(self) -> float | None:
        """Progress as 0..1, or None when unknown."""
        if not self.progress or not self.progress[1]:
            return None
        value, total = self.progress
        return max(0.0, min(1.0, value / total))

    def badge(self) -> str:
        """The short text drawn above the node ("cached", "1.2 s", "step 5/20")."""
        if self.stale and self.kind in ("cached", "done"):
            return "changed since"
        if self.kind == "cached":
            return "cached"
        if self.kind == "running":
            if self.text:
                return self.text
            return f"{self.progress[0]}/{self.progress[1]}" if self.progress else "running"
        if self.kind == "done":
            return format_seconds(self.seconds) if self.seconds is not None else "done"
        if self.kind == "pending":
            return self.text or "queued"
        return "error"


def format_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    return f"{minutes} min {sec:02d} s"
