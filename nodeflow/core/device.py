"""Which torch device runs the nodes (CUDA, else MPS, else CPU) and how many CPU threads torch uses. Resolving
imports torch, so it happens lazily."""
from __future__ import annotations

import os
import time
from functools import lru_cache


@lru_cache(maxsize=8)
def resolve_device(preference: str = "auto") -> str:
    if preference == "cpu":
        return "cpu"
    import torch

    if preference == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was asked for, but torch sees no CUDA GPU")
        return "cuda"
    if preference == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise RuntimeError("device 'mps' was asked for, but this torch build has no MPS support")
        return "mps"
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


#: Up to this many physical cores, an editor keeps one of them for its GUI thread.
FEW_CORES = 8
#: Other processes using at least this many cores' worth of CPU make the machine "busy" (the guard below applies).
BUSY_THRESHOLD = 0.5
_reserve_gui_core = False
_last_sample: tuple[float, float, float] | None = None  # (wall, machine busy seconds, own CPU seconds)
_last_load: float | None = None


def set_reserve_gui_core(enabled: bool = True) -> None:
    """The editor calls this once at start: automatic thread counts then leave one core to the GUI thread where
    there are few cores (``FEW_CORES``), so the canvas stays responsive while a model runs."""
    global _reserve_gui_core
    _reserve_gui_core = bool(enabled)


def configure_cpu_threads(threads: int = 0, *, reserve_gui_core: bool | None = None) -> int:
    """Set torch's CPU thread count (before each run, so a changed setting applies): ``threads``, else
    OMP_NUM_THREADS if the user set it, else ``default_cpu_threads``."""
    import torch

    if threads <= 0:
        env = os.environ.get("OMP_NUM_THREADS", "")
        if env.isdigit() and int(env) > 0:
            threads = int(env)
        else:
            reserve = _reserve_gui_core if reserve_gui_core is None else reserve_gui_core
            threads = default_cpu_threads(reserve_gui_core=reserve)
    if torch.get_num_threads() != threads:  # not cached per value: going back to an earlier value must apply too
        torch.set_num_threads(threads)
    return threads


def default_cpu_threads(reserve_gui_core: bool = False) -> int:
    """One thread per physical core (what ComfyUI and torch's own default use; hyper-threads add nothing to these
    compute-bound kernels), less one for an editor's GUI on a machine with few cores, and fewer where other
    processes keep cores busy.

    The guard: torch's OpenMP workers spin while they wait for each other, so a thread that shares its core with
    another busy process stalls every parallel op. Measured on a 2-core machine with one core busy: 20 steps of a
    small model took 19 s with 2 threads and 0.4 s with 1. So cores other processes use (``other_cpu_load``) are
    left to them; on an idle machine every physical core is used.
    """
    cores = physical_cores()
    threads = cores - 1 if reserve_gui_core and 1 < cores <= FEW_CORES else cores
    busy = other_cpu_load()
    if busy is not None and busy >= BUSY_THRESHOLD:
        logical = max(cores, _logical_cpus())
        threads = min(threads, cores - round(busy * cores / logical))
    return max(1, threads)


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads of one core counted once)."""
    return _linux_physical_cores() or _macos_physical_cores() or _logical_cpus()


def _logical_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _linux_physical_cores(sysfs: str = "/sys/devices/system/cpu") -> int:
    try:
        cpus = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return 0
    cores = set()
    for cpu in cpus:
        topology = f"{sysfs}/cpu{cpu}/topology/"
        try:
            with open(topology + "physical_package_id") as f:
                package = f.read().strip()
            with open(topology + "core_id") as f:
                cores.add((package, f.read().strip()))
        except OSError:
            return 0
    return len(cores)


@lru_cache(maxsize=1)
def _macos_physical_cores() -> int:
    import platform
    import subprocess

    if platform.system() != "Darwin":
        return 0
    for key in ("hw.perflevel0.physicalcpu", "hw.physicalcpu"):  # Apple silicon: performance cores only (as torch)
        try:
            out = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=2).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if out.isdigit() and int(out) > 0:
            return int(out)
    return 0


def other_cpu_load(min_window: float = 0.25, max_age: float = 60.0, sample: float = 0.1) -> float | None:
    """Cores' worth of CPU time other processes used recently (this process's own threads excluded, so a previous
    run doesn't count against the next); None where the platform doesn't tell.

    Linux: busy time from /proc/stat since the previous call (if it is ``min_window``..``max_age`` seconds old),
    else over a fresh ``sample`` seconds; elsewhere the 1-minute load average less this process's own use.
    """
    global _last_sample, _last_load
    now = time.monotonic()
    previous = _last_sample
    if previous is not None and now - previous[0] < min_window and _last_load is not None:
        return _last_load  # asked again at once (every node of a run asks): the last answer stands
    own = _own_cpu_seconds()
    machine = _machine_busy_seconds()
    if machine is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            return None
        _last_sample = (now, 0.0, own)
        mine = (own - previous[2]) / (now - previous[0]) if previous and now - previous[0] > min_window else 0.0
        _last_load = max(0.0, load - mine)
        return _last_load
    if previous is None or not min_window <= now - previous[0] <= max_age:
        previous = (now, machine, own)
        time.sleep(sample)
        now, own, machine = time.monotonic(), _own_cpu_seconds(), _machine_busy_seconds() or machine
    _last_sample = (now, machine, own)
    _last_load = max(0.0, ((machine - previous[1]) - (own - previous[2])) / (now - previous[0]))
    return _last_load


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def _machine_busy_seconds() -> float | None:
    """CPU seconds spent busy on all CPUs since boot (/proc/stat: user, nice, system, irq, softirq, steal)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
