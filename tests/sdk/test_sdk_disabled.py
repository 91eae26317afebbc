"""With tracing off (no init, TRACEHOUSE_DISABLED=1) every step is a no-op and the application behaves the same."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.trace import INVALID_SPAN

from tests.sdk.sdk_testing import make_recorder
from tracehouse import sdk


@sdk.agent("planner")
def plan(goal: str) -> list[str]:
    return [goal, goal]


@sdk.tool("count")
def count(n: int) -> Iterator[int]:
    yield from range(n)


@sdk.agent("async")
async def ask(x: int) -> int:
    await asyncio.sleep(0)
    return x + 1


@sdk.tool("agen")
async def agen(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


@sdk.tool("fails")
def fails() -> None:
    raise LookupError("nope")


def _exercise() -> list[object]:
    out: list[object] = [plan("g"), list(count(3)), asyncio.run(ask(1))]

    async def collect() -> list[int]:
        return [i async for i in agen(2)]

    out.append(asyncio.run(collect()))
    with pytest.raises(LookupError):
        fails()
    with sdk.agent("cm") as step, sdk.llm_call("gpt-4o", "openai") as call:
        step.set_input({"a": 1})
        step.set_attribute("k", "v")
        call.set_usage(1, 2)
        call.set_response(model="m")
        out.append(step.span is INVALID_SPAN)
    return out


def test_no_init_is_a_no_op_with_identical_results() -> None:
    assert not sdk.is_enabled()
    assert _exercise() == [["g", "g"], [0, 1, 2], 2, [0, 1], True]
    assert sdk.current_agent() is None


def test_disabled_env_wins_over_init(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEHOUSE_DISABLED", "1")
    rec = make_recorder()
    assert not sdk.is_enabled()
    assert _exercise()[-1] is True
    assert rec.spans() == []
    assert sdk.instrument("openai") == []


def test_results_are_the_same_when_enabled() -> None:
    make_recorder()
    assert sdk.is_enabled()
    assert _exercise()[:4] == [["g", "g"], [0, 1, 2], 2, [0, 1]]


def test_init_twice_is_harmless() -> None:
    rec = make_recorder()
    sdk.init(endpoint="http://127.0.0.1:1")  # ignored: already initialised
    with sdk.agent("a"):
        pass
    assert [s.name for s in rec.spans()] == ["invoke_agent a"]


_APP_PROVIDER = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tracehouse import sdk
mem = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(mem))
provider.add_span_processor(sdk.AgentNameProcessor())
trace.set_tracer_provider(provider)
with sdk.agent("a"):
    with trace.get_tracer("app").start_as_current_span("app-span"):
        pass
print(sorted((s.name, s.attributes.get("gen_ai.agent.name")) for s in mem.get_finished_spans()))
"""


def test_without_init_an_application_provider_receives_the_spans() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEHOUSE_"))}
    out = subprocess.run([sys.executable, "-c", _APP_PROVIDER], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[('app-span', 'a'), ('invoke_agent a', 'a')]"
