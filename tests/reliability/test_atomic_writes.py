"""The atomic writer (issue 10, items 1 and 8): files get the mode a plain open would give, an overwritten file
keeps its mode, a new name is claimed only by its finished content, and what a killed writer left is cleaned."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from nodeflow.formats.atomic import WriteError, atomic_write_bytes, remove_stale_temps, write_new_file

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes and umask are POSIX")


def mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@posix_only
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_get_the_mode_a_plain_open_gives(tmp_path, umask):
    old = os.umask(umask)
    try:
        with open(tmp_path / "plain", "wb"):
            pass
        atomic_write_bytes(tmp_path / "atomic", b"x")
        write_new_file(tmp_path, ["claimed"], b"x")
    finally:
        os.umask(old)
    assert mode(tmp_path / "atomic") == mode(tmp_path / "plain") == 0o666 & ~umask
    assert mode(tmp_path / "claimed") == 0o666 & ~umask


@posix_only
def test_an_overwritten_file_keeps_its_mode(tmp_path):
    p = tmp_path / "w.json"
    p.write_text("old")
    for m in (0o644, 0o640, 0o600):
        os.chmod(p, m)
        atomic_write_bytes(p, b"new")
        assert mode(p) == m and p.read_bytes() == b"new"


def test_claiming_never_replaces_and_leaves_no_temp(tmp_path):
    (tmp_path / "a_00001_.png").write_bytes(b"first")
    got = write_new_file(tmp_path, ["a_00001_.png", "a_00002_.png"], b"second")
    assert got.name == "a_00002_.png" and (tmp_path / "a_00001_.png").read_bytes() == b"first"
    assert sorted(os.listdir(tmp_path)) == ["a_00001_.png", "a_00002_.png"]


def test_write_failures_name_the_file_and_the_reason(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(WriteError, match=r"cannot write .*d: it is a folder"):
        atomic_write_bytes(tmp_path / "d", b"x")
    (tmp_path / "f").write_text("")
    with pytest.raises(WriteError, match=r"cannot write .*f/x.*not a folder"):
        atomic_write_bytes(tmp_path / "f" / "x", b"x")


def test_temps_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".x.png.{dead}.0123456789ab.tmp"
    live = tmp_path / f".y.png.{os.getpid()}.0123456789ab.tmp"
    other = tmp_path / ".z.tmp"  # not ours
    for p in (stale, live, other):
        p.write_bytes(b"")
    assert remove_stale_temps(tmp_path) == [stale]
    assert live.exists() and other.exists() and not stale.exists()
