"""kill -9 at random moments of Save Image (issue 10, item 1): no empty or partial PNG is ever visible, and the
next save numbers right after the last complete picture and removes what the killed writer left."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from nodes.diffusion.nodes_image import save_numbered

REPO = Path(__file__).resolve().parents[2]
CHILD = """
import sys, numpy as np
from pathlib import Path
from PIL import Image
from nodes.diffusion.nodes_image import save_numbered
rng = np.random.default_rng(int(sys.argv[2]))
image = Image.fromarray(rng.integers(0, 255, (384, 384, 3), dtype=np.uint8))
print("ready", flush=True)
while True:  # save until killed
    for _ in save_numbered(Path(sys.argv[1]), "kill", [image, image], {"nodeflow": "{}" * 20000}):
        pass
"""


def visible_pngs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
@pytest.mark.slow
def test_twenty_kills_during_save_leave_only_complete_pictures(tmp_path):
    rnd = random.Random(10)
    deadline = time.monotonic() + 90
    for i in range(20):
        assert time.monotonic() < deadline, "the kill test took too long"
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), str(i)], cwd=REPO,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rnd.uniform(0.0, 0.25))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        for p in visible_pngs(tmp_path):  # after every kill, not only at the end
            assert p.stat().st_size > 0, f"{p.name} is empty"
            with Image.open(p) as im:
                im.verify()  # a partial file fails here
    numbers = [int(p.name.split("_")[1]) for p in visible_pngs(tmp_path)]
    assert numbers == list(range(1, len(numbers) + 1))  # no gaps: only finished files ever took a number
    image = Image.new("RGB", (8, 8))
    (saved,) = list(save_numbered(tmp_path, "kill", [image], {}))
    assert saved.name == f"kill_{len(numbers) + 1:05}_.png"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # the killed writers' temps went
