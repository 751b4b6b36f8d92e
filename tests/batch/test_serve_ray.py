"""``nodeflow serve --ray local --ray-workers 2``: a real server process whose queue runs on two Ray actors of a
local cluster it starts (and stops, with every process, when it is stopped). Prompts queued by a plain HTTP client
all finish, their pictures land in the server's output folder with the usual numbering (one file per prompt,
served by /view), and a worker killed mid-queue costs nothing: its prompt runs again on the other worker."""
import json
import os
import re
import signal
import time

import pytest

pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")

from nodeflow.batch.ray_pool import _alive  # noqa: E402
from tests.server.harness import ServerProcess, default_prompt  # noqa: E402

pytestmark = pytest.mark.slow
READY = re.compile(r"Ray worker (worker-\d+) ready \(pid (\d+)")


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_server_on_two_ray_workers_runs_the_queue_and_survives_a_killed_worker(tmp_path):
    srv = ServerProcess(tmp_path, "--ray", "local", "--ray-workers", "2", "--verbose")
    try:
        workers = wait_for(lambda: dict(READY.findall("".join(srv.lines))) if len(
            READY.findall("".join(srv.lines))) >= 2 else None, 180, "two Ray workers")
        victim = sorted(workers)[0]
        ids = [srv.queue(default_prompt(steps=4, seed=500 + k))["prompt_id"] for k in range(6)]
        wait_for(lambda: len(srv.get_json("/history")) >= 2, 120, "two prompts done")
        os.kill(int(workers[victim]), signal.SIGKILL)  # while the queue still holds prompts
        entries = [srv.wait_history(pid, timeout=180) for pid in ids]
        assert [e["status"]["status_str"] for e in entries] == ["success"] * 6, entries
        refs = [img for e in entries for out in e["outputs"].values() for img in out["images"]]
        assert len(refs) == 6 and len({r["filename"] for r in refs}) == 6
        files = sorted(p.name for p in srv.output.iterdir())
        assert files == [f"NodeFlow_{k:05}_.png" for k in range(1, 7)]  # numbered here, none twice
        for ref in refs:
            status, body, _ = srv.request("GET", f"/view?filename={ref['filename']}&type=output")
            assert status == 200 and body == (srv.output / ref["filename"]).read_bytes()
            assert json.loads(_prompt_chunk(body))  # the PNG carries the prompt, as a local server writes it
        # the killed worker's thread met its death on the prompt it held or took next, which ran again elsewhere
        assert f"Ray worker {victim} lost while running prompt" in "".join(srv.lines)
    finally:
        log = "".join(srv.lines)
        srv.stop()
    cluster = [int(p) for p in re.findall(r"pid (\d+)", log)]
    time.sleep(1.0)
    assert [p for p in cluster if _alive(p)] == [], "Ray worker processes outlived the server"


def _prompt_chunk(png: bytes) -> str:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        return im.info["prompt"]

