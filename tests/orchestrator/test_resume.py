"""Crash, resume, fork and fingerprint scenarios (design §4: 1, 2, 3, 4, 5, 6, 14) on a real SQLite file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from tests.orchestrator.chain_workflow import Service, build, calls
from tracehouse.orchestrator import (
    Agent,
    EffectInDoubt,
    FakeProvider,
    FanOut,
    GraphFingerprintMismatch,
    Key,
    Limits,
    Orchestrator,
    Sequential,
    StateMachine,
    StateSchema,
    StepCapExceeded,
)
from tracehouse.orchestrator.runtime import run_id
from tracehouse.orchestrator.state import SQLiteStateStore
from tracehouse.sdk import semconv as sc

HERE = Path(__file__).parent


def _child(tmp: Path, crash: str, idempotent: bool = True, spans_file: str = "", key: str = "") -> int:
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "chain_workflow.py"),
            str(tmp / "runs.db"),
            str(tmp / "calls.log"),
            str(tmp / "service.json"),
            crash,
            "1" if idempotent else "0",
            spans_file,
            key,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode


def _only_run(db: Path) -> str:
    store = SQLiteStateStore(db)
    row = store._conn.execute("SELECT trace_id FROM runs").fetchall()
    store.close()
    assert len(row) == 1
    return str(row[0][0])


def test_crash_resume_parity_after_sigkill(tmp_path: Path, spans: Any) -> None:
    assert _child(tmp_path, "before_s4") == -signal.SIGKILL
    trace_id = _only_run(tmp_path / "runs.db")
    before = calls(tmp_path / "calls.log")
    assert before == {"s1": 1, "s2": 1, "s3": 1}

    resumed = build(tmp_path / "runs.db", tmp_path / "calls.log", tmp_path / "service.json").run(trace_id=trace_id)
    after = calls(tmp_path / "calls.log")
    assert resumed.ok
    assert {k: after[k] - before.get(k, 0) for k in after} == {"s1": 0, "s2": 0, "s3": 0, "s4": 1, "s5": 1}

    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    clean = build(clean_dir / "runs.db", clean_dir / "calls.log", clean_dir / "service.json").run({"topic": "tides"})
    assert resumed.state == clean.state
    assert resumed.output == clean.output
    assert Service(tmp_path / "service.json").state()["calls"].__len__() == 1

    mine = [s for s in spans.all() if format(s.context.trace_id, "032x") == trace_id]
    workflow = [s for s in mine if s.name.startswith("invoke_workflow") and _status(s) != "crashed"]
    assert len(workflow) == 1
    assert format(workflow[0].context.trace_id, "032x") == trace_id
    assert workflow[0].parent is not None  # under the original run's root span
    assert workflow[0].links and format(workflow[0].links[0].context.trace_id, "032x") == trace_id
    assert (workflow[0].attributes or {}).get(sc.RESUMED_FROM)
    assert sorted(s.name for s in mine if s.name.startswith("invoke_agent")) == ["invoke_agent s4", "invoke_agent s5"]


@pytest.mark.parametrize("idempotent", [True, False])
def test_crash_inside_side_effect(tmp_path: Path, spans: Any, idempotent: bool) -> None:
    assert _child(tmp_path, "inside_effect", idempotent) == -signal.SIGKILL
    trace_id = _only_run(tmp_path / "runs.db")
    orch = build(tmp_path / "runs.db", tmp_path / "calls.log", tmp_path / "service.json", idempotent=idempotent)
    result = orch.resume(trace_id)
    service = Service(tmp_path / "service.json").state()
    assert len(service["applied"]) == 1
    if idempotent:
        assert result.ok
        assert len(service["calls"]) == 2 and len(set(service["calls"])) == 1  # re-called with the same key
    else:
        assert isinstance(result.error, EffectInDoubt)
        assert len(service["calls"]) == 1  # never re-run
        assert [i.kind for i in orch.pending_interrupts(trace_id)] == ["effect_in_doubt"]
        events = [e.name for s in spans.named("execute_tool charge_card") for e in s.events]
        assert sc.EVENT_ESCALATION in events
        assert calls(tmp_path / "calls.log").get("s4", 0) == 0


class Crash(BaseException):
    """Stands for the process dying at an injected point (BaseException: nothing in the run catches it)."""


class CrashingStore(SQLiteStateStore):
    def __init__(self, path: Path, point: str, on_step: str) -> None:
        super().__init__(path)
        self.point = point
        self.on_step = on_step

    def _fire(self, point: str, name: str) -> None:
        if self.point == point and name == self.on_step:
            self.point = ""
            raise Crash(point)

    def record_intent(self, trace_id: str, effect_key: str, step_key: str) -> None:
        self._fire("before_intent", "charge_card")
        super().record_intent(trace_id, effect_key, step_key)
        self._fire("after_intent", "charge_card")

    def record_effect_result(self, effect_key: str, result: Any) -> None:
        self._fire("before_result", "charge_card")
        super().record_effect_result(effect_key, result)
        self._fire("after_result", "charge_card")

    def _insert_step(self, r: Any) -> None:
        super()._insert_step(r)
        self._fire("between_journal_and_checkpoint", r.name)

    def commit_step(self, record: Any, checkpoint: Any) -> None:
        super().commit_step(record, checkpoint)
        self._fire("after_commit", record.name)


CRASH_POINTS = [
    ("before_intent", "charge_card"),
    ("after_intent", "charge_card"),
    ("before_result", "charge_card"),
    ("after_result", "charge_card"),
    ("between_journal_and_checkpoint", "charge_card"),
    ("after_commit", "charge_card"),
    ("between_journal_and_checkpoint", "s3"),
    ("after_commit", "s3"),
]


@pytest.mark.parametrize(("point", "on_step"), CRASH_POINTS)
def test_crash_between_persistence_operations(tmp_path: Path, point: str, on_step: str) -> None:
    db, log, svc = tmp_path / "runs.db", tmp_path / "calls.log", tmp_path / "service.json"
    orch = build(db, log, svc)
    orch.store = orch.config.store  # the orchestrator's own store is replaced below
    crashing = CrashingStore(db, point, on_step)
    object.__setattr__(orch.config, "store", crashing)
    orch.store = crashing
    with pytest.raises(Crash):
        orch.run({"topic": "tides"})
    trace_id = _only_run(db)
    result = build(db, log, svc).resume(trace_id)
    assert result.ok, result.error
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    clean = build(clean_dir / "runs.db", clean_dir / "calls.log", clean_dir / "service.json").run({"topic": "tides"})
    assert result.state == clean.state  # no lost write
    assert len(Service(svc).state()["applied"]) == 1  # no duplicated effect
    journal = SQLiteStateStore(db)._branch_rows(trace_id, "main", None)
    names = [r.name for r in journal if r.kind == "agent"]
    assert names == ["s1", "s2", "s3", "s4", "s5"]  # no duplicated step


def _fanout(provider: FakeProvider, fail_branch: dict[str, bool]) -> Orchestrator:
    def branch(i: int) -> Agent:
        def run(ctx: Any) -> dict[str, Any]:
            if fail_branch.get(f"b{i}"):
                fail_branch[f"b{i}"] = False
                raise ValueError(f"branch {i} broke")
            text = ctx.llm(f"branch {i} on {ctx.input['q']}").text
            return {"parts": f"{i}:{text}"}

        return Agent(f"b{i}", run, writes=["parts"])

    def reduce(ctx: Any) -> dict[str, Any]:
        return {"summary": "|".join(ctx.state["parts"])}

    flow = FanOut(
        "fan", [branch(i) for i in range(1, 5)], aggregate=Agent("reduce", reduce, reads=["parts"], writes=["summary"])
    )
    return Orchestrator(
        "test.fan", flow, provider=provider, schema=StateSchema({"parts": Key("append")}), store=SQLiteStateStore()
    )


def test_parallel_partial_failure_resumes_only_failed_branch() -> None:
    provider = FakeProvider(default=lambda req: f"answer from {req.agent}")
    flaky = {"b3": True}
    orch = _fanout(provider, flaky)
    first = orch.run({"q": "x"})
    assert isinstance(first.error, ValueError)
    before = {a: provider.calls_for(a) for a in ("b1", "b2", "b3", "b4")}
    resumed = orch.resume(first.trace_id)
    assert resumed.ok
    new = {a: provider.calls_for(a) - before[a] for a in before}
    assert new == {"b1": 0, "b2": 0, "b3": 1, "b4": 0}
    clean = _fanout(FakeProvider(default=lambda req: f"answer from {req.agent}"), {}).run({"q": "x"})
    assert resumed.state == clean.state
    assert resumed.state["parts"][0].startswith("1:")  # append reducer keeps branch order


def test_fingerprint_mismatch_refuses_and_runs_nothing(tmp_path: Path) -> None:
    db, log, svc = tmp_path / "runs.db", tmp_path / "calls.log", tmp_path / "service.json"
    assert _child(tmp_path, "before_s4") == -signal.SIGKILL
    trace_id = _only_run(db)
    before = calls(log)
    with pytest.raises(GraphFingerprintMismatch):
        build(db, log, svc, version="2").resume(trace_id)
    changed_edges = build(db, log, svc)
    changed_edges.graph = changed_edges.graph.__class__(**{**changed_edges.graph.__dict__, "fingerprint": "x" * 64})
    with pytest.raises(GraphFingerprintMismatch):
        changed_edges.resume(trace_id)
    other = Orchestrator(
        "test.chain",
        Sequential("chain", [Agent("s1", lambda ctx: None)]),
        store=SQLiteStateStore(db),
        provider=FakeProvider(),
    )
    with pytest.raises(GraphFingerprintMismatch):
        other.run(trace_id=trace_id)
    assert calls(log) == before


def test_resume_continues_and_fork_branches_without_touching_history(tmp_path: Path) -> None:
    db, log, svc = tmp_path / "runs.db", tmp_path / "calls.log", tmp_path / "service.json"
    orch = build(db, log, svc)
    done = orch.run({"topic": "tides"})
    assert done.ok
    again = orch.resume(done.trace_id)
    assert again.state == done.state
    assert sum(calls(log).values()) == 5  # resuming a finished run re-executes nothing

    main_before = json.dumps([c.__dict__ for c in orch.history(done.trace_id)], sort_keys=True)
    cp2 = next(c for c in orch.history(done.trace_id) if c.meta.get("kind") == "agent" and c.meta["name"] == "s2")
    branch = orch.fork(done.trace_id, cp2.checkpoint_id, edits={"s2": "edited"}, branch="what-if")
    forked = orch.resume(done.trace_id, branch=branch)
    assert forked.ok
    assert forked.state["s2"] == "edited" and forked.state["s1"] == done.state["s1"]
    assert forked.state["s3"] != done.state["s3"]
    counts = calls(log)
    assert (counts["s1"], counts["s2"], counts["s3"], counts["s4"], counts["s5"]) == (1, 1, 2, 2, 2)
    assert json.dumps([c.__dict__ for c in orch.history(done.trace_id)], sort_keys=True) == main_before


def test_step_cap_stops_cycle_and_is_resumable_with_a_raised_cap() -> None:
    provider = FakeProvider(default="tick")

    def ping(ctx: Any) -> dict[str, Any]:
        ctx.llm(f"ping {ctx.state.get('n', 0)}")
        return {"n": ctx.state.get("n", 0) + 1}

    def pong(ctx: Any) -> dict[str, Any]:
        return {"n": ctx.state["n"] + 1}

    def choose(state: Any, current: str, out: Any) -> str | None:
        if state["n"] >= 30:
            return None
        return "pong" if current == "ping" else "ping"

    machine = StateMachine(
        "cycle",
        {
            "ping": Agent("ping", ping, reads=["n"], writes=["n"]),
            "pong": Agent("pong", pong, reads=["n"], writes=["n"]),
        },
        {"ping": ["pong", None], "pong": ["ping", None]},
        choose,
        start="ping",
    )
    orch = Orchestrator("test.cap", machine, provider=provider, limits=Limits(max_steps=10), store=SQLiteStateStore())
    capped = orch.run({"n": 0})
    assert isinstance(capped.error, StepCapExceeded) and capped.error.limit == 10
    assert capped.state["n"] == 10
    assert orch.history(capped.trace_id)[-1].state["n"] == 10  # last checkpoint persisted
    calls_before = len(provider.calls)
    finished = orch.resume(capped.trace_id, limits=Limits(max_steps=100))
    assert finished.ok and finished.state["n"] == 30
    assert len(provider.calls) - calls_before == 10  # only the 20 new steps ran (10 of them ping)


@pytest.mark.parametrize("answer", ["happened", "rerun"])
def test_a_person_settles_an_in_doubt_effect(tmp_path: Path, spans: Any, answer: str) -> None:
    assert _child(tmp_path, "inside_effect", idempotent=False) == -signal.SIGKILL
    trace_id = _only_run(tmp_path / "runs.db")
    orch = build(tmp_path / "runs.db", tmp_path / "calls.log", tmp_path / "service.json", idempotent=False)
    paused = orch.resume(trace_id)
    assert paused.status == "interrupted" and isinstance(paused.error, EffectInDoubt)
    errors = [s for s in spans.all() if s.status.status_code == StatusCode.ERROR]
    assert [_status(s) for s in errors] == ["crashed"]  # the killed segment's root; the pause is not a failure
    [pending] = orch.pending_interrupts(trace_id)
    [doubt] = [s for s in spans.all() if (s.attributes or {}).get(sc.INTERRUPT_STATUS) == "pending"]
    assert (doubt.attributes or {})[sc.INTERRUPT_KIND] == "effect_in_doubt"  # visible from the trace too
    assert (doubt.attributes or {})[
        sc.INTERRUPT_ID
    ] == pending.interrupt_id and doubt.name == "execute_tool charge_card"
    verdict: Any = {"happened": True, "result": {"charged": 42, "key": "from the bank statement"}}
    orch.answer(trace_id, pending.interrupt_id[:10], verdict if answer == "happened" else "rerun")

    done = orch.resume(trace_id)
    assert done.ok, done.error
    service = Service(tmp_path / "service.json").state()
    if answer == "happened":
        assert len(service["calls"]) == 1  # not run again: the person said it happened
        assert "charged 42" in done.state["s3"]
    else:
        assert len(service["calls"]) == 2  # the person said to run it again
    assert orch.pending_interrupts(trace_id) == []


def test_sigkill_leaves_one_trace_with_the_crashed_steps_and_the_resume(tmp_path: Path, spans: Any) -> None:
    spans_file = tmp_path / "exported.jsonl"
    assert _child(tmp_path, "before_s4", spans_file=str(spans_file), key="order-42") == -signal.SIGKILL
    trace_id = run_id("order-42")
    assert _only_run(tmp_path / "runs.db") == trace_id  # the run's id is the OpenTelemetry trace id
    exported = [json.loads(line) for line in spans_file.read_text().splitlines()]
    names = [s["name"] for s in exported]
    assert {"invoke_agent s1", "invoke_agent s2", "invoke_agent s3"} <= set(names)  # flushed before the kill
    assert "invoke_agent s4" not in names and all(s["trace_id"] == trace_id for s in exported)
    store = SQLiteStateStore(tmp_path / "runs.db")
    record = store.get_run(trace_id)
    store.close()
    assert record is not None and record.root_span_id
    assert {s["parent"] for s in exported if s["name"].startswith("invoke_agent")} == {record.root_span_id}

    resumed = build(tmp_path / "runs.db", tmp_path / "calls.log", tmp_path / "service.json").run(trace_id="order-42")
    assert resumed.ok and resumed.trace_id == trace_id
    mine = [s for s in spans.all() if format(s.context.trace_id, "032x") == trace_id]
    [restored] = [s for s in mine if _status(s) == "crashed"]  # the killed segment's root, with its own id
    assert format(restored.context.span_id, "016x") == record.root_span_id and restored.parent is None
    assert restored.status.status_code == StatusCode.ERROR
    [workflow] = [s for s in mine if s.name.startswith("invoke_workflow") and s is not restored]
    assert workflow.parent is not None and format(workflow.parent.span_id, "016x") == record.root_span_id
    assert [format(link.context.span_id, "016x") for link in workflow.links] == [record.root_span_id]
    resumed_agents = [s for s in mine if s.name.startswith("invoke_agent")]
    assert sorted(s.name for s in resumed_agents) == ["invoke_agent s4", "invoke_agent s5"]
    assert all(s.parent is not None and s.parent.span_id == workflow.context.span_id for s in resumed_agents)
    ids = {s["span_id"] for s in exported} | {format(s.context.span_id, "016x") for s in mine}
    parents = {s["parent"] for s in exported} | {format(s.parent.span_id, "016x") for s in mine if s.parent}
    assert parents <= ids  # one tree: the crashed steps, their restored root and the resume, nothing orphaned


def _status(span: Any) -> Any:
    return (span.attributes or {}).get(sc.RUN_STATUS)


class StuckExporter(SpanExporter):
    """A collector that does not answer until released."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(30)
        return SpanExportResult.SUCCESS


def test_an_unreachable_collector_does_not_stall_every_step(tmp_path: Path) -> None:
    exporter = StuckExporter()
    processor = BatchSpanProcessor(exporter, schedule_delay_millis=60_000)
    otel_trace.get_tracer_provider().add_span_processor(processor)  # type: ignore[attr-defined]
    try:
        flow = Sequential(
            "chain", [Agent(f"s{i}", lambda ctx, i=i: {f"s{i}": i}, writes=[f"s{i}"]) for i in range(1, 9)]
        )
        started = time.perf_counter()
        result = Orchestrator("t.stuck", flow, provider=FakeProvider()).run({})
        elapsed = time.perf_counter() - started
    finally:
        exporter.release.set()
        processor.shutdown()
    assert result.ok, result.error
    assert elapsed < 2.0  # one bounded wait (0.5 s), then no more flushing; not 0.5 s for each of 8 steps
