"""``nodeflow run --server URL FILE...`` prints the same per-node report as a local run of the same file, stays warm
(a new seed reruns only the sampler cone, with the reason), and checks every file before running any."""
import json
import os
import re
import subprocess
import sys

import pytest

from tests.server.harness import REPO, ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory):
    """A server whose cache is empty, so its first run compares with a first local run."""
    srv = ServerProcess(tmp_path_factory.mktemp("cli-server"))
    yield srv
    srv.stop()


def nodeflow(tmp_path, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, NODEFLOW_HOME=str(tmp_path / "home"), NODEFLOW_SETTINGS=str(tmp_path / "none.json"),
               HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "nodeflow", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def normalised(out: str) -> list[str]:
    """The report without what differs between two runs: seconds, and where the files are."""
    lines = []
    for line in out.splitlines():
        line = re.sub(r"\s+\d+\.\d+s\b", "", line)
        line = re.sub(r"ok in \d+\.\d+s", "ok", line)
        line = re.sub(r"wrote .*NodeFlow_\d+_\.png.*", "wrote NodeFlow_N_.png", line)
        lines.append(line)
    return sorted(lines)


def test_the_same_report_as_a_local_run(fresh_server, tmp_path):
    flags = ["workflows/default.json", "--set", "KSampler.steps=3", "--set", "KSampler.seed=11"]
    local = nodeflow(tmp_path, "run", *flags, "--out", str(tmp_path / "local-out"))
    remote = nodeflow(tmp_path, "run", "--server", fresh_server.url, *flags, "--report", str(tmp_path / "r.json"))
    assert local.returncode == 0 and remote.returncode == 0, (local.stderr, remote.stderr)
    assert normalised(remote.stdout) == normalised(local.stdout)
    assert "[   ran]   5 KSampler" in remote.stdout and "(first run)" in remote.stdout
    # nothing was downloaded: the picture is in the server's output folder, its URL printed
    (written,) = [line.split("wrote ", 1)[1] for line in remote.stdout.splitlines() if "wrote " in line]
    assert written.startswith(fresh_server.url + "/view?filename=NodeFlow_00001_.png")
    assert (fresh_server.output / "NodeFlow_00001_.png").is_file()
    run = json.loads((tmp_path / "r.json").read_text())["runs"][0]
    assert run["status"] == "ok" and sorted(run["executed"]) == [1, 2, 3, 4, 5, 6, 7]

    again = nodeflow(tmp_path, "run", "--server", fresh_server.url, "workflows/default.json",
                     "--set", "KSampler.steps=3", "--set", "KSampler.seed=12")
    assert again.returncode == 0, again.stderr
    for node in ("1 Load Checkpoint", "2 Positive", "3 Negative", "4 Empty Latent Image"):
        assert f"[cached]   {node}" in again.stdout
    assert re.search(r"\[   ran\]   5 KSampler .*\(value 'seed' changed \(11 -> 12\)\)", again.stdout)
    assert "[   ran]   6 VAE Decode" in again.stdout and "(6 ran" not in again.stdout
    assert "3 ran, 4 cached" in again.stdout


def test_every_file_is_checked_before_any_runs(fresh_server, tmp_path):
    bad = tmp_path / "bad.json"
    data = json.loads((REPO / "workflows" / "default.json").read_text())
    next(n for n in data["nodes"] if n["type"] == "KSampler")["values"]["steps"] = 0
    bad.write_text(json.dumps(data))
    before = len(fresh_server.get_json("/history"))
    result = nodeflow(tmp_path, "run", "--server", fresh_server.url, "workflows/default.json", str(bad))
    assert result.returncode == 2
    assert "node 5 'KSampler': Value 0 smaller than min of 1" in result.stderr
    assert "nothing was run" in result.stderr
    assert len(fresh_server.get_json("/history")) == before and fresh_server.get_json("/queue")["queue_pending"] == []


def test_an_unreachable_server_is_one_clear_line(tmp_path):
    result = nodeflow(tmp_path, "run", "--server", "http://127.0.0.1:9", "workflows/default.json")
    assert result.returncode == 1 and "cannot reach http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
