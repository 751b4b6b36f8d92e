"""Runs one job on one Executor: the unit of work a worker does, wherever the worker is.

The executor (and so its cache of outputs and loaded models) lives as long as the runner: a second prompt that
changes only the seed reruns only the sampler and what follows it. The prompt is prepared again here (import, plan),
so files are looked up when the prompt runs. What the saved PNGs embed is the prompt as received and the client's
extra_pnginfo (``embedding.prompt_chunks``), as ComfyUI's server writes them.
"""
from __future__ import annotations

import hashlib
import json
import logging

from nodeflow.core.executor import Executor
from nodeflow.server.embedding import prompt_chunks
from nodeflow.server.jobs import Job, JobResult
from nodeflow.server.messages import Sink, Translator, now_ms
from nodeflow.server.outputs import OutputRefs
from nodeflow.server.prompts import Rejected, prepare

log = logging.getLogger("nodeflow.server")


def workflow_key(prompt: dict) -> str:
    """Names "the same workflow" across prompts (the executor explains a rerun against that workflow's last run):
    its nodes' classes and links, not its values, so a new seed reads "value 'seed' changed"."""
    shape = {}
    for key, node in prompt.items():
        if isinstance(node, dict):
            inputs = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
            shape[key] = [node.get("class_type"), sorted((k, v) for k, v in inputs.items() if isinstance(v, list))]
    text = json.dumps(shape, sort_keys=True, default=str)
    return "server:" + hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


class PromptRunner:
    def __init__(self, env, sink: Sink, refs: OutputRefs, *, previews: bool = False):
        self.env = env
        self.sink = sink
        self.refs = refs
        self.previews = previews
        self.executor = Executor(env)

    def run(self, job: Job, interrupted=lambda: False) -> JobResult:
        """Run ``job``; ``interrupted()`` says whether it was interrupted before its run began (the executor only
        hears of cancels made while it runs)."""
        try:
            prepared = prepare(job.prompt, self.env, job.outputs)
        except Rejected as e:  # valid when queued, not any more (a file was removed meanwhile)
            translator = Translator(job, {}, {}, self.sink, self.refs, self.previews)
            translator.send("execution_start", {"prompt_id": job.prompt_id, "timestamp": now_ms()}, record=True)
            err = e.body.get("error", {})
            translator.fail(f"{err.get('message', 'invalid prompt')}: {err.get('details', '')}".rstrip(": "))
            return translator.result()
        translator = Translator(job, prepared.api_ids, prepared.class_types, self.sink, self.refs, self.previews)
        graph = prepared.plan.graph
        extra_pnginfo = job.extra_data.get("extra_pnginfo")
        listener = _logged(translator, lambda: interrupted() and self.executor.cancel())
        self.executor.execute(prepared.plan, listener, key=workflow_key(job.prompt),
                              embed=lambda: prompt_chunks(graph, job.prompt, extra_pnginfo))
        return translator.result()

    def warm_up(self) -> None:
        """Import what the nodes import lazily (torch, diffusers), before the first prompt rather than during it.
        On the worker's own thread: importing diffusers from two threads at once breaks its lazy modules."""
        import importlib

        for name in self.env.registry.warm_up:
            try:
                importlib.import_module(name)
            except Exception as e:  # a pack's warm-up failing only costs time at its first run
                log.info("warm-up of %s failed: %s", name, e)

    def interrupt(self) -> None:
        self.executor.cancel()

    def free(self) -> dict:
        return self.executor.free()


def _logged(translator: Translator, on_start):
    """The translator, plus node failures with their traceback in the server's log (clients get no traceback);
    ``on_start`` runs once the run has begun (an interrupt that came before it is applied there)."""
    from nodeflow.core import events as ev

    def listen(event):
        if isinstance(event, ev.RunStarted):
            on_start()
        elif isinstance(event, ev.NodeFailed):
            log.warning("prompt %s, node %s failed: %s\n%s", translator.job.prompt_id,
                        translator.api(event.node_id), event.message, event.traceback)
        translator(event)

    return listen
