"""The corpus harness speaks the real protocols: the real `openai` client parses every answer shape of the fake
server, the log records what was returned, and the capture receiver keeps a real exporter's request byte for byte."""

from __future__ import annotations

import http.client
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import InternalServerError, OpenAI
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

sys.path.insert(0, str(Path(__file__).resolve().parent / "harness"))

from capture import Capture
from fake_openai import FakeOpenAI, ModelRequest, Reply, ToolCall


def policy(req: ModelRequest) -> Reply:
    """Asks for two tools in parallel, answers once both results are back; 'fail' in the prompt is a 500."""
    if "fail" in req.user_text():
        return Reply("Broken", error_status=500)
    if req.api == "embeddings":
        return Reply("Indexer")
    if req.results("lookup") and req.results("fetch"):
        return Reply("Worker", text="both done")
    return Reply("Worker", tool_calls=(ToolCall("lookup", {"q": "a"}), ToolCall("fetch", {"id": 7})))


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(policy, tmp_path / "calls.jsonl") as server:
        yield server


def calls(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [json.loads(line) for line in fake.log.path.read_text().splitlines()]


def client(fake: FakeOpenAI) -> Any:
    """Typed as Any: the tests send the raw dict shapes frameworks send, which the client's TypedDicts reject."""
    return OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)


def test_chat_tool_round_trip_is_parsed_by_the_real_client_and_logged(fake: FakeOpenAI) -> None:
    c = client(fake)
    messages: list = [{"role": "user", "content": "go"}]
    first = c.chat.completions.create(model="gpt-4o-mini", messages=messages)
    calls_ = first.choices[0].message.tool_calls or []
    assert [tc.function.name for tc in calls_] == ["lookup", "fetch"]
    assert first.choices[0].finish_reason == "tool_calls"
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages += [{"role": "tool", "tool_call_id": tc.id, "content": "ok"} for tc in calls_]
    second = c.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert second.choices[0].message.content == "both done"
    log = calls(fake)
    assert [r["tool_calls"] for r in log] == [
        [{"name": "lookup", "id": tc.id} for tc in calls_[:1]] + [{"name": "fetch", "id": calls_[1].id}],
        [],
    ]
    assert (
        log[0]["input_tokens"] == first.usage.prompt_tokens
        and log[1]["output_tokens"] == second.usage.completion_tokens
    )
    assert log[1]["input_tokens"] > log[0]["input_tokens"]  # usage is a function of what was sent


def test_streamed_chat_reports_usage_only_when_asked(fake: FakeOpenAI) -> None:
    c = client(fake)
    messages = [{"role": "user", "content": "go"}]
    with_usage = list(
        c.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    assert with_usage[-1].usage is not None and with_usage[-1].choices == []
    names = [
        d.function.name
        for ch in with_usage
        for c_ in ch.choices
        for d in (c_.delta.tool_calls or [])
        if d.function.name
    ]
    assert names == ["lookup", "fetch"]
    without = list(c.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True))
    assert all(ch.usage is None for ch in without)
    log = calls(fake)
    assert log[0]["usage_returned"] and log[0]["input_tokens"] == with_usage[-1].usage.prompt_tokens
    assert not log[1]["usage_returned"] and log[1]["input_tokens"] is None


def test_responses_api_function_calls_plain_and_streamed(fake: FakeOpenAI) -> None:
    c = client(fake)
    resp = c.responses.create(model="gpt-4o-mini", input="go", instructions="You are Worker.")
    fcs = [o for o in resp.output if o.type == "function_call"]
    assert [f.name for f in fcs] == ["lookup", "fetch"] and resp.usage is not None
    follow = [
        *[f.model_dump() for f in fcs],
        *[{"type": "function_call_output", "call_id": f.call_id, "output": "ok"} for f in fcs],
    ]
    with c.responses.stream(model="gpt-4o-mini", input=[{"role": "user", "content": "go"}, *follow]) as stream:
        final = stream.get_final_response()
    assert final.output_text == "both done" and final.usage is not None
    assert [r["api"] for r in calls(fake)] == ["responses", "responses"]


def test_errors_and_embeddings_are_logged(fake: FakeOpenAI) -> None:
    c = client(fake)
    with pytest.raises(InternalServerError):
        c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "fail"}])
    emb = c.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(emb.data) == 2
    log = calls(fake)
    assert log[0]["error"] and log[0]["status"] == 500 and log[0]["input_tokens"] is None
    assert log[1]["agent"] == "Indexer" and log[1]["input_tokens"] == emb.usage.prompt_tokens


def test_capture_keeps_a_real_gzip_export_as_sent(tmp_path: Path) -> None:
    with Capture(tmp_path) as cap:
        exporter = OTLPSpanExporter(endpoint=f"{cap.endpoint}/v1/traces", compression=Compression.Gzip)
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("t").start_as_current_span("outer"):
            provider.get_tracer("t").start_span("inner").end()
        provider.shutdown()
    files = sorted((tmp_path / "requests").glob("*.pb"))
    assert [f.name for f in files] == ["0001.pb", "0002.pb"]
    names = [
        s.name
        for f in files
        for rs in ExportTraceServiceRequest.FromString(f.read_bytes()).resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    ]
    assert names == ["inner", "outer"]


def test_capture_reads_chunked_bodies_whole(tmp_path: Path) -> None:
    with Capture(tmp_path) as cap:
        conn = http.client.HTTPConnection(cap.endpoint.removeprefix("http://"))
        body = iter([b"\x0a\x00", b"", b"\x0a\x00"])  # two empty ResourceSpans, sent as chunks
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
        assert conn.getresponse().status == 200
        conn.close()
    sent = (tmp_path / "requests" / "0001.pb").read_bytes()
    assert sent == b"\x0a\x00\x0a\x00"
    assert len(ExportTraceServiceRequest.FromString(sent).resource_spans) == 2
