"""Defaults that fail loudly: no silent stand-in provider, no made-up model name, hand-offs without a container."""

from __future__ import annotations

from typing import Any

import pytest

from tests.orchestrator.fake_openai import FakeOpenAI
from tracehouse.orchestrator import (
    Agent,
    GraphConfigError,
    Handoff,
    Limits,
    OpenAICompatibleProvider,
    Orchestrator,
    Result,
)


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "TRACEHOUSE_DEFAULT_MODEL"):
        monkeypatch.delenv(name, raising=False)


def _ask(ctx: Any) -> dict[str, Any]:
    return {"answer": ctx.llm("What is the tide table for Brest?").text}


def test_no_provider_and_no_environment_is_a_one_line_error(no_env: None) -> None:
    with pytest.raises(GraphConfigError) as caught:
        Orchestrator("t.noprovider", Agent("ask", _ask, writes=["answer"]))
    message = str(caught.value)
    assert "\n" not in message
    assert "provider=" in message and "OPENAI_BASE_URL" in message and "OPENAI_API_KEY" in message


def test_provider_from_the_environment_talks_to_that_endpoint(no_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAI(["High water at 06:12."]) as llm:
        monkeypatch.setenv("OPENAI_BASE_URL", llm.url)
        monkeypatch.setenv("TRACEHOUSE_DEFAULT_MODEL", "llama-3.1-8b")
        result = Orchestrator("t.env", Agent("ask", _ask, writes=["answer"])).run({})
    assert result.ok, result.error
    assert result.state["answer"] == "High water at 06:12."
    assert [r["model"] for r in llm.requests] == ["llama-3.1-8b"]


def test_an_agent_without_a_model_fails_before_any_request(no_env: None) -> None:
    with FakeOpenAI(["unused"]) as llm:
        orch = Orchestrator(
            "t.nomodel", Agent("ask", _ask, writes=["answer"]), provider=OpenAICompatibleProvider(llm.url)
        )
        result = orch.run({})
    assert result.status == "failed"
    assert isinstance(result.error, GraphConfigError)
    assert "agent ask called ctx.llm without a model" in str(result.error)
    assert llm.requests == []  # no made-up model name was sent to the endpoint


def test_hand_off_targets_given_as_agents_need_no_container(no_env: None) -> None:
    billing = Agent(
        "billing",
        lambda ctx: {"resolution": ctx.llm(f"Refund? {ctx.input['ticket']}").text},
        writes=["resolution"],
        model="gpt-4o-mini",
    )

    def triage(ctx: Any) -> Result:
        label = ctx.llm(f"Classify: {ctx.input['ticket']}").text
        return Result(writes={"label": label}, handoff=Handoff("billing", {"ticket": ctx.input["ticket"]}))

    flow = Agent("triage", triage, writes=["label"], model="gpt-4o-mini", handoffs=[billing])
    with FakeOpenAI(["billing", "Refunded $12."]) as llm:
        orch = Orchestrator(
            "t.handoff", flow, provider=OpenAICompatibleProvider(llm.url), limits=Limits(max_handoff_hops=2)
        )
        result = orch.run({"ticket": "double charge"})
    assert result.ok, result.error
    assert result.state == {"ticket": "double charge", "label": "billing", "resolution": "Refunded $12."}
    assert "billing" in orch.graph.agents


def test_hand_off_targets_as_agents_are_still_checked_for_names_and_caps(no_env: None) -> None:
    a = Agent("a", lambda ctx: None)
    b = Agent("b", lambda ctx: None, handoffs=[a])
    a_to_b = Agent("a", lambda ctx: None, handoffs=[b])
    with pytest.raises(GraphConfigError, match="two different nodes are named 'a'"):
        Orchestrator("t.dup", a_to_b, provider=OpenAICompatibleProvider("http://127.0.0.1:9/v1"))
    pong = Agent("pong", lambda ctx: None, handoffs=["ping"])  # the back edge by name
    ping = Agent("ping", lambda ctx: None, handoffs=[pong])
    with pytest.raises(GraphConfigError, match=r"cycle .* has no cap"):
        Orchestrator("t.cycle", ping, provider=OpenAICompatibleProvider("http://127.0.0.1:9/v1"))
