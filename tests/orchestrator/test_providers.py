"""The OpenAI-compatible provider (over httpx's mock transport: no network) and hand-off history filtering."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tracehouse.orchestrator import HandoffContract, ModelRequest, OpenAICompatibleProvider, ProviderError
from tracehouse.orchestrator.errors import ProviderTimeout


def _provider(handler: Any) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        "http://llm.local/v1",
        api_key="sk-test",
        transport=httpx.MockTransport(handler),
        async_transport=httpx.MockTransport(handler),
    )


def test_parses_a_chat_completion_and_sends_the_key() -> None:
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["auth"] = request.headers["authorization"]
        seen["body"] = json.loads(request.content)
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 4}},
            },
        )

    resp = _provider(handler).complete(ModelRequest("gpt-4o-mini", [{"role": "user", "content": "hello"}], 20, 0.0))
    assert (resp.text, resp.model, resp.input_tokens, resp.output_tokens, resp.cache_read_tokens) == (
        "hi",
        "gpt-4o-mini-2024-07-18",
        12,
        3,
        4,
    )
    assert seen["auth"] == "Bearer sk-test"
    assert seen["body"]["max_tokens"] == 20 and seen["body"]["temperature"] == 0.0


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (503, True), (400, False), (401, False)])
async def test_classifies_http_failures_like_the_breaker(status: int, retryable: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"retry-after": "7"}, text="nope")

    with pytest.raises(ProviderError) as caught:
        await _provider(handler).acomplete(ModelRequest("m", [{"role": "user", "content": "x"}]))
    assert caught.value.retryable is retryable and caught.value.status == status
    assert caught.value.retry_after_s == 7.0


def test_timeouts_are_retryable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ProviderTimeout) as caught:
        _provider(handler).complete(ModelRequest("m", [{"role": "user", "content": "x"}]))
    assert caught.value.retryable


@pytest.mark.parametrize(("policy", "kept"), [("none", 0), ("last_message", 1), ("full", 3)])
def test_history_policy_filters_what_the_target_sees(policy: Any, kept: int) -> None:
    contract = HandoffContract("a", "b", history_policy=policy)
    payload = contract.validate_payload(
        {"task": "t", "messages": [{"role": "user", "content": str(i)} for i in range(3)]}
    )
    assert len(payload["messages"]) == kept and payload["task"] == "t"
