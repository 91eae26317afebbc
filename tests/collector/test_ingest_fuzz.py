"""Fuzzing the receivers: a bounded number of random and mutated OTLP bodies over HTTP and gRPC against a real
server. Every answer is a clean 2xx/4xx (gRPC OK/INVALID_ARGUMENT), nothing ends in quarantine, and afterwards the
writer still writes: every canary span is readable (issue 12, "Done when").

Seeded `random` (hypothesis is not a dependency): a failure names its seed, so it replays exactly.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.collector.otlp_builders import make_request, make_span
from tests.collector.test_durability import stored_spans

SEED = 20261201
_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
_KEYS = [
    "gen_ai.operation.name",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "gen_ai.usage.cache_read_input_tokens",
    "tracehouse.retry.attempt",
    "tracehouse.cost.usd",
    "llm.cost.total",
    "gen_ai.agent.name",
    "gen_ai.tool.name",
    "gen_ai.request.model",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.response.finish_reasons",
    "openinference.span.kind",
    "traceloop.span.kind",
    "gen_ai.prompt.0.content",
    "gen_ai.completion.0.role",
    "tracehouse.handoff.target",
    "error.type",
    "service.name",
]
_OPS = ["chat", "execute_tool", "invoke_agent", "embeddings", "LLM", "TOOL", "AGENT", "workflow", "", "x" * 300]


def _number(rnd: random.Random) -> Any:
    return rnd.choice(
        [
            0,
            1,
            -1,
            2**31,
            2**32 - 1,
            2**32,
            2**40,
            2**63 - 1,
            -(2**63),
            1e300,
            -1e-300,
            0.5,
            float("inf"),
            float("-inf"),
            float("nan"),
            rnd.randint(-(2**63), 2**63 - 1),
        ]
    )


def _text(rnd: random.Random) -> str:
    return rnd.choice(
        [
            "",
            "chat",
            "9" * 40,
            "1e400",
            "-5",
            "[1,2",
            '[{"finish_reason":"stop","name":"transfer_to_b"}]',
            "{" * 200,
            "\u0000\u202e\U0001f600",
            "x" * rnd.randint(0, 10_000),
            json.dumps([{"role": "user", "content": "hi"}]),
        ]
    )


def _value(rnd: random.Random, depth: int = 0) -> AnyValue:
    kind = rnd.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return AnyValue(string_value=_text(rnd))
    if kind == 1:
        number = _number(rnd)
        return AnyValue(double_value=float(number)) if isinstance(number, float) else AnyValue(int_value=number)
    if kind == 2:
        return AnyValue(double_value=float(_number(rnd)))
    if kind == 3:
        return AnyValue(bool_value=rnd.random() < 0.5)
    if kind == 4:
        return AnyValue(bytes_value=rnd.randbytes(rnd.randint(0, 40)))
    out = AnyValue()
    if kind == 5:
        out.array_value.values.extend(_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4)))
    else:
        for _ in range(rnd.randint(0, 4)):
            out.kvlist_value.values.add(key=rnd.choice(_KEYS), value=_value(rnd, depth + 1))
    return out


def _time(rnd: random.Random, now: int) -> int:
    return rnd.choice(
        [
            0,
            1,
            now,
            now + rnd.randint(-(10**12), 10**12),
            2**63 - 1,
            2**63,
            2**64 - 1,
            now + 2 * 86_400 * 10**9,
            946_684_800 * 10**9 - 1,
        ]
    )


def _structured(rnd: random.Random) -> bytes:
    """A request whose fields are well-typed protobuf but whose values are anything the types allow."""
    now = time.time_ns()
    request = ExportTraceServiceRequest()
    for _ in range(rnd.randint(0, 3)):
        rs = request.resource_spans.add()
        rs.resource.attributes.add(key="service.name", value=_value(rnd))
        ss = rs.scope_spans.add()
        ss.scope.name = _text(rnd)[:100]
        trace_id = rnd.choice([rnd.randbytes(16), bytes(16), rnd.randbytes(8), b""])
        for _ in range(rnd.randint(0, 6)):
            span = ss.spans.add()
            span.trace_id = trace_id if rnd.random() < 0.8 else rnd.randbytes(16)
            span.span_id = rnd.choice([rnd.randbytes(8), rnd.randbytes(8), bytes(8), rnd.randbytes(3)])
            span.parent_span_id = rnd.choice([b"", rnd.randbytes(8), bytes(8), rnd.randbytes(5)])
            span.name = _text(rnd)[:500]
            span.kind = rnd.choice([0, 1, 3, 5, 7, 1000])
            span.status.code = rnd.choice([0, 1, 2, 99])
            start = _time(rnd, now) if rnd.random() < 0.3 else now
            span.start_time_unix_nano = start
            span.end_time_unix_nano = min(start + rnd.randint(0, 10**9), 2**64 - 1) if rnd.random() < 0.8 else 0
            for _ in range(rnd.randint(0, 8)):
                key = rnd.choice(_KEYS)
                value = AnyValue(string_value=rnd.choice(_OPS)) if key.endswith(("operation.name", "kind")) else None
                span.attributes.add(key=key, value=value or _value(rnd))
            for _ in range(rnd.randint(0, 3)):
                event = span.events.add(name=rnd.choice(["exception", "gen_ai.content.prompt", _text(rnd)[:50]]))
                event.time_unix_nano = _time(rnd, now) if rnd.random() < 0.3 else now
                event.attributes.add(key=rnd.choice(["exception.message", "gen_ai.prompt", "x"]), value=_value(rnd))
            for _ in range(rnd.randint(0, 2)):
                span.links.add(trace_id=rnd.randbytes(rnd.choice([16, 3])), span_id=rnd.randbytes(8))
    return request.SerializeToString()


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rnd.randint(1, 8)):
        op = rnd.randrange(4)
        at = rnd.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[min(at, len(buf) - 1)] = rnd.randrange(256)
        elif op == 1:
            buf[at:at] = rnd.randbytes(rnd.randint(1, 16))
        elif op == 2:
            del buf[at : at + rnd.randint(1, 32)]
        else:
            buf = buf[:at]
    return bytes(buf)


def _json_body(rnd: random.Random) -> bytes:
    request = ExportTraceServiceRequest.FromString(_structured(rnd))
    from google.protobuf.json_format import MessageToDict

    doc: Any = MessageToDict(request)
    text = json.dumps(doc)
    if rnd.random() < 0.5:
        return _mutate(rnd, text.encode())
    return text.encode()


def _post(server: Any, body: bytes, kind: str) -> int:
    r = httpx.post(
        f"{server.url}/v1/traces", content=body, timeout=30, headers={**server.headers, "content-type": kind}
    )
    return r.status_code


def test_fuzzed_bodies_get_clean_answers_and_the_writer_keeps_writing(server: Any) -> None:
    rnd = random.Random(SEED)
    valid = _structured(random.Random(SEED + 1))
    answers: dict[int, int] = {}
    deadline = time.monotonic() + 15
    sent = 0
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        export = channel.unary_unary(_EXPORT)
        metadata = (("authorization", f"Bearer {server.api_key}"),)
        while time.monotonic() < deadline and sent < 600:
            sent += 1
            choice = rnd.randrange(5)
            if choice == 0:
                body, kind = _structured(rnd), "application/x-protobuf"
            elif choice == 1:
                body, kind = _mutate(rnd, rnd.choice([valid, _structured(rnd)])), "application/x-protobuf"
            elif choice == 2:
                body, kind = _json_body(rnd), "application/json"
            elif choice == 3:
                kind = rnd.choice(["application/x-protobuf", "application/json"])
                body = rnd.randbytes(rnd.randint(0, 2000))
            else:
                body, kind = rnd.choice([_structured(rnd), _mutate(rnd, valid)]), "grpc"
            if kind == "grpc":
                try:
                    export(body, timeout=30, metadata=metadata)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as exc:
                    code = exc.code()
                assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), (SEED, sent, code)
                status = 200 if code == grpc.StatusCode.OK else 400
            else:
                status = _post(server, body, kind)
                assert status in (200, 400), (SEED, sent, status, body[:200])
            answers[status] = answers.get(status, 0) + 1
    print(f"fuzz: {sent} bodies, answers {answers}")
    assert answers.get(200, 0) > 20 and answers.get(400, 0) > 20, answers

    canaries: dict[str, int] = {}
    now = time.time_ns()
    for _ in range(5):
        trace_id = os.urandom(16)
        spans = [
            make_span(f"canary {i}", trace_id=trace_id, span_id=os.urandom(8), start=now, end=now + 10**6)
            for i in range(3)
        ]
        assert _post(server, make_request(*spans).SerializeToString(), "application/x-protobuf") == 200
        canaries[trace_id.hex()] = 3
    assert stored_spans(server, list(canaries), timeout=60) == canaries
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["status"] == "ready" and not any("quarantine" in p for p in ready["problems"]), ready
    assert "Traceback" not in server.log(), server.log()[-4000:]
