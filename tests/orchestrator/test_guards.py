"""Loop guards, dedup, arbitration, hand-off contracts, state conflicts, summarisation (design §4: 13, 15-19)."""

from __future__ import annotations

from typing import Any

import pytest

from tracehouse.orchestrator import (
    Agent,
    Arbiter,
    Candidate,
    ContextOverflow,
    ContextPolicy,
    ContractViolation,
    DeterministicPriority,
    EscalateHuman,
    FakeProvider,
    FanOut,
    Handoff,
    HandoffContract,
    HandoffHopsExceeded,
    HighestConfidence,
    HumanInputRequired,
    Key,
    Limits,
    LoopDetected,
    LoopPolicy,
    MajorityVote,
    Orchestrator,
    Result,
    Scripted,
    Sequential,
    StateConflict,
    StateSchema,
    Swarm,
)
from tracehouse.orchestrator.state import SQLiteStateStore
from tracehouse.orchestrator.summarise import estimate_tokens
from tracehouse.sdk import semconv as sc

# --- 13. loop detection --------------------------------------------------------------------------------------------


def test_repeated_action_and_observation_is_stopped_on_the_fourth(spans: Any) -> None:
    calls: list[int] = []

    def search(q: str) -> str:
        calls.append(1)
        return "same result"

    def stuck(ctx: Any) -> dict[str, Any]:
        for _ in range(10):
            ctx.tool("search", search, {"q": "weather in Paris"})
        return {}

    result = Orchestrator("test.loop", Agent("stuck", stuck), provider=FakeProvider()).run({})
    assert isinstance(result.error, LoopDetected) and result.error.pattern == "action_observation"
    assert len(calls) == 4
    flagged = [s for s in spans.named("execute_tool search") if (s.attributes or {}).get(sc.LOOP_DETECTED)]
    assert len(flagged) == 1 and (flagged[0].attributes or {})[sc.LOOP_PATTERN] == "action_observation"


def test_handoff_ping_pong_stops_at_max_handoff_hops(spans: Any) -> None:
    provider = FakeProvider(default="not mine")
    a = Agent("a", lambda ctx: Handoff("b", {"t": 1}) if ctx.llm("a?") else None, handoffs=["b"])
    b = Agent("b", lambda ctx: Handoff("a", {"t": 1}) if ctx.llm("b?") else None, handoffs=["a"])
    orch = Orchestrator(
        "test.pingpong",
        Swarm("pair", [a, b], start="a"),
        provider=provider,
        limits=Limits(max_handoff_hops=4),
        loop_policy=LoopPolicy(handoff_cycle_repeats=100, ping_pong_pairs=100),
    )
    result = orch.run({})
    assert isinstance(result.error, HandoffHopsExceeded)
    assert len(provider.calls) == 5  # a, b, a, b, a — the fifth hand-off is refused
    stopped = [s for s in spans.named("execute_tool transfer_to_") if (s.attributes or {}).get(sc.LOOP_DETECTED)]
    assert len(stopped) == 1
    agents = {s.context.span_id: s for s in spans.by_op("invoke_agent")}
    for t in spans.named("execute_tool transfer_to_"):
        assert t.parent is not None and t.parent.span_id in agents  # the hand-off nests under its source


def test_legitimate_fifteen_distinct_steps_are_not_flagged() -> None:
    def worker(ctx: Any) -> dict[str, Any]:
        done = [ctx.tool("fetch", lambda page: f"page {page} text", {"page": i}) for i in range(15)]
        return {"pages": done}

    orch = Orchestrator(
        "test.legit",
        Agent("worker", worker, writes=["pages"]),
        provider=FakeProvider(),
        loop_policy=LoopPolicy(no_progress_steps=5),
    )
    result = orch.run({})
    assert result.ok and len(result.state["pages"]) == 15


# --- 15. dedup ------------------------------------------------------------------------------------------------------


def test_dedup_by_content_hash(spans: Any) -> None:
    provider = FakeProvider({"translate": [Scripted("bonjour le monde", latency_s=0.05)]})
    translate = Agent(
        "translate",
        lambda ctx: Result({"out": ctx.llm(f"translate {ctx.input['text']}").text}, ctx.input["text"]),
        writes=["out"],
        dedup=True,
        volatile=["request_id"],
    )
    items = [
        {"text": "hello   world", "lang": "fr", "request_id": "r1"},
        {"lang": "fr", "request_id": "r2", "text": "hello world"},
        {"text": "hello   world", "request_id": "r3", "lang": "fr"},
    ]
    concurrent = FanOut("batch", each=translate, over=lambda state, inp: items)
    orch = Orchestrator("test.dedup", concurrent, provider=provider, schema=StateSchema({"out": Key("append")}))
    result = orch.run({})
    assert result.ok, result.error
    assert provider.calls_for("translate") == 1  # three submissions, one call
    agent_spans = spans.by_op("invoke_agent")
    hits = [s for s in agent_spans if (s.attributes or {}).get(sc.DEDUP_HIT)]
    assert len(hits) == 2 and all(s.links for s in hits)
    assert len(result.state["out"]) == 3
    assert result.usage.model_calls == 1

    changed = [*items[:1], {"text": "goodbye world", "lang": "fr", "request_id": "r4"}]
    orch2 = Orchestrator(
        "test.dedup2",
        FanOut("batch", each=translate, over=lambda state, inp: changed, max_concurrency=1),
        provider=provider,
        schema=StateSchema({"out": Key("append")}),
    )
    assert orch2.run({}).ok
    assert provider.calls_for("translate") == 3  # a real change in the input executes separately


# --- 16. arbitration -----------------------------------------------------------------------------------------------


def test_arbitration_strategies_are_deterministic() -> None:
    votes = [Candidate("x", "A", order=0), Candidate("y", "A", order=1), Candidate("z", "B", order=2)]
    chain = Arbiter((MajorityVote(), DeterministicPriority(("z", "y", "x"))))
    decision = chain.decide(votes)
    assert (decision.answer, decision.strategy) == ("A", "majority_vote")
    tie = chain.decide([Candidate("x", "A"), Candidate("z", "B")])
    assert (tie.answer, tie.strategy) == ("B", "deterministic_priority")
    assert [chain.decide(votes) for _ in range(5)] == [decision] * 5


def test_escalation_to_a_human_is_persisted_and_resumable(spans: Any) -> None:
    arbiter = Arbiter((HighestConfidence(minimum=0.8), EscalateHuman()))

    def judge(ctx: Any) -> dict[str, Any]:
        decision = ctx.arbitrate([Candidate("agent_a", "refund", 0.4), Candidate("agent_b", "deny", 0.5)], arbiter)
        return {"verdict": decision.answer, "by": decision.strategy}

    store = SQLiteStateStore()
    orch = Orchestrator(
        "test.escalate", Agent("judge", judge, writes=["verdict", "by"]), store=store, provider=FakeProvider()
    )
    paused = orch.run({})
    assert paused.status == "interrupted" and isinstance(paused.error, HumanInputRequired)
    [pending] = orch.pending_interrupts(paused.trace_id)
    assert pending.kind == "arbitration" and len(pending.payload["candidates"]) == 2
    assert orch.history(paused.trace_id)[-1].meta["interrupt"] == pending.interrupt_id
    resumed = orch.resume(paused.trace_id, answers={pending.interrupt_id: "agent_b"})
    assert resumed.ok and resumed.state == {"verdict": "deny", "by": "escalate_human"}
    decided = [s for s in spans.named("invoke_agent arbiter") if (s.attributes or {}).get(sc.ARBITER_WINNER)]
    assert (decided[-1].attributes or {})[sc.ARBITER_STRATEGY] == "escalate_human"


# --- 17. hand-off contract -----------------------------------------------------------------------------------------


def _contract_flow(payload: dict[str, Any], contract: HandoffContract, provider: FakeProvider) -> Orchestrator:
    source = Agent("intake", lambda ctx: Handoff("billing", payload, "billing question"), handoffs=["billing"])
    target = Agent("billing", lambda ctx: {"resolution": ctx.llm(f"resolve {ctx.input}").text}, writes=["resolution"])
    return Orchestrator(
        "test.contract",
        Swarm("desk", [source, target], start="intake"),
        provider=provider,
        contracts=[contract],
        limits=Limits(max_handoff_hops=5),
    )


def test_contract_rejects_bad_payload_before_the_target_spends(spans: Any) -> None:
    provider = FakeProvider(default="done")
    contract = HandoffContract("intake", "billing", payload_schema={"invoice": str, "amount": float})
    result = _contract_flow({"invoice": "INV-1"}, contract, provider).run({})
    assert isinstance(result.error, ContractViolation) and result.error.what == "payload"
    assert len(provider.calls) == 0
    [transfer] = spans.named("execute_tool transfer_to_billing")
    assert (transfer.attributes or {})[sc.CONTRACT_VIOLATION] == "payload"


def test_contract_success_predicate_triggers_on_failure_policy(spans: Any) -> None:
    provider = FakeProvider({"billing": ["cannot help", "refund issued"]})
    retry = HandoffContract(
        "intake",
        "billing",
        payload_schema={"invoice": str},
        obligations=["resolution"],
        success=lambda w: "refund" in w["resolution"],
        on_failure="retry",
    )
    result = _contract_flow({"invoice": "INV-1"}, retry, provider).run({})
    assert result.ok and result.state["resolution"] == "refund issued"
    assert provider.calls_for("billing") == 2
    transfer = spans.named("execute_tool transfer_to_billing")[0]
    targets = [s for s in spans.named("invoke_agent billing")]
    assert targets and all(t.parent is not None and t.parent.span_id == transfer.context.span_id for t in targets)

    back = HandoffContract("intake", "billing", success=lambda w: False, on_failure="return_to_source")
    returned = _contract_flow({"invoice": "INV-2"}, back, FakeProvider(default="meh")).run({})
    assert returned.ok and returned.output["contract_violation"] == "success"
    assert "resolution" not in returned.state  # the failed target's writes were not committed

    fail = HandoffContract("intake", "billing", success=lambda w: False, on_failure="fail")
    failed = _contract_flow({"invoice": "INV-3"}, fail, FakeProvider(default="meh")).run({})
    assert isinstance(failed.error, ContractViolation) and failed.error.what == "success"


# --- 18. state conflict --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reducer", [None, "append"])
def test_parallel_writers_conflict_without_a_reducer(reducer: Any) -> None:
    branches = [Agent(f"w{i}", lambda ctx, i=i: {"answer": f"from {i}"}, writes=["answer"]) for i in range(2)]
    schema = StateSchema({"answer": Key(reducer)})
    result = Orchestrator("test.conflict", FanOut("both", branches), schema=schema, provider=FakeProvider()).run({})
    if reducer is None:
        assert isinstance(result.error, StateConflict) and result.error.key == "answer"
        assert "answer" not in result.state
    else:
        assert result.ok and result.state["answer"] == ["from 0", "from 1"]


# --- 19. summarisation ---------------------------------------------------------------------------------------------


def _history(turns: int, chars: int) -> list[dict[str, Any]]:
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "x" * chars} for i in range(turns)
    ]


def test_summarisation_checkpoint(spans: Any) -> None:
    provider = FakeProvider(
        {"chat": [Scripted("the user asked about tides; we answered.", output_tokens=40), "final answer"]}
    )
    policy = ContextPolicy(window=4000)
    history = _history(20, 700)
    crash = {"once": True}

    def chat(ctx: Any) -> dict[str, Any]:
        reply = ctx.llm(history, system="You are helpful.")
        if crash.pop("once", False):
            raise RuntimeError("process died after the call")
        return {"answer": reply.text}

    store = SQLiteStateStore()
    orch = Orchestrator(
        "test.compact",
        Agent("chat", chat, reads=["goal"], writes=["answer"]),
        provider=provider,
        schema=StateSchema({"goal": Key(pinned=True)}),
        context=policy,
        store=store,
    )
    first = orch.run({"goal": "explain tides"})
    assert isinstance(first.error, RuntimeError)
    assert len(provider.calls) == 2  # exactly one compaction, then the call itself
    summary_req, main_req = provider.calls
    assert "Summarise" in summary_req.messages[0]["content"]
    assert estimate_tokens(main_req.messages) < policy.threshold
    assert main_req.messages[-6:] == history[-6:]  # last six turns verbatim
    assert any('"goal":"explain tides"' in m["content"] for m in main_req.messages)  # pinned key verbatim
    events = [e for s in spans.named("invoke_agent chat") for e in s.events if e.name == sc.EVENT_COMPACTION]
    assert len(events) == 1

    resumed = orch.resume(first.trace_id)
    assert resumed.ok and resumed.state["answer"] == "final answer"
    assert len(provider.calls) == 2  # the resumed run did not summarise again

    huge = FakeProvider(default="x")
    single = Orchestrator(
        "test.overflow",
        Agent("chat", lambda ctx: {"a": ctx.llm("y" * 20000).text}, writes=["a"]),
        provider=huge,
        context=policy,
    ).run({})
    assert isinstance(single.error, ContextOverflow)
    assert len(huge.calls) == 0  # no compaction loop, no call


def test_sequential_chain_passes_outputs_along() -> None:
    flow = Sequential(
        "s",
        [
            Agent("one", lambda ctx: Result(output=ctx.input["n"] + 1)),
            Agent("two", lambda ctx: Result(output=ctx.input * 10)),
        ],
    )
    assert Orchestrator("test.seq", flow, provider=FakeProvider()).run({"n": 1}).output == 20
