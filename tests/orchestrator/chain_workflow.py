"""A 5-step chain with a side-effecting tool, shared by the crash tests (also run as a child process to SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from tracehouse.orchestrator import Agent, FakeProvider, ModelRequest, ModelResponse, Orchestrator, Sequential
from tracehouse.orchestrator.state import SQLiteStateStore


class LoggingProvider(FakeProvider):
    """Counts calls in a file, so calls made by a killed process are still counted."""

    def __init__(self, log: Path) -> None:
        super().__init__(default=lambda req: f"{req.agent} says {len(req.messages[-1]['content'])}")
        self.log = log

    def complete(self, request: ModelRequest) -> ModelResponse:
        with self.log.open("a") as f:
            f.write(request.agent + "\n")
        return super().complete(request)


def calls(log: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    if log.exists():
        for line in log.read_text().split():
            out[line] = out.get(line, 0) + 1
    return out


class Service:
    """A fake external service that applies each idempotency key at most once; it logs every call."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def apply(self, effect_key: str, amount: int) -> dict[str, Any]:
        data = json.loads(self.path.read_text()) if self.path.exists() else {"calls": [], "applied": {}}
        data["calls"].append(effect_key)
        data["applied"].setdefault(effect_key, amount)
        self.path.write_text(json.dumps(data))
        return {"charged": amount, "key": effect_key}

    def state(self) -> dict[str, Any]:
        return json.loads(self.path.read_text()) if self.path.exists() else {"calls": [], "applied": {}}


def build(
    db: Path, log: Path, service: Path, *, crash_at: str | None = None, idempotent: bool = True, version: str = "1"
) -> Orchestrator:
    svc = Service(service)

    def step(i: int) -> Agent:
        def run(ctx: Any) -> dict[str, Any]:
            if crash_at == f"before_s{i}":
                os.kill(os.getpid(), signal.SIGKILL)
            prev = ctx.state.get(f"s{i - 1}", "start")
            text = ctx.llm(f"step {i} continues from {prev}").text
            if i == 3:

                def charge(amount: int, effect_key: str) -> dict[str, Any]:
                    out = svc.apply(effect_key, amount)
                    if crash_at == "inside_effect":
                        os.kill(os.getpid(), signal.SIGKILL)
                    return out

                receipt = ctx.tool("charge_card", charge, {"amount": 42}, side_effect=True, idempotent=idempotent)
                text += f" charged {receipt['charged']}"
            return {f"s{i}": text}

        reads = [f"s{i - 1}"] if i > 1 else []
        return Agent(f"s{i}", run, reads=reads, writes=[f"s{i}"], version=version)

    return Orchestrator(
        "test.chain",
        Sequential("chain", [step(i) for i in range(1, 6)]),
        store=SQLiteStateStore(db),
        provider=LoggingProvider(log),
    )


class JsonlExporter(SpanExporter):
    """Writes each exported span as a JSON line: what a collector would have received before the process died."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self.path.open("a") as f:
            for s in spans:
                f.write(
                    json.dumps(
                        {
                            "name": s.name,
                            "trace_id": format(s.context.trace_id, "032x"),
                            "span_id": format(s.context.span_id, "016x"),
                            "parent": format(s.parent.span_id, "016x") if s.parent else None,
                        }
                    )
                    + "\n"
                )
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


if __name__ == "__main__":
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()  # real trace ids; exported to a file only when asked to
    db, log, service, crash = sys.argv[1:5]
    spans_file, key = sys.argv[6:8]
    if spans_file:  # a batch processor that would wait 60 s: only the orchestrator's flushes export in time
        provider.add_span_processor(BatchSpanProcessor(JsonlExporter(Path(spans_file)), schedule_delay_millis=60_000))
    trace.set_tracer_provider(provider)
    result = build(Path(db), Path(log), Path(service), crash_at=crash or None, idempotent=sys.argv[5] == "1").run(
        {"topic": "tides"}, trace_id=key or None
    )
    print(json.dumps({"status": result.status, "trace_id": result.trace_id}))
