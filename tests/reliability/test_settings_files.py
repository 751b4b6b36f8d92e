"""Wrongly typed settings (issue 10, item 10): never a traceback; a warning naming the setting and the file, and
that setting's default; a missing or unreadable file named by NODEFLOW_SETTINGS is reported, not ignored."""
from __future__ import annotations

import json

import pytest

from nodeflow.cli.main import main
from nodeflow.config import Settings

CASES = [
    ('{"cache_budget_mb": "lots"}', "'cache_budget_mb' must be a whole number", "cache_budget_mb", 4096),
    ('{"cache_budget_mb": NaN}', "cache_budget_mb: nan is not a finite number", "cache_budget_mb", 4096),
    ('{"cache_budget_mb": -5}', "'cache_budget_mb' must be a whole number", "cache_budget_mb", 4096),
    ('{"cpu_threads": null}', "'cpu_threads' is null", "cpu_threads", 0),
    ('{"cpu_threads": true}', "'cpu_threads' must be a whole number", "cpu_threads", 0),
    ('{"output": 5}', "'output' must be a path (text), not a number", None, None),
    ('{"data_dir": []}', "'data_dir' must be a path (text), not a list", None, None),
    ('{"models": ["ok", "a\\u0000b"]}', "'models' holds a NUL character; using the others", None, None),
    ('{"models": "~nosuchuser-nodeflow/models"}', "'models' cannot be expanded", None, None),
    ('{"device": "tpu"}', "'device' must be one of auto, cpu, cuda, mps", "device", "auto"),
    ('{"compile": "yes"}', "'compile' must be true or false", "compile", False),
    ('{"node_packs": 3}', "'node_packs' must be a path or a list of paths", None, None),
    ("[" * 100_000 + "]" * 100_000, "not usable JSON", None, None),
    ('{"a": ' * 300 + "1" + "}" * 300, "nested more than 200 levels deep", None, None),
    ("{oops", "not valid JSON", None, None),
    ("[1, 2]", "expected a JSON object", None, None),
]


@pytest.mark.parametrize("text, warning, key, default", CASES)
def test_a_wrong_setting_is_named_with_its_file_and_its_default_used(tmp_path, text, warning, key, default):
    f = tmp_path / "settings.json"
    f.write_text(text)
    s = Settings.load(None, env={"NODEFLOW_SETTINGS": str(f), "NODEFLOW_HOME": str(tmp_path)})
    assert any(warning in w and str(f) in w for w in s.warnings), s.warnings
    if key is not None:
        assert getattr(s, key) == default
    assert s.output_dir == tmp_path / "output" or "output" not in text


def test_the_good_settings_of_a_file_are_kept_beside_a_bad_one(tmp_path):
    f = tmp_path / "settings.json"
    f.write_text(json.dumps({"cpu_threads": "many", "device": "cpu", "output": str(tmp_path / "o")}))
    s = Settings.load(f, env={"NODEFLOW_HOME": str(tmp_path)})
    assert (s.cpu_threads, s.device, s.output_dir) == (0, "cpu", tmp_path / "o") and len(s.warnings) == 1


@pytest.mark.parametrize("env_key, value, warning", [
    ("NODEFLOW_MODELS", "/" + "x" * 5000, "'NODEFLOW_MODELS' is 5001 bytes long"),
    ("NODEFLOW_MODELS", "/" + "x" * 300 + "/m", "part longer than 255 bytes"),
    ("NODEFLOW_DEVICE", "gpu", "'NODEFLOW_DEVICE' must be one of"),
])
def test_hostile_environment_values(tmp_path, env_key, value, warning):
    s = Settings.load(None, env={"NODEFLOW_HOME": str(tmp_path), env_key: value,
                                 "NODEFLOW_SETTINGS": str(tmp_path / "none.json")})
    assert any(warning in w and "the environment" in w for w in s.warnings), s.warnings


def test_a_missing_or_unreadable_settings_file_is_reported(tmp_path, capsys, monkeypatch):
    missing = tmp_path / "typo.json"
    s = Settings.load(None, env={"NODEFLOW_SETTINGS": str(missing), "NODEFLOW_HOME": str(tmp_path)})
    assert s.warnings == (f"settings file {missing} named by NODEFLOW_SETTINGS does not exist; using the defaults",)
    s = Settings.load(None, env={"NODEFLOW_SETTINGS": str(tmp_path), "NODEFLOW_HOME": str(tmp_path)})
    assert "is not a file" in s.warnings[0]
    # the CLI prints them and carries on with the defaults
    monkeypatch.setenv("NODEFLOW_SETTINGS", str(missing))
    assert main(["nodes"]) == 0
    assert f"warning: settings file {missing} named by NODEFLOW_SETTINGS does not exist" in capsys.readouterr().err


def test_the_editor_starts_with_defaults_and_says_so(qtbot, tmp_path, monkeypatch):
    import nodes.basic
    from nodeflow.app.main import create_editor
    from tests.core.testpack import make_registry

    reg = make_registry(with_builtin=False)
    reg.add_module(nodes.basic, "basic")
    f = tmp_path / "settings.json"
    f.write_text('{"cache_budget_mb": "lots"}')
    monkeypatch.setenv("NODEFLOW_SETTINGS", str(f))
    editor = create_editor(interactive=False, autosave=False, registry=reg)
    try:
        texts = [e.message for e in editor.window.log.entries]
        assert any("'cache_budget_mb' must be a whole number" in t and str(f) in t for t in texts), texts
        assert editor.window.env.settings.cache_budget_mb == 4096
    finally:
        editor.window.close()
        editor.runner.shutdown()
