"""Everything one running server shares between its handlers and its workers."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from nodeflow.server.files import ServerFolders
from nodeflow.server.history import History
from nodeflow.server.options import ServerOptions
from nodeflow.server.prompt_queue import PromptQueue


@dataclass
class ServerState:
    env: object
    options: ServerOptions
    queue: PromptQueue
    history: History
    folders: ServerFolders
    temp_dir: Path
    hub: object = None
    dispatcher: object = None
    #: The command line as /system_stats shows it (the --auth value hidden).
    public_argv: list = field(default_factory=list)
    _number: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def queue_info(self) -> dict:
        return {"exec_info": {"queue_remaining": self.queue.remaining()}}

    def next_number(self, given: float | None, front: bool) -> float:
        """ComfyUI's numbering: a counter (negated for "front" prompts) unless the client gives one."""
        with self._lock:
            number = self._number
            self._number += 1
        if given is not None:
            return given
        return -number if front else number


STATE = web.AppKey("state", ServerState)
