"""The real `openai` client against a fake OpenAI-compatible server, instrumented through `sdk.instrument()`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest

from tests.sdk.sdk_testing import Recorder, make_recorder
from tracehouse import sdk
from tracehouse.sdk import semconv as sc

_USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("tools"):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        }
        finish = "tool_calls"
    else:
        message, finish = {"role": "assistant", "content": "Hello from fake"}, "stop"
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1,
        "model": f"{body['model']}-2024-07-18",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _USAGE,
    }


def _chunks(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    base = {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": 1, "model": body["model"]}
    for piece in ("Hel", "lo"):
        yield {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    if (body.get("stream_options") or {}).get("include_usage"):
        yield {**base, "choices": [], "usage": _USAGE}


class _FakeOpenAI(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self.path.endswith("/chat/completions"):
            self.send_error(404)
            return
        if body.get("stream"):
            data = "".join(f"data: {json.dumps(c)}\n\n" for c in _chunks(body)) + "data: [DONE]\n\n"
            self._send(data.encode(), "text/event-stream")
        else:
            self._send(json.dumps(_completion(body)).encode(), "application/json")

    def _send(self, payload: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake_openai() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def instrumented(fake_openai: str) -> Iterator[tuple[Recorder, openai.OpenAI]]:
    rec = make_recorder()
    assert sdk.instrument("openai") == ["openai"]
    client = openai.OpenAI(base_url=fake_openai, api_key="sk-test-not-real", max_retries=0)
    yield rec, client
    sdk.uninstrument("openai")


def _chat_span(rec: Recorder) -> Any:
    spans = [s for s in rec.spans() if (s.attributes or {}).get(sc.GEN_AI_OPERATION_NAME) == "chat"]
    assert len(spans) == 1, [s.name for s in rec.spans()]
    return spans[0]


def test_chat_call_is_a_span_of_the_enclosing_agent_with_tokens_and_cost(
    instrumented: tuple[Recorder, openai.OpenAI],
) -> None:
    rec, client = instrumented
    with sdk.agent("support") as support:
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello from fake"
    span = _chat_span(rec)
    a = span.attributes
    assert span.name == "chat gpt-4o-mini"
    assert a[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (12, 5)
    assert a[sc.GEN_AI_AGENT_NAME] == "support"
    assert a[sc.COST_USD] == pytest.approx((12 * 0.15 + 5 * 0.60) / 1e6)
    assert span.parent.span_id == support.span.get_span_context().span_id
    assert sc.GEN_AI_INPUT_MESSAGES not in a  # content is off by default


def test_streaming_call_records_usage_when_asked_for(instrumented: tuple[Recorder, openai.OpenAI]) -> None:
    rec, client = instrumented
    with sdk.agent("streamer"):
        stream = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello"
    a = _chat_span(rec).attributes
    assert a[sc.GEN_AI_AGENT_NAME] == "streamer"
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (12, 5)
    assert a[sc.COST_USD] == pytest.approx((12 * 2.5 + 5 * 10.0) / 1e6)


def test_tool_call_response_and_our_tool_span_line_up(instrumented: tuple[Recorder, openai.OpenAI]) -> None:
    rec, client = instrumented
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    with sdk.agent("weather"):
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "weather?"}], tools=tools
        )
        call = reply.choices[0].message.tool_calls[0]
        with sdk.tool(call.function.name, call_id=call.id) as step:
            step.set_input(json.loads(call.function.arguments))
    a = _chat_span(rec).attributes
    assert tuple(a[sc.GEN_AI_RESPONSE_FINISH_REASONS]) == ("tool_calls",)
    assert a[sc.GEN_AI_AGENT_NAME] == "weather"
    tool_attrs = rec.one("execute_tool get_weather").attributes
    assert tool_attrs[sc.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert tool_attrs[sc.GEN_AI_AGENT_NAME] == "weather"


def test_instrumentation_content_is_redacted_when_capture_is_on(
    fake_openai: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = make_recorder(capture_content=True)
    assert sdk.instrument("openai") == ["openai"]
    try:
        client = openai.OpenAI(base_url=fake_openai, api_key="sk-test-not-real", max_retries=0)
        with sdk.agent("mailer"):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "mail carol@example.com"}]
            )
    finally:
        sdk.uninstrument("openai")
    a = _chat_span(rec).attributes
    messages = json.loads(a[sc.GEN_AI_INPUT_MESSAGES])
    assert "carol@example.com" not in json.dumps(messages)
    assert "[REDACTED:email]" in json.dumps(messages)


def test_instrument_rejects_unknown_names_and_skips_missing_packages() -> None:
    make_recorder()
    with pytest.raises(ValueError, match="unknown library"):
        sdk.instrument("not-a-library")
    assert "anthropic" not in sdk.instrument("anthropic")
