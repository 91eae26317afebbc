"""A parallel supervisor against a real OpenAI-compatible endpoint, with validation as its own span (piece 6)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.orchestrator.fake_openai import FakeOpenAI
from tracehouse.evals.detect import detect_loops
from tracehouse.orchestrator import (
    Agent,
    Key,
    OpenAICompatibleProvider,
    Orchestrator,
    Result,
    SQLiteStateStore,
    StateSchema,
    Supervisor,
    Task,
)
from tracehouse.sdk import semconv as sc

REGIONS = ("eu", "us", "apac")


def _answer(body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    return f"{prompt.split()[-1]} demand up" + (" (draft)" if "draft" in prompt else "")


def _lead(parallel: bool, drafts: set[str] | None = None) -> Supervisor:
    def analyst(ctx: Any) -> dict[str, Any]:
        region = ctx.input["region"]
        mode = "draft " if drafts is not None and region in drafts else ""
        if drafts is not None:
            drafts.discard(region)  # the second try is a final version
        return {"notes": {region: ctx.llm(f"{mode}copper in {region}").text}}

    def validate(task: Task, out: Any) -> tuple[bool, str]:
        text = out["notes"][task.payload["region"]] if isinstance(out, dict) and "notes" in out else ""
        return ("draft" not in text, "a draft is not a result" if "draft" in text else "complete")

    return Supervisor(
        "lead",
        lambda ctx: [Task("analyst", {"region": r}) for r in REGIONS],
        [Agent("analyst", analyst, writes=["notes"], model="gpt-4o-mini")],
        validate=validate,
        synthesize=lambda ctx, results: Result(writes={"report": len(results)}, output=len(results)),
        writes=["report"],
        parallel=parallel,
    )


def _orch(llm: FakeOpenAI, lead: Supervisor, db: Path | None = None) -> Orchestrator:
    return Orchestrator(
        "t.supervisor",
        lead,
        provider=OpenAICompatibleProvider(llm.url),
        schema=StateSchema({"notes": Key("merge_dict")}),
        store=SQLiteStateStore(db) if db else None,
    )


def test_a_parallel_supervisor_delegates_at_once() -> None:
    with FakeOpenAI(_answer, latency_s=0.3) as llm:
        started = time.perf_counter()
        parallel = _orch(llm, _lead(parallel=True)).run({})
        parallel_s = time.perf_counter() - started
        started = time.perf_counter()
        serial = _orch(llm, _lead(parallel=False)).run({})
        serial_s = time.perf_counter() - started
    assert parallel.ok and serial.ok, (parallel.error, serial.error)
    assert parallel.state == serial.state
    assert parallel.state["notes"] == {r: f"{r} demand up" for r in REGIONS}
    assert serial_s >= 0.9 and parallel_s < 0.7 * serial_s  # three 0.3 s delegations at once, not one after another


def test_a_rejection_is_a_validation_span_with_a_reason_and_a_retried_hand_off(tmp_path: Path, spans: Any) -> None:
    with FakeOpenAI(_answer) as llm:
        result = _orch(llm, _lead(parallel=True, drafts={"us"}), tmp_path / "runs.db").run({})
    assert result.ok, result.error
    assert result.state["notes"] == {r: f"{r} demand up" for r in REGIONS}  # the rejected draft never committed
    assert result.state["report"] == 3

    checks = spans.named("execute_tool validate_result")
    verdicts = sorted(
        ((s.attributes or {})[sc.VALIDATION_VERDICT], (s.attributes or {})[sc.VALIDATION_REASON]) for s in checks
    )
    assert verdicts == [("accepted", "complete")] * 3 + [("rejected", "a draft is not a result")]
    rejected = next(s for s in checks if (s.attributes or {})[sc.VALIDATION_VERDICT] == "rejected")
    assert [e.name for e in rejected.events] == [sc.EVENT_REDELEGATED]
    handoffs = spans.named("execute_tool transfer_to_analyst")
    assert sorted((s.attributes or {}).get(sc.RETRY_ATTEMPT, 1) for s in handoffs) == [1, 1, 1, 2]
    assert not [s for s in spans.all() if (s.attributes or {}).get(sc.LOOP_DETECTED)]

    with FakeOpenAI(["must not be asked"]) as again:
        replay = _orch(again, _lead(parallel=True, drafts={"us"}), tmp_path / "runs.db").run(trace_id=result.trace_id)
    assert replay.ok and replay.state == result.state and again.requests == []


def test_the_loop_detector_finds_no_loop_in_a_supervisor_with_a_rejection(spans: Any) -> None:
    with FakeOpenAI(_answer) as llm:
        result = _orch(llm, _lead(parallel=True, drafts={"us"})).run({})
    assert result.ok, result.error
    found = detect_loops(spans.steps(result.trace_id))
    assert found == [], [f.explanation for f in found]
