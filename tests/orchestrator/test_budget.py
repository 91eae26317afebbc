"""Budgets at the choke point (design §4: 10, 11, 12)."""

from __future__ import annotations

from typing import Any

from tracehouse.orchestrator import (
    Agent,
    BudgetExceeded,
    FakeProvider,
    FanOut,
    Key,
    LimitExceeded,
    Limits,
    Orchestrator,
    Role,
    Scripted,
    Sequential,
    StateSchema,
    Supervisor,
    Task,
)
from tracehouse.sdk import semconv as sc


def test_downgrade_at_80_percent_for_downgradable_roles_only(spans: Any) -> None:
    provider = FakeProvider(
        {
            "worker": [Scripted("big", input_tokens=1000, output_tokens=600), "small"],
            "judge": [Scripted("verdict", input_tokens=10, output_tokens=10)],
        }
    )

    def work(ctx: Any) -> dict[str, Any]:
        ctx.llm("first", max_tokens=700)
        return {"w": ctx.llm("second", max_tokens=50).text}

    flow = Sequential(
        "s",
        [
            Agent("worker", work, role="worker", writes=["w"]),
            Agent("judge", lambda ctx: {"j": ctx.llm("judge it", max_tokens=50).text}, role="judge", writes=["j"]),
        ],
    )
    orch = Orchestrator(
        "test.downgrade",
        flow,
        provider=provider,
        limits=Limits(max_cost_usd=0.01),
        roles=[
            Role("worker", ["fake-large", "fake-small"], downgradable=True),
            Role("judge", ["fake-large", "fake-small"]),
        ],
    )
    result = orch.run({})
    assert result.ok, result.error
    models = [(c.agent, c.model) for c in provider.calls]
    assert models == [("worker", "fake-large"), ("worker", "fake-small"), ("judge", "fake-large")]
    chat = spans.by_op("chat")
    switched = [s for s in chat if (s.attributes or {}).get(sc.MODEL_TIER_SWITCH)]
    assert len(switched) == 1
    attrs = switched[0].attributes or {}
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == "fake-small" and attrs[sc.MODEL_REQUESTED] == "fake-large"
    assert attrs[sc.BUDGET_FRACTION] >= 0.8


def test_hard_cap_holds_under_parallel_branches(spans: Any) -> None:
    provider = FakeProvider({"*": [Scripted("part", input_tokens=100, output_tokens=150, latency_s=0.02)]})
    branches = [
        Agent(
            f"b{i}",
            lambda ctx, i=i: {"parts": ctx.llm(f"part {i}", max_tokens=300).text},
            writes=["parts"],
            model="fake-large",
        )
        for i in range(8)
    ]
    orch = Orchestrator(
        "test.cap",
        FanOut("fan", branches, keep_partial=True),
        provider=provider,
        limits=Limits(max_cost_usd=0.01),
        schema=StateSchema({"parts": Key("append")}),
    )
    result = orch.run({})
    assert isinstance(result.error, BudgetExceeded)
    assert result.spent_usd <= 0.01
    assert sum((s.attributes or {}).get(sc.COST_USD, 0.0) for s in spans.by_op("chat")) <= 0.01
    assert 1 <= len(result.state["parts"]) < 8  # the partial result is kept
    refused = [s for s in spans.by_op("invoke_agent") if (s.attributes or {}).get(sc.ERROR_TYPE) == "BudgetExceeded"]
    assert refused
    workflow = spans.by_op("invoke_workflow")[0]
    assert any(
        e.name == sc.EVENT_RUN_TERMINATED and (e.attributes or {})[sc.BUDGET_LIMIT_KIND] == "cost_usd"
        for e in workflow.events
    )


def test_nested_agents_share_the_trace_budget(spans: Any) -> None:
    provider = FakeProvider(default="ok")

    def deep(ctx: Any) -> dict[str, Any]:
        for i in range(10):
            ctx.llm(f"deep {i}")
        return {}

    level3 = Agent("level3", deep)
    level2 = Supervisor("level2", lambda ctx: [Task("level3", {"n": 3})] if ctx.llm("plan 2") else [], [level3])
    level1 = Supervisor("level1", lambda ctx: [Task("level2", {"n": 2})] if ctx.llm("plan 1") else [], [level2])
    orch = Orchestrator("test.nested", level1, provider=provider, limits=Limits(max_model_calls=6))
    result = orch.run({})
    assert isinstance(result.error, LimitExceeded) and result.error.kind == "model_calls"
    assert len(provider.calls) == 6
    chat = spans.by_op("chat")
    assert len(chat) == 6
    assert result.usage.input_tokens == sum((s.attributes or {})[sc.GEN_AI_USAGE_INPUT_TOKENS] for s in chat)

    generous = Orchestrator(
        "test.nested2", level1, provider=FakeProvider(default="ok"), limits=Limits(max_model_calls=100)
    )
    ok = generous.run({})
    assert ok.ok and ok.usage.model_calls == 12 == generous.config.provider.calls.__len__()
