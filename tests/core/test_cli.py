"""The command line: run with --set and --report, validate, nodes, and the exit codes 0 / 1 / 2."""
import json
import subprocess
import sys

import pytest

from nodeflow.cli.main import main
from nodeflow.core.builders import GraphBuilder
from nodeflow.formats import workflow
from tests.core.testpack import CALLS, make_registry


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """A settings file whose node-pack folder holds the counting test nodes."""
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "testnodes.py").write_text("from tests.core.testpack import TEST_TYPES as NODE_TYPES\n")
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps({"node_packs": [str(packs)], "data_dir": str(tmp_path / "data")}))
    monkeypatch.setenv("NODEFLOW_SETTINGS", str(settings_file))
    CALLS.clear()
    return tmp_path


def write(tmp_path, name, build):
    reg = make_registry()
    b = GraphBuilder(reg)
    build(b)
    return str(workflow.save(b.graph, tmp_path / name))


def simple(b):
    c = b.add("Const", title="Start", value=3)
    a = b.add("Add", b=2)
    s = b.add("Sink", title="Result")
    b.link(c, "INT", a, "a")
    b.link(a, "INT", s, "x")


def test_run_prints_per_node_and_writes_a_report(cli_env, capsys):
    f1 = write(cli_env, "one.json", simple)
    f2 = write(cli_env, "two.json", simple)
    report_path = cli_env / "report.json"
    code = main(["run", f1, f2, "--set", "Start.value=10", "--report", str(report_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "[   ran]   1 Start" in out and "(first run)" in out
    report = json.loads(report_path.read_text())
    first, second = report["runs"]
    assert first["file"] == f1 and first["status"] == "ok" and first["executed"] == [1, 2, 3]
    # both files run in one process sharing the cache: the identical second graph executes nothing
    assert second["executed"] == [] and second["cached"] == [1, 2, 3]
    assert set(first["seconds"]) == {"1", "2", "3"}
    assert first["info"]["3"] == {"x": 12}
    assert CALLS["Const"] == 1


def test_set_by_id_and_type_and_bad_sets_exit_2(cli_env, capsys):
    f = write(cli_env, "wf.json", simple)
    assert main(["run", f, "--set", "2.b=5", "--set", "Sink.label=\"total\"", "-q"]) == 0
    for bad, msg in [("Nope.value=1", "no node with id, title or type 'Nope'"),
                     ("Start.missing=1", "has no value 'missing' (values: value)"),
                     ("Start.value=abc", "'abc' is not a valid INT value"),
                     ("Startvalue", "expected NODE.FIELD=VALUE"),
                     ("Start.value=5000", "out of range")]:
        capsys.readouterr()
        assert main(["run", f, "--set", bad]) == 2, bad
        err = capsys.readouterr().err
        assert msg in err, (bad, err)


def test_invalid_workflow_exits_2_and_runs_nothing(cli_env, capsys):
    ok = write(cli_env, "ok.json", simple)
    def broken(b):
        b.add("Sink", title="Lonely")
    bad = write(cli_env, "bad.json", broken)
    assert main(["run", ok, bad]) == 2
    err = capsys.readouterr().err
    assert "node 1 'Lonely', x: not connected" in err and "nothing was run" in err
    assert sum(CALLS.values()) == 0  # the valid first file did not run either


def test_failure_during_run_exits_1(cli_env, capsys):
    def failing(b):
        c = b.add("Const")
        f = b.add("Fail", title="Boom")
        s = b.add("Sink")
        b.link(c, "INT", f, "x")
        b.link(f, "INT", s, "x")
    f = write(cli_env, "fail.json", failing)
    report = cli_env / "r.json"
    assert main(["run", f, "--report", str(report)]) == 1
    out = capsys.readouterr().out
    assert "[failed]   2 Boom [flag]: the flag says fail" in out
    run = json.loads(report.read_text())["runs"][0]
    assert run["status"] == "error" and run["errors"][0]["field"] == "flag"


def test_validate_prints_all_problems(cli_env, capsys):
    def two_problems(b):
        b.add("Const", value=99999)
        b.add("Sink")
    f = write(cli_env, "v.json", two_problems)
    assert main(["validate", f]) == 2
    out = capsys.readouterr().out
    assert "value: 99999 is out of range" in out and "x: not connected" in out
    ok = write(cli_env, "ok.json", simple)
    assert main(["validate", ok]) == 0


def test_nodes_listing(cli_env, capsys):
    assert main(["nodes", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    by_type = {n["type"]: n for n in listing["nodes"]}
    assert by_type["Const"]["inputs"] == [{"name": "value", "type": "INT", "kind": "either", "default": 1,
                                            "min": -1000, "max": 1000}]
    assert by_type["Seed"]["inputs"][0]["control_after_generate"] is True
    assert main(["nodes"]) == 0
    assert "Const (Const)" in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"{truncated", b"\x00\x01binary", b'{"format": "nodeflow.workflow", "version": 1,'
                                     b' "nodes": [{"id": 1, "type": "Const", "values": {"value": 1e999}}]}'])
def test_bad_files_exit_2_without_a_traceback(cli_env, content):
    f = cli_env / "bad.json"
    f.write_bytes(content)
    proc = subprocess.run([sys.executable, "-m", "nodeflow", "run", str(f)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "bad.json" in proc.stderr
    assert not (cli_env / "data" / "output").exists() or not any((cli_env / "data" / "output").iterdir())


def test_missing_file_and_bad_arguments(cli_env, capsys):
    assert main(["run", str(cli_env / "nope.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["run"]) == 2
    assert main(["frobnicate"]) == 2
