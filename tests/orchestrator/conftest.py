"""Fixtures for the orchestrator suite: real spans (in-memory exporter), real SQLite, a fake clock and provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tracehouse.collector.normalise import normalise_request
from tracehouse.domain.model import Step
from tracehouse.orchestrator import BreakerConfig, BreakerRegistry, FakeClock, SQLiteStateStore
from tracehouse.sdk.pricing import default_prices

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(autouse=True)
def _tracing() -> None:
    """A global provider exporting to memory, for every test (the root conftest resets OpenTelemetry after each)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(provider)


class Spans:
    """The spans finished during one test, with helpers to read them."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._exporter = exporter

    def all(self) -> list[ReadableSpan]:
        return list(self._exporter.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.all() if s.name.startswith(prefix)]

    def by_op(self, op: str) -> list[ReadableSpan]:
        return [s for s in self.all() if (s.attributes or {}).get("gen_ai.operation.name") == op]

    def steps(self, trace_id: str) -> list[Step]:
        """The trace's spans as the collector would store them (OTLP encoding, then the real normaliser)."""
        mine = [s for s in self.all() if format(s.context.trace_id, "032x") == trace_id]
        return normalise_request(encode_spans(mine), "test", default_prices()).steps


@pytest.fixture
def spans() -> Iterator[Spans]:
    _EXPORTER.clear()
    yield Spans(_EXPORTER)
    _EXPORTER.clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStateStore]:
    s = SQLiteStateStore(tmp_path / "runs.db")
    yield s
    s.close()


@pytest.fixture
def breakers(clock: FakeClock) -> BreakerRegistry:
    return BreakerRegistry(BreakerConfig(jitter=0.0), clock)
