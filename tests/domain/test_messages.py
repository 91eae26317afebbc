"""One transcript from every convention: real instrumentation's captured exports (tests/conformance/fixtures) go
through the real normaliser, and each step's messages come out in the same shape; hostile and broken content never
raises and stays visible."""

from __future__ import annotations

import json
from functools import cache

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tests.conformance.harness.otlp_dump import value as any_value
from tests.conformance.replay import FIXTURES, fixtures
from tracehouse.collector.normalise import normalise_request
from tracehouse.domain.messages import (
    MAX_MESSAGES,
    MAX_PART_CHARS,
    Message,
    PartKind,
    is_content_attribute,
    messages_from_events,
    transcript,
)
from tracehouse.domain.model import Event, Step
from tracehouse.sdk.pricing import default_prices

Shape = list[tuple[str, str, list[tuple[str, str]], str]]


@cache
def steps(fixture: str) -> tuple[Step, ...]:
    (fx,) = [f for f in fixtures() if f.name == fixture]
    out: list[Step] = []
    for request in fx.requests():
        out += normalise_request(request, project_id="p", prices=default_prices()).steps
    return tuple(sorted(out, key=lambda s: s.start_time_ns))


def shape(messages: list[Message]) -> Shape:
    """(role, content, [(tool name, arguments)], tool_call_id) per message: what the API answers, compactly."""
    return [(m.role, m.content, [(c.name, c.arguments) for c in m.tool_calls], m.tool_call_id) for m in messages]


def second_planner_call(fixture: str) -> Step:
    """The Planner's second model call in the refund scenario: it saw get_order's result and hands off to billing."""
    calls = [s for s in steps(fixture) if s.step_type == "llm" and "transfer_to_billing" in str(s.tool_calls)]
    return calls[0]


PLANNER_IN: Shape = [
    ("system", "You are Planner. Look orders up, send refunds to billing.", [], ""),
    ("user", "Please refund order A-1.", [], ""),
    ("assistant", "", [("get_order", '{"order_id": "A-1"}')], ""),
    ("tool", '{"order_id": "A-1", "status": "delivered", "amount": 42}', [], "call_0010"),
]


@pytest.mark.parametrize(
    "fixture",
    [
        "openai_raw_otel_genai_latest",  # GenAI latest: gen_ai.input.messages / output.messages parts
        "openai_raw_openinference",  # OpenInference: llm.input_messages.N.message.* with tool_calls
        "openai_raw_openllmetry_044",  # OpenLLMetry: gen_ai.prompt.N.* / gen_ai.completion.N.tool_calls.*
        "openai_raw_openllmetry",  # OpenLLMetry 0.47+: GenAI JSON attributes
    ],
)
def test_every_convention_gives_the_same_transcript_of_the_same_call(fixture: str) -> None:
    t = transcript(second_planner_call(fixture))
    got = shape(t.input)
    # GenAI serialises arguments as JSON objects: compare them parsed.
    assert [(r, c, [(n, json.loads(a)) for n, a in calls], i) for r, c, calls, i in got] == [
        (r, c, [(n, json.loads(a)) for n, a in calls], i) for r, c, calls, i in PLANNER_IN
    ]
    (answer,) = t.output
    assert answer.role == "assistant"
    assert [(c.id, c.name, json.loads(c.arguments)) for c in answer.tool_calls] == [
        ("call_0020", "transfer_to_billing", {"reason": "refund order A-1"})
    ]
    assert not t.cut and t.omitted == 0


def test_genai_final_answer_is_text_with_its_finish_reason() -> None:
    t = transcript(next(s for s in steps("openai_raw_otel_genai_latest") if "could not refund" in s.output_preview))
    (answer,) = t.output
    assert (answer.role, answer.finish_reason) == ("assistant", "stop")
    assert answer.content == "Billing could not refund order A-1 yet; the payment gateway rejected it."
    assert [p.kind for p in answer.parts] == [PartKind.TEXT]


def test_genai_1_36_span_events_strands() -> None:
    """Strands (<= 1.36): one span event per message, Bedrock content blocks as JSON text; a tool span's
    gen_ai.tool.message is its input and gen_ai.choice its result, linked by the call id."""
    ss = steps("strands_native")
    researcher = next(
        s for s in ss if s.step_type == "llm" and "3 results" in json.dumps([e.attributes for e in s.events])
    )
    t = transcript(researcher)
    assert shape(t.input)[0] == ("system", "You are Researcher. Search, then answer briefly.", [], "")
    calls = next(m for m in t.input if m.tool_calls).tool_calls
    assert [(c.id, c.name) for c in calls] == [("call_0020", "web_search"), ("call_0021", "flaky_fetch")]
    results = [(m.tool_call_id, m.content) for m in t.input if m.role == "tool"]
    assert results == [
        ("call_0020", "3 results for OTLP: OTLP is the OpenTelemetry protocol."),
        ("call_0021", "Error: RuntimeError - fetch failed for https://otlp.example"),
    ]
    assert shape(t.output) == [
        ("assistant", "OTLP is the OpenTelemetry protocol; one page could not be fetched.", [], "")
    ]
    tool = transcript(next(s for s in ss if s.name == "execute_tool web_search"))
    assert [(m.role, m.tool_call_id) for m in tool.input] == [("tool", "call_0020")]
    assert json.loads(tool.input[0].content) == {"query": "OTLP"}
    assert shape(tool.output) == [("tool", "3 results for OTLP: OTLP is the OpenTelemetry protocol.", [], "call_0020")]


def test_genai_latest_operation_details_events_strands() -> None:
    """Strands (latest): system instructions, input and output messages each in an operation-details span event."""
    ss = steps("strands_native_latest")
    first = transcript(next(s for s in ss if s.step_type == "llm"))
    assert shape(first.input) == [
        ("system", "You are Orchestrator. Send research questions to the research assistant.", [], ""),
        ("user", "What is OTLP?", [], ""),
    ]
    assert [(c.id, c.name, json.loads(c.arguments)) for c in first.output[0].tool_calls] == [
        ("call_0010", "research_assistant", {"query": "What is OTLP?"})
    ]
    tool = transcript(next(s for s in ss if s.name == "execute_tool web_search"))
    assert [(c.id, c.name) for c in tool.input[0].tool_calls] == [("call_0020", "web_search")]
    assert shape(tool.output) == [("tool", "3 results for OTLP: OTLP is the OpenTelemetry protocol.", [], "call_0020")]


def test_genai_1_36_log_records_openai_v2() -> None:
    """opentelemetry-instrumentation-openai-v2 sends content as log records (event name + body): the same reader."""
    records = []
    for path in sorted((FIXTURES / "openai_raw_otel_genai" / "logs").glob("*.pb")):
        req = ExportLogsServiceRequest.FromString(path.read_bytes())
        records += [r for rl in req.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    second = next(r.span_id for r in records if r.event_name == "gen_ai.tool.message")
    inp, out = messages_from_events((r.event_name, any_value(r.body)) for r in records if r.span_id == second)
    assert shape(inp) == PLANNER_IN
    assert [(c.id, c.name, c.arguments) for c in out[0].tool_calls] == [
        ("call_0020", "transfer_to_billing", '{"reason": "refund order A-1"}')
    ]
    assert out[0].finish_reason == "tool_calls"


def test_openinference_contents_and_values() -> None:
    """smolagents: message contents lists; a tool span with only input.value / output.value shows those."""
    ss = steps("smolagents_openinference")
    model = transcript(next(s for s in ss if s.step_type == "llm"))
    assert model.input[0].role == "system" and model.input[0].content.startswith("You are an expert assistant")
    assert [c.name for c in model.output[0].tool_calls] == ["researcher"]
    tool = transcript(next(s for s in ss if s.name == "SimpleTool"))
    assert [(m.role, [p.kind for p in m.parts]) for m in tool.input] == [("", [PartKind.DATA])]
    assert json.loads(tool.input[0].content)["kwargs"] == {"city": "Paris"}
    assert shape(tool.output) == [("", "Sunny, 21 C in Paris", [], "")]


def test_openllmetry_entity_values_and_langgraph_state() -> None:
    """A LangGraph node (OpenLLMetry task) is not a conversation: its state shows as one data part."""
    node = transcript(next(s for s in steps("langgraph_openllmetry") if s.name == "execute_task planner"))
    assert [p.kind for p in node.input[0].parts] == [PartKind.DATA]
    assert "inputs" in json.loads(node.input[0].content)


def test_tracehouse_sdk_tool_call_arguments_and_result() -> None:
    step = Step(
        "p", "t" * 32, "1" * 16, "", 0, 1, "execute_tool get_order", tool_name="get_order", tool_call_id="call_9"
    )
    step.attributes = {"gen_ai.tool.call.arguments": '{"order_id": "A-1"}', "gen_ai.tool.call.result": "delivered"}
    t = transcript(step)
    assert shape(t.input) == [("tool", "", [("get_order", '{"order_id": "A-1"}')], "")]
    assert t.input[0].tool_calls[0].id == "call_9"
    assert shape(t.output) == [("tool", "delivered", [], "call_9")]


def test_tracehouse_sdk_chat_messages_and_plain_text_answer() -> None:
    """The SDK's LLM spans: OpenAI-shaped input messages (with its own extra keys), the answer as plain text."""
    step = Step("p", "t" * 32, "1" * 16, "", 0, 1, "chat fake-small")
    step.attributes = {
        "gen_ai.input.messages": json.dumps(
            [
                {"role": "system", "content": "You are market_researcher."},
                {"role": "system", "content": 'Pinned state: {"goal": "x"}', "pinned": True},
                {"role": "user", "content": "How big is the market?"},
            ]
        ),
        "gen_ai.output.messages": "Market: 2.1 GW installed, 14% CAGR",
    }
    t = transcript(step)
    assert [m.role for m in t.input] == ["system", "system", "user"]
    assert shape(t.output) == [("assistant", "Market: 2.1 GW installed, 14% CAGR", [], "")]
    assert t.output[0].parts[0].kind is PartKind.TEXT
    empty = Step("p", "t" * 32, "2" * 16, "", 0, 1, "chat", attributes={"gen_ai.output.messages": ""})
    assert transcript(empty).empty


def test_older_genai_prompt_events_and_attributes() -> None:
    """<= 1.27: gen_ai.content.prompt / completion events carrying gen_ai.prompt / gen_ai.completion JSON."""
    step = Step("p", "t" * 32, "1" * 16, "", 0, 1, "chat")
    step.events = [
        Event(0, "gen_ai.content.prompt", {"gen_ai.prompt": '[{"role": "user", "content": "hi"}]'}),
        Event(1, "gen_ai.content.completion", {"gen_ai.completion": '[{"role": "assistant", "content": "hello"}]'}),
    ]
    t = transcript(step)
    assert shape(t.input) == [("user", "hi", [], "")] and shape(t.output) == [("assistant", "hello", [], "")]
    plain = Step("p", "t" * 32, "2" * 16, "", 0, 1, "chat", attributes={"gen_ai.prompt": "just text"})
    assert shape(transcript(plain).input) == [("user", "just text", [], "")]


def test_multimodal_parts_are_placeholders_never_data() -> None:
    image = "data:image/png;base64," + "A" * 500
    step = Step("p", "t" * 32, "1" * 16, "", 0, 1, "chat")
    step.attributes = {
        "gen_ai.input.messages": json.dumps(
            [
                {
                    "role": "user",
                    "parts": [
                        {"type": "text", "content": "what is this?"},
                        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "QUJD"},
                        {"type": "uri", "modality": "audio", "uri": "https://x.example/a.wav"},
                    ],
                },
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]},
            ]
        ),
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.contents.0.message_content.type": "image",
        "llm.output_messages.0.message.contents.0.message_content.image.image.url": image,
    }
    t = transcript(step)
    assert [[(p.kind, p.text) for p in m.parts] for m in t.input] == [
        [(PartKind.TEXT, "what is this?"), (PartKind.MEDIA, "image image/png"), (PartKind.MEDIA, "audio")],
        [(PartKind.MEDIA, "image")],
    ]
    assert t.input[0].content == "what is this?\n\n[image image/png]\n\n[audio]"
    assert "base64" not in json.dumps(shape(t.input)) and "QUJD" not in t.input[0].content
    assert [(p.kind, p.text) for p in transcript(step).output[0].parts] == [(PartKind.MEDIA, "image")]


def test_anthropic_blocks_split_tool_results_into_tool_messages() -> None:
    step = Step("p", "t" * 32, "1" * 16, "", 0, 1, "chat")
    step.attributes = {
        "gen_ai.prompt.0.role": "assistant",
        "gen_ai.prompt.0.content": json.dumps(
            [{"type": "text", "text": "checking"}, {"type": "tool_use", "id": "tu_1", "name": "f", "input": {"a": 1}}]
        ),
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": json.dumps(
            [{"type": "tool_result", "tool_use_id": "tu_1", "content": "42"}, {"type": "text", "text": "and?"}]
        ),
    }
    assert shape(transcript(step).input) == [
        ("assistant", "checking", [("f", '{"a": 1}')], ""),
        ("user", "and?", [], ""),
        ("tool", "42", [], "tu_1"),
    ]


@pytest.mark.parametrize(
    "value",
    [
        "not json at all",
        "[{]",
        "{",
        "[1, 2, 3]",
        '{"role": 5, "parts": "x"}',
        '[{"role": "user", "parts": [{"type": "tool_call", "arguments": {"deep": ' + "[" * 5000 + "]" * 5000 + "}}]}]",
        "[" * 100_000,
        '[{"role": "user", "parts": [null, 3, "s", {"type": "unknown", "x": 1}]}]',
        '"a json string"',
        "null",
    ],
)
def test_malformed_content_never_raises_and_stays_visible(value: str) -> None:
    step = Step("p", "t" * 32, "1" * 16, "", 0, 1, "chat", attributes={"gen_ai.input.messages": value})
    t = transcript(step)
    assert t.input, "the content shows somehow"
    shown = " ".join(m.content + " ".join(c.arguments for c in m.tool_calls) for m in t.input)
    assert shown.strip(), value[:40]


def test_json_cut_by_the_collectors_bound_keeps_its_complete_messages() -> None:
    full = json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": f"message {i} " + "x" * 300}]} for i in range(30)]
    )
    step = Step("p", "t" * 32, "1" * 16, "", 0, 1, "chat", attributes={"gen_ai.input.messages": full[:4096]})
    t = transcript(step)
    assert t.cut
    assert 5 < len(t.input) < 30
    assert [m.content.split(" ")[1] for m in t.input] == [str(i) for i in range(len(t.input))]


def test_sizes_are_bounded() -> None:
    many = {f"llm.input_messages.{i}.message.content": f"m{i}" for i in range(MAX_MESSAGES + 50)}
    many |= {f"llm.input_messages.{i}.message.role": "user" for i in range(MAX_MESSAGES + 50)}
    many["llm.output_messages.0.message.content"] = "y" * (MAX_PART_CHARS * 3)
    many["llm.input_messages.99999999.message.content"] = "far away index"
    step = Step("p", "t" * 32, "1" * 16, "", 0, 1, "chat", attributes=many)
    t = transcript(step)
    assert len(t.input) == MAX_MESSAGES and t.omitted == 50
    assert len(t.output[0].content) == MAX_PART_CHARS and t.output[0].truncated


def test_no_content_captured_means_no_messages() -> None:
    step = Step("p", "t" * 32, "1" * 16, "", 0, 1, "chat", attributes={"gen_ai.request.model": "m"})
    assert transcript(step).empty


def test_previews_are_the_last_resort() -> None:
    step = Step("p", "t" * 32, "1" * 16, "", 0, 1, "chat", input_preview="user: hi", output_preview="hello")
    t = transcript(step)
    assert [(m.role, m.content, m.parts[0].kind) for m in t.input + t.output] == [
        ("", "user: hi", PartKind.RAW),
        ("", "hello", PartKind.RAW),
    ]


def test_content_attributes_are_named_once() -> None:
    for key in (
        "gen_ai.input.messages",
        "llm.input_messages.0.message.role",
        "gen_ai.completion.0.content",
        "input.value",
    ):
        assert is_content_attribute(key)
    for key in ("gen_ai.request.model", "llm.model_name", "gen_ai.usage.input_tokens", "gen_ai.prompt_tokens"):
        assert not is_content_attribute(key)


def test_every_fixture_reads_without_error() -> None:
    for fx in fixtures():
        for s in steps(fx.name):
            t = transcript(s)
            for m in t.input + t.output:
                assert isinstance(m.content, str) and m.role == m.role.strip()
