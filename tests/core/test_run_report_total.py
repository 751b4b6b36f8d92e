"""The run report's total time: every run's wall time, to 0.1 ms (enough to tell a 10 ms rerun)."""
import time

from nodeflow.core.environment import Environment
from nodeflow.core.executor import Executor
from tests.core.test_executor import chain
from tests.core.testpack import make_registry


def test_report_json_carries_the_runs_total_seconds(settings):
    reg = make_registry()
    graph, _ids = chain(reg)
    ex = Executor(Environment(settings, reg))
    t = time.perf_counter()
    report = ex.run(graph)
    wall = time.perf_counter() - t
    total = report.to_json()["seconds_total"]
    assert total == round(report.seconds_total, 4) and 0 < total <= wall + 1e-4
    rerun = ex.run(graph).to_json()  # everything cached: a few ms, still not rounded to 0
    assert 0 < rerun["seconds_total"] < 0.5
