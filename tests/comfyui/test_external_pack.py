"""A third-party pack, from a folder outside the repository, declares its nodes' ComfyUI counterparts in its own
``@node(...)`` lines; ComfyUI files using them open, run and save back with nothing in nodeflow/formats knowing
about them."""
from __future__ import annotations

import json
import textwrap

from nodeflow.config import Settings
from nodeflow.core.environment import Environment
from nodeflow.core.executor import Executor
from nodeflow.formats.comfyui import export_api, export_ui, import_api, import_ui
from tests.comfyui.build import node, workflow

PACK = textwrap.dedent('''
    from nodeflow.core.nodedef import FLOAT, INT, STRING, Comfy, Input, Output, node

    SOCKET_TYPES = {"WAVE": ("#33aa88", "a sound wave")}

    # ComfyUI's class is called "SineWaveGenerator"; ours adds a field ComfyUI's lacks (its 'label'),
    # and ComfyUI shows a control after the frequency although our frequency has none.
    @node("Sine", category="audio", comfy=Comfy(class_type="SineWaveGenerator", nodeflow_only=("label",),
                                                controls=("hz",), defaults=(("amplitude", 0.5),)),
          inputs=[Input("hz", INT, default=440, min=1, max=20000), Input("seed", INT, default=0, min=0, max=2**32,
                                                                          control_after_generate=True),
                  Input("amplitude", FLOAT, default=1.0, min=0.0, max=1.0),
                  Input("label", STRING, default="", optional=True)],
          outputs=[Output("WAVE", "WAVE")])
    def sine(ctx, hz, seed, amplitude, label=""):
        return ({"hz": hz, "seed": seed, "amplitude": amplitude},)

    @node("Play", category="audio", output_node=True, comfy=True, inputs=[Input("wave", "WAVE")])
    def play(ctx, wave):
        ctx.show(text=f"{wave['hz']} Hz at {wave['amplitude']}")

    NODE_TYPES = [sine, play]
''')


def environment(tmp_path) -> Environment:
    packs = tmp_path / "elsewhere" / "packs"
    packs.mkdir(parents=True)
    (packs / "audio_pack.py").write_text(PACK)
    settings = Settings(data_dir=tmp_path, model_roots=(), input_dir=tmp_path / "in", output_dir=tmp_path / "out",
                        pack_dirs=(packs,), include_builtin_models=False)
    env = Environment.create(settings, entry_points=False)
    assert not env.registry.errors, env.registry.errors
    return env


def comfy_file() -> dict:
    # widgets_values in ComfyUI's order: hz, its control, seed, seed's control, amplitude
    return workflow([
        node(1, "SineWaveGenerator", outputs=[("WAVE", "WAVE")], wv=[220, "fixed", 7, "increment", 0.25]),
        node(2, "Play", inputs=[("wave", "WAVE", 1)]),
    ], [[1, 1, 0, 2, 0, "WAVE"]])


def test_a_pack_outside_the_repo_round_trips_comfyui_files(tmp_path):
    env = environment(tmp_path)
    wf = comfy_file()
    graph, report = import_ui(wf, env.registry, env.settings)
    assert not report.placeholders
    sine = graph.nodes[1]
    assert sine.type == "Sine" and sine.values == {"hz": 220, "seed": 7, "amplitude": 0.25}
    assert sine.controls == {"seed": "increment"}
    # it runs, as the NodeFlow node it is
    result = Executor(env).run(graph)
    assert result.status == "ok" and result.records[2].ui["text"] == "220 Hz at 0.25"
    # and goes back to ComfyUI exactly as it came
    back = export_ui(graph, env.registry)
    assert [n["type"] for n in back["nodes"]] == ["SineWaveGenerator", "Play"]
    assert next(n for n in back["nodes"] if n["id"] == 1)["widgets_values"] == [220, "fixed", 7, "increment", 0.25]
    again, _ = import_ui(json.loads(json.dumps(back)), env.registry, env.settings)
    assert again == graph
    prompt = export_api(graph, env.registry)
    assert prompt["1"] == {"inputs": {"hz": 220, "seed": 7, "amplitude": 0.25}, "class_type": "SineWaveGenerator",
                           "_meta": {"title": "Sine"}}
    assert import_api(prompt, env.registry, env.settings)[0].nodes[1].values == sine.values


def test_comfyuis_defaults_fill_what_an_old_file_leaves_out(tmp_path):
    env = environment(tmp_path)
    wf = comfy_file()
    wf["nodes"][0]["widgets_values"] = [330, "fixed", 1, "fixed"]  # written before 'amplitude' existed
    graph, _ = import_ui(wf, env.registry, env.settings)
    assert graph.nodes[1].values["amplitude"] == 0.5  # ComfyUI's default, declared by the pack, not ours (1.0)
