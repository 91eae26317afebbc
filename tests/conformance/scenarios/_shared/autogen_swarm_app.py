"""The AutoGen AgentChat app of the AutoGen Swarm scenarios: `triage` hands off to `specialist`, who runs one good and
one failing tool.

Runs in a scenario's venv. The tracer provider built here is also the global one, as a user sets it up, so AutoGen's
own runtime and agent spans go to the same exporter as the instrumentation's. The scenario's run.py installs its
instrumentation(s) on it, then calls `run(provider)`. The run ends on the specialist's TERMINATE.
"""

from __future__ import annotations

import asyncio

from app_support import tool_run
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import Swarm
from autogen_ext.models.openai import OpenAIChatCompletionClient
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def tracer_provider() -> TracerProvider:
    """The default exporter path; call before instrumenting."""
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def get_weather(city: str) -> str:
    """Current weather for a city."""
    with tool_run("specialist", "get_weather"):
        return f"Sunny, 21 C in {city}"


def flaky_lookup(city: str) -> str:
    """Detailed forecast for a city (its backend is down)."""
    with tool_run("specialist", "flaky_lookup"):
        raise RuntimeError(f"forecast backend unavailable for {city}")


async def swarm() -> None:
    client = OpenAIChatCompletionClient(model="gpt-4o-mini")
    triage = AssistantAgent(
        "triage",
        model_client=client,
        handoffs=["specialist"],
        system_message="You are triage. Hand weather questions off to the specialist.",
    )
    specialist = AssistantAgent(
        "specialist",
        model_client=client,
        tools=[get_weather, flaky_lookup],
        reflect_on_tool_use=True,
        system_message="You are the weather specialist. Use your tools, answer, then say TERMINATE.",
    )
    stop = TextMentionTermination("TERMINATE") | MaxMessageTermination(12)
    await Swarm([triage, specialist], termination_condition=stop).run(task="What is the weather in Paris?")
    await client.close()


def run(provider: TracerProvider) -> None:
    """One Swarm run, then a forced flush so every span is exported before the process ends."""
    asyncio.run(swarm())
    provider.force_flush()
    provider.shutdown()
