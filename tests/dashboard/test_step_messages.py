"""`GET /api/traces/{trace_id}/steps/{span_id}` answers the step's messages in one shape for every convention, and the
step panel shows them once (not again under Attributes), with anything from a span escaped or sanitised."""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.chat_traces import CONVENTIONS, EVIL, handoff_call, hostile_trace, load_fixture
from tests.dashboard.conftest import TraceBuilder
from tracehouse.domain.model import StepType
from tracehouse.store import Store


class Tags(HTMLParser):
    """The elements and attributes a browser would build from some HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)
        self.attrs += attrs


MESSAGE_KEYS = {"role", "content", "tool_calls", "tool_call_id"}

PLANNER_INPUT = [
    ("system", "You are Planner. Look orders up, send refunds to billing.", [], ""),
    ("user", "Please refund order A-1.", [], ""),
    ("assistant", "", [("call_0010", "get_order", {"order_id": "A-1"})], ""),
    ("tool", '{"order_id": "A-1", "status": "delivered", "amount": 42}', [], "call_0010"),
]


def compact(messages: list[dict[str, object]]) -> list[tuple[object, ...]]:
    for m in messages:
        assert set(m) == MESSAGE_KEYS, m
        for c in m["tool_calls"]:  # type: ignore[attr-defined]
            assert set(c) == {"id", "name", "arguments"} and isinstance(c["arguments"], str)
    return [
        (
            m["role"],
            m["content"],
            [(c["id"], c["name"], json.loads(c["arguments"])) for c in m["tool_calls"]],
            m["tool_call_id"],
        )  # type: ignore[index, union-attr]
        for m in messages
    ]


@pytest.mark.parametrize("convention", ["genai", "openinference", "openllmetry"])
def test_step_api_answers_the_same_messages_for_every_convention(
    client: TestClient, store: Store, project_id: str, convention: str
) -> None:
    step = handoff_call(load_fixture(store, project_id, CONVENTIONS[convention]))
    body = client.get(f"/api/traces/{step.trace_id}/steps/{step.span_id}").json()
    assert compact(body["input_messages"]) == PLANNER_INPUT
    assert compact(body["output_messages"]) == [
        ("assistant", "", [("call_0020", "transfer_to_billing", {"reason": "refund order A-1"})], "")
    ]


def test_step_api_reads_span_events_strands(client: TestClient, store: Store, project_id: str) -> None:
    step = handoff_call(load_fixture(store, project_id, CONVENTIONS["genai_events"]))
    body = client.get(f"/api/traces/{step.trace_id}/steps/{step.span_id}").json()
    assert [m["role"] for m in body["input_messages"]] == ["system", "user"]
    calls = body["output_messages"][0]["tool_calls"]
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls] == [
        ("call_0020", "web_search", {"query": "OTLP"}),
        ("call_0021", "flaky_fetch", {"url": "https://otlp.example"}),
    ]


def test_no_content_captured_answers_empty_lists(client: TestClient, store: Store, project_id: str) -> None:
    tb = TraceBuilder(project_id, time.time_ns() - 60_000_000_000)
    call = tb.add("chat", 0, 10, step_type=StepType.LLM, request_model="m", attributes={"gen_ai.request.model": "m"})
    tb.save(store)
    body = client.get(f"/api/traces/{tb.trace_id}/steps/{call.span_id}").json()
    assert body["input_messages"] == [] and body["output_messages"] == []
    assert "No content captured for this step" in client.get(f"/traces/{tb.trace_id}/steps/{call.span_id}").text


def test_content_shows_once_not_again_under_attributes(client: TestClient, store: Store, project_id: str) -> None:
    step = handoff_call(load_fixture(store, project_id, CONVENTIONS["openinference"]))
    html = client.get(f"/traces/{step.trace_id}/steps/{step.span_id}").text
    attributes = html.split("<h4>Attributes</h4>", 1)[1]
    assert "llm.input_messages" not in attributes and "input.value" not in attributes
    assert "llm.model_name" in attributes  # the rest of the attributes are still there
    chat, raw = html.split('data-view="raw"', 1)
    assert chat.count("Please refund order A-1.") == 1
    assert "llm.input_messages.0.message.content" in raw  # the raw view has the attributes as stored
    assert re.search(r'class="msg r-tool[^"]*" id="m-[0-9a-f]+-i3"', chat)
    assert 'data-jump="c-' in chat  # the tool result links to the call it answers


@pytest.mark.parametrize("convention", ["genai", "openinference", "openllmetry", "genai_events", "raw", "value"])
def test_hostile_message_content_is_text_in_every_convention(
    client: TestClient, store: Store, project_id: str, convention: str
) -> None:
    hostile = hostile_trace(store, project_id)
    step = hostile.steps[convention]
    html = client.get(f"/traces/{hostile.trace_id}/steps/{step.span_id}").text
    page = client.get(f"/traces/{hostile.trace_id}?span={step.span_id}").text
    for text in (html, page):
        body = text.split('<div class="step-detail"', 1)[1].split("</aside>", 1)[0]
        tags = Tags()
        tags.feed(body)
        assert not tags.seen & {"script", "img", "svg", "iframe", "style", "object", "embed"}, tags.seen
        assert not [a for a in tags.attrs if a[0].startswith("on")], "no element carries an event handler"
        assert not [a for a in tags.attrs if a[0] in ("href", "src") and "javascript:" in (a[1] or "")], "no script URL"
        assert "&lt;img src=x onerror=" in body  # shown, as text
    api = client.get(f"/api/traces/{hostile.trace_id}/steps/{step.span_id}").json()
    texts = json.dumps(api["input_messages"] + api["output_messages"])
    assert "onerror" in texts or "javascript:" in texts  # the API answers content as it is (JSON, not HTML)


def test_markdown_renders_and_keeps_only_safe_links(client: TestClient, store: Store, project_id: str) -> None:
    hostile = hostile_trace(store, project_id)
    html = client.get(f"/traces/{hostile.trace_id}/steps/{hostile.steps['genai'].span_id}").text
    output = html.split("Output</h5>", 1)[1].split('data-view="raw"', 1)[0]
    assert "<strong>bold</strong>" in output
    tags = Tags()
    tags.feed(output)
    hrefs = [v or "" for k, v in tags.attrs if k == "href"]
    assert 'href="https://example.com/docs"' in output and 'rel="noopener noreferrer nofollow"' in output
    assert all(h.startswith(("https://", "http://", "#", "?", "/")) for h in hrefs), hrefs
    assert EVIL not in html
