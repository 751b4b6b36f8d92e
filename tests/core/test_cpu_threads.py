"""Automatic torch thread count: physical cores, one left to the editor's GUI where cores are few, fewer only where
other processes keep cores busy (core detection and load mocked)."""
import pytest
import torch

from nodeflow.core import device as d


@pytest.fixture
def machine(monkeypatch):
    def set_machine(physical: int, logical: int, busy: float | None = 0.0):
        monkeypatch.setattr(d, "physical_cores", lambda: physical)
        monkeypatch.setattr(d, "_logical_cpus", lambda: logical)
        monkeypatch.setattr(d, "other_cpu_load", lambda: busy)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return set_machine


def test_idle_machine_uses_every_physical_core(machine):
    machine(physical=4, logical=8)
    assert d.default_cpu_threads() == 4  # not the 8 hyper-threads, not half
    machine(physical=2, logical=2)
    assert d.default_cpu_threads() == 2


def test_the_editor_keeps_a_core_where_there_are_few(machine):
    machine(physical=4, logical=8)
    assert d.default_cpu_threads(reserve_gui_core=True) == 3
    machine(physical=16, logical=32)
    assert d.default_cpu_threads(reserve_gui_core=True) == 16
    machine(physical=1, logical=1)
    assert d.default_cpu_threads(reserve_gui_core=True) == 1


def test_busy_cores_are_left_to_the_processes_using_them(machine):
    machine(physical=2, logical=2, busy=1.0)
    assert d.default_cpu_threads() == 1
    machine(physical=8, logical=16, busy=6.0)  # 6 of 16 hyper-threads busy: about 3 cores
    assert d.default_cpu_threads() == 5
    machine(physical=2, logical=2, busy=0.3)  # background noise is not a busy machine
    assert d.default_cpu_threads() == 2
    machine(physical=2, logical=2, busy=None)  # the platform doesn't tell
    assert d.default_cpu_threads() == 2


def test_explicit_and_environment_counts_win(machine, monkeypatch):
    machine(physical=2, logical=2, busy=2.0)
    before = torch.get_num_threads()
    try:
        assert d.configure_cpu_threads(3) == 3 and torch.get_num_threads() == 3
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert d.configure_cpu_threads(0) == 2 and torch.get_num_threads() == 2
        monkeypatch.delenv("OMP_NUM_THREADS")
        machine(physical=4, logical=4)
        monkeypatch.setattr(d, "_reserve_gui_core", False)
        d.set_reserve_gui_core(True)
        assert d.configure_cpu_threads(0) == 3
        assert d.configure_cpu_threads(0, reserve_gui_core=False) == 4
    finally:
        torch.set_num_threads(before)


def test_physical_cores_from_the_linux_topology(tmp_path, monkeypatch):
    for cpu, core in [(0, 0), (1, 1), (2, 0), (3, 1)]:  # 2 cores with 2 hyper-threads each
        topology = tmp_path / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text("0\n")
        (topology / "core_id").write_text(f"{core}\n")
    monkeypatch.setattr(d.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert d._linux_physical_cores(str(tmp_path)) == 2
    monkeypatch.setattr(d.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)  # pinned to two CPUs
    assert d._linux_physical_cores(str(tmp_path)) == 2
    monkeypatch.setattr(d.os, "sched_getaffinity", lambda pid: {0, 2}, raising=False)  # one core's two threads
    assert d._linux_physical_cores(str(tmp_path)) == 1


def test_no_topology_falls_back_to_the_cpu_count(monkeypatch):
    monkeypatch.delattr(d.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(d.os, "cpu_count", lambda: 6)
    monkeypatch.setattr(d, "_macos_physical_cores", lambda: 0)
    assert d.physical_cores() == 6


def test_other_load_excludes_this_process(monkeypatch):
    clock = iter([100.0, 101.0])
    machine_busy = iter([50.0, 51.5])  # 1.5 CPU-seconds busy on the machine in 1 s...
    own = iter([10.0, 11.0])           # ...1 of them ours
    monkeypatch.setattr(d.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(d, "_machine_busy_seconds", lambda: next(machine_busy))
    monkeypatch.setattr(d, "_own_cpu_seconds", lambda: next(own))
    monkeypatch.setattr(d, "_last_sample", None)
    monkeypatch.setattr(d, "_last_load", None)
    slept = []
    monkeypatch.setattr(d.time, "sleep", slept.append)
    assert d.other_cpu_load() == pytest.approx(0.5) and slept == [0.1]
    clock = iter([101.1])  # asked again 0.1 s later: no new sample, no sleep
    assert d.other_cpu_load() == pytest.approx(0.5) and slept == [0.1]
    clock, machine_busy, own = iter([103.0]), iter([52.5]), iter([11.0])  # 2 s later: measured over those 2 s
    assert d.other_cpu_load() == pytest.approx(0.5) and slept == [0.1]
