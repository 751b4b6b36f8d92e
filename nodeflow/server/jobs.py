"""A queued prompt, as it travels from the HTTP handler through the queue to a worker (local or, later, remote:
everything here is plain data, so a job can be sent to another process as it is)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

#: extra_data keys ComfyUI never stores in the history or shows in the queue (API keys of paid nodes).
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")

_sequence = itertools.count()


@dataclass(order=True)
class Job:
    #: ComfyUI's "number": the queue runs the lowest first ("front" prompts get a negative one).
    number: float
    #: Tie-breaker: equal numbers run in the order they came.
    seq: int = field(default_factory=lambda: next(_sequence))
    prompt_id: str = field(default="", compare=False)
    #: The API prompt as the client sent it (what PNGs embed, what the history shows).
    prompt: dict = field(default_factory=dict, compare=False, repr=False)
    extra_data: dict = field(default_factory=dict, compare=False, repr=False)
    #: Prompt ids of the output nodes to run (ComfyUI's outputs_to_execute: those that passed validation).
    outputs: list[str] = field(default_factory=list, compare=False)
    #: The request's size in bytes: what the queue and the history count against their memory bounds.
    size: int = field(default=0, compare=False)

    @property
    def client_id(self) -> str | None:
        cid = self.extra_data.get("client_id")
        return cid if isinstance(cid, str) and cid else None

    def public_extra_data(self) -> dict:
        return {k: v for k, v in self.extra_data.items() if k not in SENSITIVE_EXTRA_DATA_KEYS}

    def queue_tuple(self) -> list:
        """How ComfyUI lists a prompt in /queue and /history: [number, prompt_id, prompt, extra_data, outputs]."""
        return [self.number, self.prompt_id, self.prompt, self.public_extra_data(), list(self.outputs)]


@dataclass
class JobResult:
    """What a finished prompt leaves in the history."""

    #: "success" | "error" | "interrupted"
    status: str
    #: {prompt node id: ComfyUI ui output ({"images": [{filename, subfolder, type}], ...})}
    outputs: dict = field(default_factory=dict)
    #: ComfyUI's status messages: [[event, data], ...] (execution_start, execution_cached, the end).
    messages: list = field(default_factory=list)
    #: {prompt node id: {node_id, display_node, parent_node, real_node_id}} for the nodes with outputs.
    meta: dict = field(default_factory=dict)
    #: NodeFlow's run report (per node: ran or cached, seconds, why), keyed by prompt node ids.
    report: dict = field(default_factory=dict)
