"""Two environments in one process (two server clients with their own folders, two test set-ups) never see each
other: each has its own settings, folders, node types and socket types, and runs side by side."""
from __future__ import annotations

import threading
import textwrap

from nodeflow.config import Settings
from nodeflow.core.builders import GraphBuilder
from nodeflow.core.environment import Environment
from nodeflow.core.executor import Executor
from nodeflow.core.nodedef import Input
from nodeflow.core.validation import validate

PACK = textwrap.dedent('''
    from nodeflow.core.nodedef import COMBO, Input, Output, node

    SOCKET_TYPES = {{"TOKEN": ("{colour}", "a token")}}

    @node("{type_name}", category="test",
          inputs=[Input("ckpt_name", COMBO, files="checkpoints")], outputs=[Output("TOKEN", "TOKEN")])
    def read(ctx, ckpt_name):
        path = ctx.resolve("checkpoints", ckpt_name, "ckpt_name")
        return (path.read_text(),)

    @node("Show{type_name}", category="test", output_node=True, inputs=[Input("token", "TOKEN")])
    def show(ctx, token):
        import time
        time.sleep(0.05)  # long enough for the other environment's run to overlap this one
        ctx.show(text=token)

    NODE_TYPES = [read, show]
''')


def make_env(root, name: str, colour: str, model_text: str) -> Environment:
    packs = root / "packs"
    packs.mkdir(parents=True)
    (packs / f"pack_{name.lower()}.py").write_text(PACK.format(colour=colour, type_name=name))
    models = root / "models" / "checkpoints"
    models.mkdir(parents=True)
    (models / f"{name.lower()}.safetensors").write_text(model_text)
    settings = Settings(data_dir=root, model_roots=(root / "models",), input_dir=root / "input",
                        output_dir=root / "output", pack_dirs=(packs,), include_builtin_models=False)
    return Environment.create(settings, builtin=False, entry_points=False)


def graph_for(env: Environment, name: str):
    b = GraphBuilder(env.registry, settings=env.settings)
    r = b.add(name)
    b.link(r, "TOKEN", b.add(f"Show{name}"), "token")
    return b.graph


def test_two_environments_run_side_by_side_without_seeing_each_other(tmp_path):
    a = make_env(tmp_path / "a", "Alpha", "#ff0000", "weights of A")
    b = make_env(tmp_path / "b", "Beta", "#0000ff", "weights of B")

    # node types and socket types are per registry
    assert "Alpha" in a.registry and "Alpha" not in b.registry and "Beta" in b.registry
    assert a.registry.socket_types.color("TOKEN") == "#ff0000" and b.registry.socket_types.color("TOKEN") == "#0000ff"
    # folders are per settings: each sees its own model file, and the other's name is missing
    choice: Input = a.registry.get("Alpha").input("ckpt_name")
    assert choice.choice_list(a.settings) == ["alpha.safetensors"]
    assert choice.choice_list(b.settings) == ["beta.safetensors"]
    ga, gb = graph_for(a, "Alpha"), graph_for(b, "Beta")
    assert validate(ga, a.registry, a.settings) == []
    wrong = validate(ga, b.registry, b.settings)
    assert {p.kind for p in wrong} == {"unknown_type"}  # B has no such node type at all

    # both run at the same time, each with its own executor, and each reads its own file
    reports = {}

    def run(key, env, graph):
        reports[key] = Executor(env).run(graph)

    threads = [threading.Thread(target=run, args=("a", a, ga)), threading.Thread(target=run, args=("b", b, gb))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    shown = {k: next(r.ui["text"] for r in rep.records.values() if r.ui.get("text")) for k, rep in reports.items()}
    assert reports["a"].status == reports["b"].status == "ok"
    assert shown == {"a": "weights of A", "b": "weights of B"}
