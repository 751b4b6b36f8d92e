"""Undo/redo of graph edits: every change the editor makes is a core operation wrapped in a QUndoCommand.

    push(stack, graph, op)                         # one undo step
    push(stack, graph, op, merge_key=("scrub", gesture_id))   # later pushes with the same key merge into it

A continuous gesture (scrubbing a number, typing a prompt) pushes many operations with the same ``merge_key``;
they merge into one command, so one gesture is one undo step.
"""
from __future__ import annotations

import itertools
from typing import Hashable

from PySide6.QtGui import QUndoCommand, QUndoStack

from nodeflow.core.graph import Graph
from nodeflow.core.operations import Batch, Operation, SetValue

_MERGE_ID = 0x4E46  # any constant: commands without a merge key return -1 and never merge
_gestures = itertools.count(1)


def new_gesture_id() -> int:
    """A fresh id for one continuous gesture (use it in ``merge_key``)."""
    return next(_gestures)


class OperationCommand(QUndoCommand):
    """redo() applies the operation and keeps its inverse; undo() applies the inverse."""

    def __init__(self, graph: Graph, op: Operation, text: str | None = None, merge_key: Hashable | None = None):
        super().__init__(text or getattr(op, "label", "edit"))
        self.graph = graph
        self.merge_key = merge_key
        #: The operations of this step in order (more than one after merges).
        self.ops: list[Operation] = [op]
        #: Their inverses, newest first, while applied.
        self._inverses: list[Operation] = []

    @property
    def op(self) -> Operation:
        return self.ops[0]

    def redo(self) -> None:
        self._inverses = []
        for op in self.ops:
            self._inverses.insert(0, self.graph.apply(op))

    def undo(self) -> None:
        for inv in self._inverses:
            inv.apply(self.graph)
        self._inverses = []

    def id(self) -> int:  # noqa: A003 - Qt's name
        return _MERGE_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt's name
        # QUndoStack has already applied ``other`` (redo) when it asks; adopt its op and its inverse.
        if not isinstance(other, OperationCommand) or self.merge_key is None or other.merge_key != self.merge_key:
            return False
        last, new = self.ops[-1], other.ops[0]
        if isinstance(last, SetValue) and isinstance(new, SetValue) and (last.node_id, last.name) == (
                new.node_id, new.name) and len(other.ops) == 1:
            # Scrubbing one value: only the latest value matters for redo, only the first inverse for undo.
            self.ops[-1] = new
            return True
        self.ops.extend(other.ops)
        self._inverses[:0] = other._inverses
        return True


def push(stack: QUndoStack | None, graph: Graph, op: Operation, text: str | None = None,
         merge_key: Hashable | None = None) -> None:
    """Apply ``op`` through the undo stack (or directly when there is no stack). Empty batches are skipped."""
    if isinstance(op, Batch) and not op.ops:
        return
    if stack is None:
        graph.apply(op)
        return
    stack.push(OperationCommand(graph, op, text, merge_key))
