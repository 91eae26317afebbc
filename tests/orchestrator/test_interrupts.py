"""Interrupts as a first-class state: `ctx.interrupt`, tools that need approval, in-doubt effects a person settles,
the `tracehouse runs interrupts|answer` commands, and a pause that is never an error (issue 14, piece 4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from opentelemetry.trace import StatusCode
from pydantic import BaseModel

from tests.orchestrator.fake_openai import FakeOpenAI, Reply
from tracehouse.domain.model import Status
from tracehouse.evals.detect import detect_loops
from tracehouse.orchestrator import (
    Agent,
    FakeProvider,
    HumanInputRequired,
    OpenAICompatibleProvider,
    Orchestrator,
    SQLiteStateStore,
    tool,
)
from tracehouse.orchestrator.cli import runs_group
from tracehouse.sdk import semconv as sc


class Address(BaseModel):
    street: str
    city: str


def _cli(*args: str) -> Any:
    return CliRunner().invoke(runs_group, list(args))


def test_ctx_interrupt_pauses_without_errors_and_resumes_with_a_validated_answer(tmp_path: Path, spans: Any) -> None:
    shipped: list[dict[str, Any]] = []

    def ship(item: str, to: dict[str, Any]) -> str:
        shipped.append(to)
        return "shipped"

    def clerk(ctx: Any) -> dict[str, Any]:
        item = ctx.llm("Which item did the customer order?").text
        where = ctx.interrupt(f"Where should the {item} go?", Address)
        ctx.tool("ship", ship, {"item": item, "to": where.model_dump()})
        return {"shipped_to": where.city}

    db = tmp_path / "runs.db"
    with FakeOpenAI(["teapot"]) as llm:

        def orch() -> Orchestrator:
            return Orchestrator(
                "t.ask",
                Agent("clerk", clerk, writes=["shipped_to"], model="gpt-4o-mini"),
                provider=OpenAICompatibleProvider(llm.url),
                store=SQLiteStateStore(db),
            )

        paused = orch().run({})
        assert paused.status == "interrupted" and isinstance(paused.error, HumanInputRequired)
        assert all(s.status.status_code != StatusCode.ERROR for s in spans.all())
        agent = spans.by_op("invoke_agent")[0]
        assert any(e.name == sc.EVENT_INTERRUPTED for e in agent.events)
        assert (spans.by_op("invoke_workflow")[0].attributes or {})[sc.RUN_STATUS] == "interrupted"

        listed = _cli("interrupts", "--db", str(db))
        assert listed.exit_code == 0 and "question" in listed.output and "Where should the teapot go?" in listed.output
        [pending] = json.loads(_cli("interrupts", "--db", str(db), "--json").output)["interrupts"]
        assert pending["payload"]["schema"]["required"] == ["street", "city"]

        bad = _cli("answer", "--db", str(db), paused.trace_id, pending["interrupt_id"][:8], '{"street": "1 Quay"}')
        assert bad.exit_code == 0, bad.output
        again = orch().resume(paused.trace_id)
        assert again.status == "interrupted" and shipped == []
        [reasked] = orch().pending_interrupts(paused.trace_id)
        assert reasked.payload["invalid_answer"] == {"street": "1 Quay"} and "city" in reasked.payload["error"]

        good = _cli(
            "answer",
            "--db",
            str(db),
            paused.trace_id,
            pending["interrupt_id"][:8],
            '{"street": "1 Quay", "city": "Brest"}',
        )
        assert good.exit_code == 0, good.output
        done = orch().resume(paused.trace_id)
    assert done.ok, done.error
    assert done.state["shipped_to"] == "Brest" and shipped == [{"street": "1 Quay", "city": "Brest"}]
    assert len(llm.requests) == 1  # the model call before the pause was not repeated
    assert _cli("interrupts", "--db", str(db)).output.strip() == "no pending interrupts"
    steps = spans.steps(paused.trace_id)  # paused twice, resumed twice: as the collector stores it
    assert steps and detect_loops(steps) == []
    assert not [st for st in steps if st.status == Status.ERROR]


def test_answer_errors_are_one_line(tmp_path: Path) -> None:
    missing = _cli("answer", "--db", str(tmp_path / "none.db"), "t", "i", "yes")
    assert missing.exit_code != 0 and "no state store at" in missing.output
    SQLiteStateStore(tmp_path / "runs.db").close()
    unknown = _cli("answer", "--db", str(tmp_path / "runs.db"), "abc", "def", "yes")
    assert unknown.exit_code != 0 and "has no pending interrupt 'def'" in unknown.output
    assert "Traceback" not in unknown.output


def _refund_desk(refunds: list[float]) -> Agent:
    @tool(side_effect=True, needs_approval=True)
    def refund(order_id: int, amount: float, effect_key: str) -> str:
        """Refund an order."""
        refunds.append(amount)
        return f"refunded {amount}"

    return Agent(
        "desk",
        lambda ctx: {"answer": ctx.chat("refund order 9", tools=[refund])},
        writes=["answer"],
        model="gpt-4o-mini",
    )


def _approval_run(tmp_path: Path, answer: str) -> tuple[Any, list[float], FakeOpenAI]:
    refunds: list[float] = []
    db = tmp_path / f"{answer[:5]}.db"
    script = [
        Reply(tool_calls=[("refund", {"order_id": 9, "amount": 30.0})]),
        Reply("Done: the refund was handled as decided."),
    ]
    with FakeOpenAI(script) as llm:

        def orch() -> Orchestrator:
            return Orchestrator(
                "t.approve",
                _refund_desk(refunds),
                provider=OpenAICompatibleProvider(llm.url),
                store=SQLiteStateStore(db),
            )

        paused = orch().run({}, trace_id=f"ticket-{answer[:5]}")
        assert paused.status == "interrupted" and refunds == []
        listed = _cli("interrupts", "--db", str(db))
        assert "approval" in listed.output and 'refund({"amount": 30.0, "order_id": 9})' in listed.output
        [pending] = orch().pending_interrupts(paused.trace_id)
        key = f"ticket-{answer[:5]}"  # the caller's key works wherever the run id does
        assert _cli("answer", "--db", str(db), key, pending.interrupt_id, answer).exit_code == 0
        return orch().resume(paused.trace_id), refunds, llm


def test_a_tool_that_needs_approval_runs_only_once_approved(tmp_path: Path) -> None:
    result, refunds, llm = _approval_run(tmp_path, "approve")
    assert result.ok, result.error
    assert refunds == [30.0]
    assert len(llm.requests) == 2  # the first model call was journalled, not repeated


def test_a_declined_tool_call_is_reported_to_the_model(tmp_path: Path) -> None:
    result, refunds, llm = _approval_run(tmp_path, '{"approved": false, "reason": "over the refund limit"}')
    assert result.ok, result.error
    assert refunds == []
    tool_msg = next(m for m in llm.requests[-1]["messages"] if m["role"] == "tool")
    assert "declined" in tool_msg["content"] and "over the refund limit" in tool_msg["content"]


def _capture_content(monkeypatch: Any) -> None:
    """The SDK's runtime for the test's provider, with content capture on (the default policy keeps it off)."""
    from opentelemetry import trace as otel_trace

    from tracehouse.sdk._content import BUILTIN_REDACTORS, make_policy
    from tracehouse.sdk._state import HOLDER, TRACER_NAME, Runtime

    tracer = otel_trace.get_tracer_provider().get_tracer(TRACER_NAME)
    monkeypatch.setattr(HOLDER, "runtime", Runtime(tracer, make_policy(True, 2000, BUILTIN_REDACTORS)))


def _asking(db: Path) -> Orchestrator:
    def clerk(ctx: Any) -> dict[str, Any]:
        where = ctx.interrupt("Where should parcel 7 go? Mail ops@example.com if unsure.", Address)
        return {"city": where.city}

    return Orchestrator(
        "t.visible", Agent("clerk", clerk, writes=["city"]), provider=FakeProvider(), store=SQLiteStateStore(db)
    )


def _interrupt_attrs(steps: Any) -> list[dict[str, str]]:
    return [st.attributes for st in steps if st.attributes.get(sc.INTERRUPT_STATUS)]


def test_a_pending_interrupt_is_readable_from_the_trace(tmp_path: Path, spans: Any) -> None:
    """A dashboard cannot read the orchestrator's SQLite state, so the paused step's span says what the interrupt
    is: id, kind, status and the schema an answer must fit; the question is content, so only with capture on."""
    paused = _asking(tmp_path / "off.db").run({})
    [pending] = _interrupt_attrs(spans.steps(paused.trace_id))  # as the collector stores it (attributes map)
    [stored] = _asking(tmp_path / "off.db").pending_interrupts(paused.trace_id)
    assert pending[sc.INTERRUPT_ID] == stored.interrupt_id and pending[sc.INTERRUPT_KIND] == "question"
    assert pending[sc.INTERRUPT_STATUS] == "pending"
    assert json.loads(pending[sc.INTERRUPT_SCHEMA])["required"] == ["street", "city"]
    assert sc.INTERRUPT_QUESTION not in pending  # content capture is off by default


def test_with_content_capture_the_question_is_on_the_span_redacted_and_the_answer_marks_it(
    tmp_path: Path, spans: Any, monkeypatch: Any
) -> None:
    _capture_content(monkeypatch)
    db = tmp_path / "on.db"
    paused = _asking(db).run({})
    [pending] = _interrupt_attrs(spans.steps(paused.trace_id))
    question = pending[sc.INTERRUPT_QUESTION]
    assert question.startswith("Where should parcel 7 go?") and "ops@example.com" not in question  # redacted

    [stored] = _asking(db).pending_interrupts(paused.trace_id)
    _asking(db).answer(paused.trace_id, stored.interrupt_id, {"street": "1 Quay", "city": "Brest"})
    done = _asking(db).resume(paused.trace_id)
    assert done.ok and done.state["city"] == "Brest"
    statuses = [(a[sc.INTERRUPT_ID], a[sc.INTERRUPT_STATUS]) for a in _interrupt_attrs(spans.steps(done.trace_id))]
    assert sorted(statuses) == [(stored.interrupt_id, "answered"), (stored.interrupt_id, "pending")]
