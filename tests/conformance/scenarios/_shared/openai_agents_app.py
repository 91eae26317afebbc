"""The OpenAI Agents SDK app: a triage agent hands off to a weather specialist with one good and one failing tool.

Runs in a scenario's venv. The scenario's run.py installs its instrumentation on the tracer provider this module
builds (BatchSpanProcessor + OTLP/HTTP protobuf exporter, configured by OTEL_EXPORTER_OTLP_* from the harness), then
calls `run()`. The SDK's own trace processor (which would upload to OpenAI's backend) is removed first, so the only
exporter is the instrumentation's. With CONFORMANCE_AGENTS_API=chat_streamed the agents use the Chat Completions
model and the run is streamed (`Runner.run_streamed`); otherwise the SDK's default Responses API, not streamed.
"""

from __future__ import annotations

import asyncio
import os

from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_trace_processors
from app_support import tool_run
from openai import AsyncOpenAI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

MODEL = "gpt-4o-mini"
SPECIALIST = "Weather specialist"


def tracer_provider() -> TracerProvider:
    """The default exporter path; call before instrumenting. Also drops the SDK's upload-to-OpenAI processor."""
    set_trace_processors([])
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


@function_tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    with tool_run(SPECIALIST, "get_weather"):
        return f"Sunny, 21 C in {city}"


@function_tool
def flaky_lookup(city: str) -> str:
    """Detailed forecast for a city (its backend is down)."""
    with tool_run(SPECIALIST, "flaky_lookup"):
        raise RuntimeError(f"forecast backend unavailable for {city}")


def streamed() -> bool:
    return os.environ.get("CONFORMANCE_AGENTS_API") == "chat_streamed"


def agents() -> Agent:
    model = OpenAIChatCompletionsModel(MODEL, AsyncOpenAI()) if streamed() else MODEL
    specialist = Agent(
        name=SPECIALIST,
        instructions=f"You are {SPECIALIST}. Answer weather questions with your tools.",
        model=model,
        tools=[get_weather, flaky_lookup],
    )
    return Agent(
        name="Triage",
        instructions="You are Triage. Hand weather questions to the weather specialist.",
        model=model,
        handoffs=[specialist],
    )


async def _streamed(question: str) -> str:
    result = Runner.run_streamed(agents(), question, max_turns=20)
    async for _ in result.stream_events():
        pass
    return str(result.final_output)


def run(provider: TracerProvider) -> None:
    question = "What is the weather in Paris?"
    if streamed():
        print("final output:", asyncio.run(_streamed(question)))
    else:
        print("final output:", asyncio.run(Runner.run(agents(), question, max_turns=20)).final_output)
    provider.force_flush()
    provider.shutdown()
