"""Retry budget, deadlines and circuit breakers (design §4: 7, 8, 9)."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from tracehouse.orchestrator import (
    Agent,
    BreakerConfig,
    BreakerRegistry,
    CircuitOpen,
    DeadlineExceeded,
    FakeClock,
    FakeProvider,
    FanOut,
    Limits,
    Orchestrator,
    ProviderError,
    RetryBudgetExhausted,
    RetryPolicy,
    Scripted,
    Sequential,
    fail,
)
from tracehouse.sdk import semconv as sc


def test_retry_budget_bounds_retries_across_a_trace(clock: FakeClock, spans: Any) -> None:
    provider = FakeProvider({"*": [fail(503)]}, clock=clock)
    tasks = [Agent(f"task{i}", lambda ctx, i=i: {"r": ctx.llm(f"task {i}").text}, writes=[]) for i in range(10)]
    orch = Orchestrator(
        "test.retry_budget",
        FanOut("tasks", tasks, max_concurrency=1),
        provider=provider,
        clock=clock,
        breakers=BreakerRegistry(BreakerConfig(consecutive_failures=1000, min_calls=1000), clock),
    )
    result = orch.run({})
    per_task = {f"task{i}": provider.calls_for(f"task{i}") for i in range(10)}
    retries = len(provider.calls) - 10
    assert all(n >= 1 for n in per_task.values())  # every task made its first attempt
    assert retries <= 3 + 0.2 * 10
    assert max(per_task.values()) <= 3
    assert isinstance(result.error, RetryBudgetExhausted)
    workflow = spans.by_op("invoke_workflow")[0]
    terminal = [e for e in workflow.events if e.name == sc.EVENT_RUN_TERMINATED]
    assert terminal and (terminal[0].attributes or {})[sc.ERROR_TYPE] == "RetryBudgetExhausted"
    attempts = sorted((s.attributes or {})[sc.RETRY_ATTEMPT] for s in spans.by_op("chat"))
    assert len(attempts) == len(provider.calls)  # one span per attempt; the provider itself never retried


def test_no_retry_after_deadline_and_downstream_gets_the_remaining_time(clock: FakeClock) -> None:
    provider = FakeProvider(
        {"slow": [Scripted(error=ProviderError("boom", retryable=True, status=503), latency_s=1.5)]}, clock=clock
    )
    slow = Agent("slow", lambda ctx: {"x": ctx.llm("go").text}, writes=["x"])
    orch = Orchestrator(
        "test.deadline",
        slow,
        provider=provider,
        clock=clock,
        limits=Limits(deadline_s=2.0),
        breakers=BreakerRegistry(clock=clock),
    )
    result = orch.run({})
    assert isinstance(result.error, DeadlineExceeded)
    assert len(provider.calls) == 1  # no second attempt started

    provider2 = FakeProvider({"first": [Scripted("ok", latency_s=0.5)], "second": ["ok"]}, clock=clock)
    chain = Sequential(
        "two",
        [
            Agent("first", lambda ctx: {"a": ctx.llm("one").text}, writes=["a"]),
            Agent("second", lambda ctx: {"b": ctx.llm("two").text}, writes=["b"]),
        ],
    )
    ok = Orchestrator(
        "test.deadline2",
        chain,
        provider=provider2,
        clock=clock,
        limits=Limits(deadline_s=2.0),
        breakers=BreakerRegistry(clock=clock),
    ).run({})
    assert ok.ok
    assert provider2.calls[0].timeout_s == 2.0
    assert abs((provider2.calls[1].timeout_s or 0) - 1.5) < 1e-9


def test_circuit_breaker_lifecycle(clock: FakeClock, breakers: BreakerRegistry, spans: Any) -> None:
    script = [fail(503)] * 5 + [Scripted("probe ok")] * 3 + [fail(503)] * 5 + [fail(503)]
    provider = FakeProvider({"caller": script}, clock=clock)
    seen: dict[str, Any] = {}

    def caller(ctx: Any) -> dict[str, Any]:
        for i in range(5):
            with contextlib.suppress(ProviderError):
                ctx.llm(f"call {i}")
        calls_when_open = len(provider.calls)
        timings = []
        for i in range(100):
            t0 = time.perf_counter()
            try:
                ctx.llm(f"refused {i}")
            except CircuitOpen:
                timings.append(time.perf_counter() - t0)
        seen["refused_calls"] = len(provider.calls) - calls_when_open
        seen["refusals"] = len(timings)
        seen["p95_refusal_s"] = sorted(timings)[94]  # a shared CI core may stall one call; 95 of 100 must be fast
        clock.advance(30.0)
        for i in range(3):
            ctx.llm(f"probe {i}")
        seen["after_probes"] = breakers.get("model:fake/fake-small").state
        for i in range(5):
            with contextlib.suppress(ProviderError):
                ctx.llm(f"again {i}")
        clock.advance(30.0)
        with contextlib.suppress(ProviderError):
            ctx.llm("failing probe")
        return {}

    orch = Orchestrator(
        "test.breaker",
        Agent("caller", caller),
        provider=provider,
        clock=clock,
        breakers=breakers,
        retry=RetryPolicy(max_attempts=1),
    )
    assert orch.run({}).ok
    assert seen["refused_calls"] == 0
    assert seen["refusals"] == 100
    assert seen["p95_refusal_s"] < 0.001
    assert seen["after_probes"] == "closed"
    breaker = breakers.get("model:fake/fake-small")
    assert [t.to_state for t in breaker.transitions] == ["open", "half_open", "closed", "open", "half_open", "open"]
    assert breaker.transitions[-1].open_for_s == 60.0  # doubled on re-open from half-open
    assert breaker.state == "open"
    events = [
        (e.attributes or {})[sc.BREAKER_STATE]
        for s in spans.by_op("chat")
        for e in s.events
        if e.name == sc.EVENT_BREAKER_TRANSITION
    ]
    assert events == ["open", "half_open", "closed", "open", "half_open", "open"]
