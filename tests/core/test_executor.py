"""The executor's cache rules, events, failures and cancellation, with counting test nodes."""
import threading

import pytest

from nodeflow.core.environment import Environment
from nodeflow.core import events as ev
from nodeflow.core import operations as ops
from nodeflow.core.builders import GraphBuilder
from nodeflow.core.executor import Executor
from nodeflow.formats import workflow
from tests.core.testpack import CALLS, make_registry


@pytest.fixture
def reg():
    return make_registry()


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


def chain(reg):
    """Const(3) -> Add(+2) -> Sink, plus an independent Const(7) -> Scale -> FloatSink branch."""
    b = GraphBuilder(reg)
    c = b.add("Const", value=3)
    a = b.add("Add", b=2)
    s = b.add("Sink")
    b.link(c, "INT", a, "a")
    b.link(a, "INT", s, "x")
    c2 = b.add("Const", value=7)
    sc = b.add("Scale", factor=2.0)
    fs = b.add("FloatSink")
    b.link(c2, "INT", sc, "x")
    b.link(sc, "FLOAT", fs, "x")
    return b.graph, dict(c=c, a=a, s=s, c2=c2, sc=sc, fs=fs)


def test_unchanged_rerun_executes_nothing(reg, settings):
    graph, ids = chain(reg)
    ex = Executor(Environment(settings, reg))
    first = ex.run(graph)
    assert first.status == "ok" and sorted(first.executed) == sorted(ids.values())
    assert first.records[ids["s"]].ui == {"text": "out=5"}
    calls_before = sum(CALLS.values())
    second = ex.run(graph)
    assert second.executed == []
    assert sorted(second.cached) == sorted(ids.values())
    assert sum(CALLS.values()) == calls_before
    # cached output nodes still show what they showed
    assert second.records[ids["s"]].ui == {"text": "out=5"}


def test_changing_one_value_reruns_exactly_its_downstream_cone(reg, settings):
    graph, ids = chain(reg)
    ex = Executor(Environment(settings, reg))
    ex.run(graph)
    graph.apply(ops.SetValue(ids["a"], "b", 10))
    report = ex.run(graph)
    assert sorted(report.executed) == sorted([ids["a"], ids["s"]])
    assert sorted(report.cached) == sorted([ids["c"], ids["c2"], ids["sc"], ids["fs"]])
    assert report.records[ids["a"]].reason == "value 'b' changed (2 -> 10)"
    assert report.records[ids["s"]].reason == "input 'x' changed"
    assert report.records[ids["s"]].ui == {"text": "out=13"}


def test_renumbered_copy_hits_the_cache(reg, settings):
    graph, ids = chain(reg)
    ex = Executor(Environment(settings, reg))
    ex.run(graph)
    data = workflow.to_dict(graph)
    remap = {n["id"]: n["id"] * 100 + 7 for n in data["nodes"]}
    for n in data["nodes"]:
        n["id"] = remap[n["id"]]
        n["title"] = "renamed " + n["title"]
    for l in data["links"]:
        l["from"][0] = remap[l["from"][0]]
        l["to"][0] = remap[l["to"][0]]
        l["id"] += 50
    renumbered, _ = workflow.from_dict(data, reg)
    report = ex.run(renumbered, key="another tab")
    assert report.executed == [] and len(report.cached) == len(ids)


def test_non_deterministic_node_always_reruns_with_its_downstream(reg, settings):
    b = GraphBuilder(reg)
    r = b.add("Random")
    s = b.add("Sink")
    c = b.add("Const")
    s2 = b.add("Sink")
    b.link(r, "INT", s, "x")
    b.link(c, "INT", s2, "x")
    ex = Executor(Environment(settings, reg))
    ex.run(b.graph)
    report = ex.run(b.graph)
    assert sorted(report.executed) == sorted([r, s])
    assert report.cached == [c, s2]
    assert report.records[r].reason.startswith("not cacheable")
    assert CALLS["Random"] == 2


def test_memory_budget_evicts_least_recently_used(reg, settings):
    b = GraphBuilder(reg)
    sinks = []
    for tag in range(3):
        blob = b.add("Blob", kb=1024, tag=tag)
        sink = b.add("BlobSink")
        b.link(blob, "BLOB", sink, "blob")
        sinks.append((blob, sink))
    ex = Executor(Environment(settings, reg), cache_budget_bytes=int(2.5 * 1024 * 1024))
    ex.run(b.graph)
    assert ex.cache.total <= 2.5 * 1024 * 1024
    assert ex.cache.evictions >= 1
    report = ex.run(b.graph)
    # the first blob (least recently used) was evicted and runs again; its sink's input changed? no: same signature
    assert sinks[0][0] in report.executed
    assert report.records[sinks[0][0]].reason == "not in the cache (freed or evicted)"
    freed = ex.free()
    assert freed["outputs_bytes"] > 0 and len(ex.cache) == 0
    assert sorted(ex.run(b.graph).executed) == sorted(n for pair in sinks for n in pair)


def test_cancel_mid_run_keeps_earlier_results_and_next_run_works(reg, settings):
    b = GraphBuilder(reg)
    c = b.add("Const", value=4)
    slow = b.add("Slow", steps=200)
    s = b.add("Sink")
    b.link(c, "INT", slow, "x")
    b.link(slow, "INT", s, "x")
    ex = Executor(Environment(settings, reg))
    seen = []

    def listener(event):
        seen.append(event)
        if isinstance(event, ev.NodeProgress) and event.value == 3:
            ex.cancel()

    report = ex.run(b.graph, listener=listener)
    assert report.status == "cancelled"
    assert CALLS["Slow.step"] == 3  # stopped at the next progress report
    assert report.records[c].status == "ran" and report.records[slow].status == "cancelled"
    assert isinstance(seen[-1], ev.RunFinished) and seen[-1].status == "cancelled"
    again = ex.run(b.graph)
    assert again.status == "ok"
    assert again.cached == [c] and sorted(again.executed) == [slow, s]


def test_cancel_from_another_thread(reg, settings):
    b = GraphBuilder(reg)
    slow = b.add("Slow", steps=1000)
    c = b.add("Const")
    s = b.add("Sink")
    b.link(c, "INT", slow, "x")
    b.link(slow, "INT", s, "x")
    ex = Executor(Environment(settings, reg))
    started = threading.Event()
    result = {}

    def worker():
        result["report"] = ex.run(b.graph, listener=lambda e: isinstance(e, ev.NodeProgress) and started.set())

    t = threading.Thread(target=worker)
    t.start()
    assert started.wait(5)
    ex.cancel()
    t.join(5)
    assert not t.is_alive()
    assert result["report"].status == "cancelled"
    assert CALLS["Slow.step"] < 1000


def test_failing_node_fails_the_run_clearly_and_engine_stays_usable(reg, settings):
    b = GraphBuilder(reg)
    c = b.add("Const", value=5)
    f = b.add("Fail", title="Breaker")
    s = b.add("Sink")
    b.link(c, "INT", f, "x")
    b.link(f, "INT", s, "x")
    c2 = b.add("Const", value=1)
    s2 = b.add("Sink")
    b.link(c2, "INT", s2, "x")
    ex = Executor(Environment(settings, reg))
    events = []
    report = ex.run(b.graph, listener=events.append)
    assert report.status == "error"
    failed = [e for e in events if isinstance(e, ev.NodeFailed)]
    assert len(failed) == 1 and failed[0].node_id == f
    assert failed[0].message == "the flag says fail" and failed[0].field == "flag"
    assert "Traceback" in failed[0].traceback
    assert failed[0].inputs == {"x": "5", "flag": "True"}
    assert report.records[s].status == "skipped"
    assert report.records[s2].status == "ran"  # an independent branch still produced its output
    err = report.errors[0]
    assert err["node_id"] == f and err["node_title"] == "Breaker" and err["field"] == "flag"
    b.graph.apply(ops.SetValue(f, "flag", False))
    fixed = ex.run(b.graph)
    assert fixed.status == "ok" and sorted(fixed.executed) == [f, s]


def test_outputs_with_valid_ancestry_still_run(reg, settings):
    b = GraphBuilder(reg)
    c = b.add("Const", value=5000)  # out of range
    s = b.add("Sink")
    b.link(c, "INT", s, "x")
    c2 = b.add("Const", value=1)
    s2 = b.add("Sink")
    b.link(c2, "INT", s2, "x")
    report = Executor(Environment(settings, reg)).run(b.graph)
    assert report.records[s].status == "skipped"
    assert report.executed == [c2, s2]
    assert report.problems[0].node_id == c and report.problems[0].field == "value"
    assert report.status == "error"


def test_cycle_is_rejected_before_anything_runs(reg, settings):
    b = GraphBuilder(reg)
    a1 = b.add("Add")
    a2 = b.add("Add")
    s = b.add("Sink")
    b.link(a1, "INT", a2, "a")
    b.link(a2, "INT", a1, "a")
    b.link(a2, "INT", s, "x")
    c = b.add("Const")
    s2 = b.add("Sink")
    b.link(c, "INT", s2, "x")
    report = Executor(Environment(settings, reg)).run(b.graph)
    assert report.status == "invalid" and report.executed == []
    assert sum(CALLS.values()) == 0
    assert any(p.kind == "cycle" for p in report.problems)


def test_run_to_here_runs_only_the_target_and_its_ancestors(reg, settings):
    graph, ids = chain(reg)
    ex = Executor(Environment(settings, reg))
    report = ex.run(graph, targets=[ids["a"]])
    assert report.executed == [ids["c"], ids["a"]]
    full = ex.run(graph)
    assert sorted(full.cached) == [ids["c"], ids["a"]]


def test_events_in_order_with_progress(reg, settings):
    b = GraphBuilder(reg)
    c = b.add("Const")
    slow = b.add("Slow", steps=3)
    s = b.add("Sink")
    b.link(c, "INT", slow, "x")
    b.link(slow, "INT", s, "x")
    events = []
    Executor(Environment(settings, reg)).run(b.graph, listener=events.append)
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert kinds.count("NodeProgress") == 3
    slow_events = [type(e).__name__ for e in events if getattr(e, "node_id", None) == slow]
    assert slow_events == ["NodeStarted", "NodeProgress", "NodeProgress", "NodeProgress", "NodeFinished"]


def test_bypassed_node_passes_its_input_and_muted_output_does_not_run(reg, settings):
    b = GraphBuilder(reg)
    c = b.add("Const", value=3)
    a = b.add("Add", b=100)
    s = b.add("Sink")
    b.link(c, "INT", a, "a")
    b.link(a, "INT", s, "x")
    c2 = b.add("Const")
    s2 = b.add("Sink")
    b.link(c2, "INT", s2, "x")
    b.graph.apply(ops.SetNodeField(a, "mode", "bypassed"))
    b.graph.apply(ops.SetNodeField(s2, "mode", "muted"))
    report = Executor(Environment(settings, reg)).run(b.graph)
    assert report.records[s].ui == {"text": "out=3"}
    assert report.records[a].status == "bypassed"
    assert s2 not in report.records and c2 not in report.records
    assert CALLS["Add"] == 0


def test_file_inputs_rerun_when_the_file_changes(reg, settings):
    f = settings.input_dir / "data.bin"
    f.write_bytes(b"abc")
    b = GraphBuilder(reg)
    r = b.add("ReadFile", name="data.bin")
    s = b.add("Sink")
    b.link(r, "INT", s, "x")
    ex = Executor(Environment(settings, reg))
    assert ex.run(b.graph).records[s].ui == {"text": "out=3"}
    assert ex.run(b.graph).executed == []
    f.write_bytes(b"abcdef")
    report = ex.run(b.graph)
    assert report.executed == [r, s]
    assert report.records[r].reason == "file of 'name' changed"
    assert report.records[s].ui == {"text": "out=6"}


def test_upstream_info_reaches_output_nodes_also_when_cached(reg, settings):
    from nodeflow.core.nodedef import INT, Input, Output, node

    @node("Recorder", category="test", inputs=[Input("x", INT, kind="socket")], outputs=[Output("INT", INT)])
    def recorder(ctx, x):
        ctx.record(x=x)
        return (x,)

    @node("InfoSink", category="test", output_node=True, inputs=[Input("x", INT, kind="socket"),
                                                                   Input("tag", INT, default=0)])
    def info_sink(ctx, x, tag):
        ctx.show(text=repr(sorted(i["x"] for i in ctx.upstream_info().values())))

    reg.add(recorder, "testpack")
    reg.add(info_sink, "testpack")
    b = GraphBuilder(reg)
    c = b.add("Const", value=2)
    r = b.add("Recorder")
    i = b.add("InfoSink")
    b.link(c, "INT", r, "x")
    b.link(r, "INT", i, "x")
    ex = Executor(Environment(settings, reg))
    assert ex.run(b.graph).records[i].ui == {"text": "[2]"}
    b.graph.apply(ops.SetValue(i, "tag", 1))  # only the sink re-runs; the recorder comes from the cache
    report = ex.run(b.graph)
    assert report.cached == [c, r] and report.records[i].ui == {"text": "[2]"}


def test_the_memory_of_last_runs_is_bounded(settings):
    """A server sees many graphs: what the executor keeps to explain re-runs must not grow without bound."""
    reg = make_registry()
    ex = Executor(Environment(settings, reg))
    ex.MAX_REMEMBERED = 5
    b = GraphBuilder(reg)
    consts = [b.add("Const", value=i) for i in range(4)]
    s = b.add("Sink")
    b.link(consts[0], "INT", s, "x")
    for key in ("first", "second", "third"):
        ex.run(b.graph, key=key)
    assert len(ex._last) == 5
    assert ("third", s) in ex._last and ("first", consts[0]) not in ex._last
