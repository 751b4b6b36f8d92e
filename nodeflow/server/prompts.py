"""A POST /prompt body -> a job, or ComfyUI's 400 answer.

The prompt (ComfyUI's API format) is imported with ``formats.comfyui.import_api`` and planned with
``core.planning.plan``, the same two steps a local run takes; the plan's problems become ComfyUI's ``node_errors``.
As in ComfyUI, outputs whose inputs are fine still run when others have problems (the answer lists those problems);
only when no output can run is the prompt refused. The worker prepares the prompt again when it runs it, so a file
removed meanwhile is a clear error for that prompt, and a job stays plain data (it can be sent elsewhere).
"""
from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from nodeflow.core.planning import Plan, plan
from nodeflow.formats.comfyui import import_api
from nodeflow.formats.comfyui.mapping import PRIMITIVE_NODE, REROUTE, comfy_class, is_counterpart, type_for_class
from nodeflow.formats.workflow import WorkflowError
from nodeflow.server import node_errors as ne
from nodeflow.server.jobs import Job

MAX_CLIENT_ID_CHARS = 256


class Rejected(Exception):
    """A prompt refused; ``body`` is ComfyUI's answer ({"error": {...}, "node_errors": {...}})."""

    def __init__(self, body: dict, status: int = 400):
        super().__init__(body["error"]["message"] if isinstance(body.get("error"), dict) else str(body))
        self.body, self.status = body, status


@dataclass
class Prepared:
    plan: Plan
    #: Our node id -> the prompt's id for it (a prompt's keys need not be numbers).
    api_ids: dict[int, str]
    #: Our node id -> the ComfyUI class the prompt named.
    class_types: dict[int, str]
    #: Problems of outputs that will not run (ComfyUI's node_errors); empty when everything runs.
    node_errors: dict

    @property
    def outputs(self) -> list[str]:
        return [self.api_ids[t] for t in self.plan.targets]


def servable(nt) -> bool:
    """Types a ComfyUI client can send: those with a ComfyUI counterpart that the server runs (not the front end's
    own nodes: notes, reroutes, primitives never reach ComfyUI's server either)."""
    return nt is not None and is_counterpart(nt) and not nt.ui_only and comfy_class(nt) not in (REROUTE,
                                                                                                PRIMITIVE_NODE)


def prepare(prompt: Any, env, outputs: list[str] | None = None) -> Prepared:
    """Import and plan an API prompt (``outputs``: the prompt ids to run, or None for every output node)."""
    if not isinstance(prompt, dict):
        raise Rejected(ne.rejection(ne.error("invalid_prompt", "The prompt must be a JSON object of nodes",
                                             f"got {type(prompt).__name__}")))
    try:
        graph, _report = import_api(prompt, env.registry, env.settings)
    except WorkflowError as e:
        raise Rejected(ne.rejection(ne.error("invalid_prompt", f"Invalid prompt: {e}", str(e)))) from None
    api_ids, class_types = {}, {}
    for node in graph.nodes.values():
        comfy = node.extra.get("comfy") if isinstance(node.extra.get("comfy"), dict) else {}
        api_ids[node.id] = comfy.get("api_id", str(node.id))
        class_types[node.id] = comfy.get("type", node.type)
        if not servable(type_for_class(env.registry, class_types[node.id])):
            raise Rejected(ne.rejection(ne.error(
                "invalid_prompt", f"Cannot execute because node {class_types[node.id]} does not exist.",
                f"Node ID '#{api_ids[node.id]}'")))
    targets = None
    if outputs is not None:
        by_api = {v: k for k, v in api_ids.items()}
        targets = [by_api[o] for o in outputs if o in by_api]
    work = plan(graph, env, targets)
    if not work.targets:
        raise Rejected(ne.rejection(ne.error("prompt_no_outputs", "Prompt has no outputs",
                                             "the prompt has no output node (Save Image, Preview Image, ...)")))
    errors = ne.node_errors(work.relevant_problems, work, api_ids, class_types, env.registry)
    general = [str(p) for p in work.relevant_problems if p.node_id is None]
    good = [t for t in work.targets if t not in work.skipped]
    if not good or general:
        details = "\n".join(general) or ne.summary(errors)
        raise Rejected(ne.rejection(ne.error("prompt_outputs_failed_validation", "Prompt outputs failed validation",
                                             details), errors))
    if len(good) < len(work.targets):  # run only what can run, as ComfyUI does
        work = plan(graph, env, good)
    return Prepared(work, api_ids, class_types, errors)


@dataclass
class Request:
    prompt: Any
    client_id: str | None
    extra_data: dict
    number: float | None
    front: bool
    outputs: list[str] | None


def parse_request(body: Any) -> Request:
    """Check the shape of a POST /prompt body; anything wrong is a 400 naming the field."""
    def bad(message: str):
        return Rejected(ne.rejection(ne.error("invalid_prompt", message, message)))

    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object with a \"prompt\"")
    if "prompt" not in body:
        raise Rejected(ne.rejection(ne.error("no_prompt", "No prompt provided", "No prompt provided")))
    client_id = body.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID_CHARS):
        raise bad(f"client_id must be text of at most {MAX_CLIENT_ID_CHARS} characters")
    extra = body.get("extra_data", {})
    if not isinstance(extra, dict):
        raise bad("extra_data must be a JSON object")
    if "extra_pnginfo" in extra and not isinstance(extra["extra_pnginfo"], dict):
        raise bad("extra_data.extra_pnginfo must be a JSON object")
    number = body.get("number")
    if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))
                               or not math.isfinite(number)):
        raise bad("number must be a finite number")
    front = body.get("front", False)
    if not isinstance(front, bool):
        raise bad("front must be true or false")
    outputs = body.get("partial_execution_targets")
    if outputs is not None and (not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs)):
        raise bad("partial_execution_targets must be a list of node ids")
    extra = dict(extra)
    if client_id:
        extra["client_id"] = client_id
    return Request(body["prompt"], client_id, extra, None if number is None else float(number), front, outputs)


def make_job(request: Request, prepared: Prepared, number: float, size: int = 0) -> Job:
    return Job(number, prompt_id=str(uuid.uuid4()), prompt=request.prompt, extra_data=request.extra_data,
               outputs=prepared.outputs, size=size)
