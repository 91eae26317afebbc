"""Helpers shared by the SDK tests: a recorder of the spans `init` exported to OpenTelemetry's in-memory exporter."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tracehouse import sdk


@dataclass
class Recorder:
    exporter: InMemorySpanExporter
    provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        assert sdk.force_flush(), "flush did not finish"
        return list(self.exporter.get_finished_spans())

    def one(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, f"expected one span {name!r}, got {[s.name for s in self.spans()]}"
        return found[0]


def make_recorder(**init_kwargs: object) -> Recorder:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    sdk.init(tracer_provider=provider, exporter=exporter, **init_kwargs)  # type: ignore[arg-type]
    return Recorder(exporter, provider)
