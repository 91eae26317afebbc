"""Benchmark of the normaliser alone: spans/s of `normalise_request` on one core for realistic multi-agent batches.

Each batch is 500 spans of GenAI traces (workflow -> agents -> chat calls with content + tool calls), about 15
attributes a span, as the OTel GenAI instrumentations send them. Run:

    .venv/bin/python tests/bench/bench_normalise.py [--batches 200] [--spans 500]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tracehouse.collector.normalise import normalise_request
from tracehouse.sdk.pricing import default_prices

AGENTS = ("triage", "billing", "refunds", "research")
TOOLS = ("lookup_order", "search_kb", "issue_refund", "get_invoice")
T0 = 1_700_000_000_000_000_000


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    if isinstance(value, list):
        out = KeyValue(key=key)
        out.value.array_value.values.extend(AnyValue(string_value=str(v)) for v in value)
        return out
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


class _Builder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.spans: list[Span] = []
        self.trace_id = b""
        self.clock = T0

    def add(
        self, name: str, parent: bytes, attrs: dict[str, Any], kind: int = Span.SpanKind.SPAN_KIND_INTERNAL
    ) -> bytes:
        span_id = self.rng.randbytes(8)
        start = self.clock
        self.clock += self.rng.randint(1_000_000, 900_000_000)
        span = Span(
            trace_id=self.trace_id,
            span_id=span_id,
            parent_span_id=parent,
            name=name,
            kind=kind,  # type: ignore[arg-type]
            start_time_unix_nano=start,
            end_time_unix_nano=self.clock,
            status=Status(code=Status.StatusCode.STATUS_CODE_UNSET),
        )
        span.attributes.extend(_kv(k, v) for k, v in attrs.items())
        self.spans.append(span)
        return span_id

    def chat(self, parent: bytes, agent: str, turn: int) -> None:
        messages = [
            {"role": "system", "parts": [{"type": "text", "content": f"You are the {agent} agent. Be precise."}]},
            {"role": "user", "parts": [{"type": "text", "content": f"Customer question number {turn}: " + "x" * 300}]},
        ]
        output = [{"role": "assistant", "parts": [{"type": "text", "content": "y" * 200}], "finish_reason": "stop"}]
        self.add(
            "chat gpt-4o-mini",
            parent,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.request.temperature": 0.2,
                "gen_ai.request.max_tokens": 1024,
                "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                "gen_ai.response.id": f"chatcmpl-{self.rng.getrandbits(48):x}",
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.usage.input_tokens": self.rng.randint(200, 4000),
                "gen_ai.usage.output_tokens": self.rng.randint(20, 800),
                "gen_ai.usage.cache_read.input_tokens": 128,
                "gen_ai.conversation.id": "conv-1",
                "server.address": "api.openai.com",
                "server.port": 443,
                "gen_ai.input.messages": json.dumps(messages),
                "gen_ai.output.messages": json.dumps(output),
            },
            Span.SpanKind.SPAN_KIND_CLIENT,
        )

    def tool(self, parent: bytes, agent: str) -> None:
        tool = self.rng.choice(TOOLS)
        self.add(
            f"execute_tool {tool}",
            parent,
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool,
                "gen_ai.tool.call.id": f"call_{self.rng.getrandbits(40):x}",
                "gen_ai.tool.type": "function",
                "gen_ai.tool.description": f"{tool} for the {agent} agent",
                "gen_ai.tool.call.arguments": json.dumps({"order_id": self.rng.randint(1, 10_000)}),
                "gen_ai.tool.call.result": json.dumps({"status": "ok", "items": [1, 2, 3]}),
                "gen_ai.conversation.id": "conv-1",
                "tracehouse.retry.attempt": 1,
                "code.function.name": tool,
                "thread.id": 1,
                "app.tenant": "acme",
                "app.region": "eu-west-1",
                "app.release": "2026.10.1",
                "app.feature_flag": True,
            },
        )

    def trace(self) -> None:
        self.trace_id = self.rng.randbytes(16)
        workflow = {"gen_ai.operation.name": "invoke_workflow", "gen_ai.agent.name": "support"}
        wf = self.add("invoke_workflow support", b"", {**workflow, "gen_ai.conversation.id": "conv-1"})
        for agent in self.rng.sample(AGENTS, 3):
            agent_id = self.add(
                f"invoke_agent {agent}",
                wf,
                {
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.agent.name": agent,
                    "gen_ai.agent.id": f"asst_{agent}",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.conversation.id": "conv-1",
                },
            )
            for turn in range(3):
                self.chat(agent_id, agent, turn)
                self.tool(agent_id, agent)


def build_batch(n_spans: int, seed: int) -> ExportTraceServiceRequest:
    builder = _Builder(random.Random(seed))
    while len(builder.spans) < n_spans:
        builder.trace()
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        [
            _kv("service.name", "support-bot"),
            _kv("service.version", "1.4.2"),
            _kv("telemetry.sdk.language", "python"),
            _kv("telemetry.sdk.name", "opentelemetry"),
            _kv("telemetry.sdk.version", "1.38.0"),
            _kv("deployment.environment.name", "prod"),
        ]
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "tracehouse.sdk"
    scope_spans.spans.extend(builder.spans[:n_spans])
    return request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--spans", type=int, default=500)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    prices = default_prices()
    # decode from bytes as the receiver does, so the benchmark measures protobuf message access like production
    payloads = [build_batch(args.spans, seed).SerializeToString() for seed in range(8)]
    requests = [ExportTraceServiceRequest.FromString(p) for p in payloads]
    n_attrs = sum(len(s.attributes) for s in requests[0].resource_spans[0].scope_spans[0].spans) / args.spans
    for request in requests:  # warm-up
        normalise_request(request, "bench", prices)
    per_batch: list[float] = []
    started = time.perf_counter()
    for i in range(args.batches):
        t = time.perf_counter()
        result = normalise_request(requests[i % len(requests)], "bench", prices)
        per_batch.append(time.perf_counter() - t)
        assert len(result.steps) == args.spans
    elapsed = time.perf_counter() - started
    spans = args.batches * args.spans
    print(
        f"normalise_request: {spans} spans in {args.batches} batches of {args.spans} "
        f"({n_attrs:.1f} attributes/span avg), one core"
    )
    print(
        f"  {spans / elapsed:,.0f} spans/s; batch p50 {statistics.median(per_batch) * 1000:.1f} ms, "
        f"p95 {statistics.quantiles(per_batch, n=20)[18] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
