"""Hard budgets against a real OpenAI-compatible HTTP endpoint that counts prompts itself (issue 14, piece 2)."""

from __future__ import annotations

import json
from typing import Any

from tests.orchestrator.fake_openai import FakeOpenAI, Reply
from tracehouse.orchestrator import (
    Agent,
    BudgetExceeded,
    FanOut,
    Key,
    Limits,
    OpenAICompatibleProvider,
    Orchestrator,
    Sequential,
    StateSchema,
    UnpricedModel,
)
from tracehouse.sdk import semconv as sc

PRICE = {"dense-1": (1000.0, 1000.0)}  # $0.001 a token either way: easy sums


def _orders(n: int) -> str:
    rows = [{"id": i, "sku": f"SKU-{i:05d}", "qty": i % 7, "ok": i % 3 == 0, "tags": ["a", "b"]} for i in range(n)]
    return json.dumps(rows)


def test_a_cap_holds_under_a_json_prompt_the_char_estimate_under_counts(spans: Any) -> None:
    blob = _orders(12)

    def audit(ctx: Any) -> dict[str, Any]:
        notes = [ctx.llm(f"Audit batch {i}: {blob}", max_tokens=20).text for i in range(10)]
        return {"notes": notes}

    with FakeOpenAI(["fine"]) as llm:
        orch = Orchestrator(
            "t.json_cap",
            Agent("audit", audit, writes=["notes"], model="dense-1"),
            provider=OpenAICompatibleProvider(llm.url),
            model_prices=PRICE,
            limits=Limits(max_cost_usd=1.0),
        )
        result = orch.run({})
    prompt = f"Audit batch 0: {blob}"
    reported_first = llm.completion(llm.requests[0], Reply("fine"))["usage"]["prompt_tokens"]
    assert len(prompt) // 4 + 4 < reported_first  # what the old estimate would have reserved: too little

    assert result.status == "budget_exceeded" and isinstance(result.error, BudgetExceeded)
    assert 0 < len(llm.requests) < 10
    chat = spans.by_op("chat")
    assert len(chat) == len(llm.requests)
    for span in chat:
        attrs = span.attributes or {}
        assert attrs[sc.BUDGET_PROMPT_ESTIMATE] >= attrs[sc.GEN_AI_USAGE_INPUT_TOKENS]
    assert result.spent_usd <= 1.0
    assert sum((s.attributes or {})[sc.COST_USD] for s in chat) <= 1.0


def test_a_provider_reporting_more_than_reserved_ends_the_run_budget_exceeded(spans: Any) -> None:
    after: list[str] = []

    def chat(ctx: Any) -> dict[str, Any]:
        first = ctx.llm("hello", max_tokens=10).text
        ctx.llm("hello again", max_tokens=10)
        after.append("ran on")
        return {"a": first}

    with FakeOpenAI(["hi", Reply("hi", prompt_tokens=5000)]) as llm:  # the second answer claims a huge prompt
        result = Orchestrator(
            "t.overreport",
            Agent("chat", chat, writes=["a"], model="dense-1"),
            provider=OpenAICompatibleProvider(llm.url),
            model_prices=PRICE,
            limits=Limits(max_cost_usd=1.0),
        ).run({})
    assert result.status == "budget_exceeded"
    assert isinstance(result.error, BudgetExceeded) and "reported" in str(result.error)
    assert result.spent_usd > 1.0 and after == []
    workflow = spans.by_op("invoke_workflow")[0]
    assert (workflow.attributes or {})[sc.RUN_STATUS] == "budget_exceeded"


def test_reported_usage_scales_later_estimates_for_that_model(spans: Any) -> None:
    text = "x" * 400  # estimated ~164 tokens; the provider says 3x that

    def chat(ctx: Any) -> dict[str, Any]:
        return {"a": [ctx.llm(text, max_tokens=5).text for _ in range(2)]}

    with FakeOpenAI(lambda body: Reply("ok", prompt_tokens=3 * 164)) as llm:
        result = Orchestrator(
            "t.reconcile",
            Agent("chat", chat, writes=["a"], model="dense-1"),
            provider=OpenAICompatibleProvider(llm.url),
            model_prices=PRICE,
            limits=Limits(max_cost_usd=10.0),
        ).run({})
    assert result.ok, result.error
    first, second = [(s.attributes or {})[sc.BUDGET_PROMPT_ESTIMATE] for s in spans.by_op("chat")]
    assert second >= 3 * 164 > first


def test_an_unpriced_model_is_refused_under_a_cap_unless_priced_or_allowed(spans: Any) -> None:
    flow = Agent("ask", lambda ctx: {"a": ctx.llm("hi", max_tokens=5).text}, writes=["a"], model="llama-3.1-8b")
    cap = Limits(max_cost_usd=0.5)
    with FakeOpenAI(["hello"]) as llm:
        provider = OpenAICompatibleProvider(llm.url)
        refused = Orchestrator("t.unpriced", flow, provider=provider, limits=cap).run({})
        assert isinstance(refused.error, UnpricedModel) and "allow_unpriced" in str(refused.error)
        assert llm.requests == []

        allowed = Orchestrator("t.unpriced", flow, provider=provider, limits=cap, allow_unpriced=["llama-3.1-8b"]).run(
            {}
        )
        assert allowed.ok, allowed.error
        attrs = spans.by_op("chat")[-1].attributes or {}
        assert attrs[sc.COST_UNPRICED] is True and sc.COST_USD not in attrs

        priced = Orchestrator(
            "t.unpriced", flow, provider=provider, limits=cap, model_prices={"llama-3.1-8b": (0.1, 0.2)}
        ).run({})
        assert priced.ok and priced.spent_usd > 0
        attrs = spans.by_op("chat")[-1].attributes or {}
        assert attrs[sc.COST_USD] > 0 and sc.COST_UNPRICED not in attrs


def _research_then_report(reserve: float | None) -> tuple[Any, FakeOpenAI]:
    def research(ctx: Any) -> dict[str, Any]:
        found: list[str] = []
        try:
            while True:  # research as far as the budget lets it
                found.append(ctx.llm(f"Find source {len(found)} on tides", max_tokens=40).text)
        except BudgetExceeded:
            pass
        return {"sources": found}

    flow = Sequential(
        "study",
        [
            Agent("research", research, writes=["sources"], model="dense-1"),
            Agent(
                "report",
                lambda ctx: {"report": ctx.llm(f"Report on {len(ctx.state['sources'])} sources", max_tokens=60).text},
                reads=["sources"],
                writes=["report"],
                model="dense-1",
                finalize=True,
            ),
        ],
    )
    with FakeOpenAI(["a source"]) as llm:
        result = Orchestrator(
            "t.finalize",
            flow,
            provider=OpenAICompatibleProvider(llm.url),
            model_prices=PRICE,
            limits=Limits(max_cost_usd=1.0, finalize_reserve_usd=reserve),
        ).run({})
    return result, llm


def test_finalize_steps_get_their_reserve(spans: Any) -> None:
    result, _ = _research_then_report(None)  # default: 10 % of the cap, because the workflow has a finalize step
    assert result.ok, result.error
    assert result.state["report"] == "a source" and len(result.state["sources"]) >= 5
    assert result.spent_usd <= 1.0

    starved, _ = _research_then_report(0.0)
    assert starved.status == "budget_exceeded"
    assert "report" not in starved.state


def test_partial_results_are_kept_by_default(spans: Any) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        text = body["messages"][-1]["content"]
        return Reply("bad request", status=400) if "apac" in text else Reply(f"notes for {text[-4:]}")

    branches = [
        Agent(
            f"{r}_analyst",
            lambda ctx, r=r: {"notes": {r: ctx.llm(f"demand in {r}").text}},
            writes=["notes"],
            model="dense-1",
        )
        for r in ("euro", "usa_", "apac")
    ]
    with FakeOpenAI(responder) as llm:
        result = Orchestrator(
            "t.partial",
            FanOut("scan", branches),
            provider=OpenAICompatibleProvider(llm.url),
            model_prices=PRICE,
            schema=StateSchema({"notes": Key("merge_dict")}),
        ).run({})
    assert result.status == "failed"
    assert result.state["notes"] == {"euro": "notes for euro", "usa_": "notes for usa_"}
