"""pydantic-ai with its native OpenTelemetry GenAI instrumentation: a coordinator delegates to a hotel agent from
inside one of its tools (pydantic-ai's agent delegation pattern); the hotel agent's booking tool fails.

A pydantic-ai tool fails by raising ModelRetry, which sends the error back to the model (any other exception would
abort the whole run).
"""

from __future__ import annotations

from app_support import tool_run
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from pydantic_ai import Agent, ModelRetry, RunContext
from pydantic_ai.models.instrumented import InstrumentationSettings

provider = TracerProvider(resource=Resource.create())
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
Agent.instrument_all(InstrumentationSettings(tracer_provider=provider))

hotel_agent = Agent(
    "openai:gpt-4o-mini",
    name="Hotel agent",
    instructions="You are Hotel agent. Book hotels with your tool.",
)
coordinator = Agent(
    "openai:gpt-4o-mini",
    name="Coordinator",
    instructions="You are Coordinator. Plan trips; delegate hotel bookings to the hotel agent.",
)


@hotel_agent.tool_plain
def book_hotel(city: str) -> str:
    """Book a hotel room in a city."""
    with tool_run("Hotel agent", "book_hotel"):
        raise ModelRetry(f"no rooms left in {city}")


@coordinator.tool_plain
def lookup_flight(city: str) -> str:
    """Find a flight to a city."""
    with tool_run("Coordinator", "lookup_flight"):
        return f"Flight AZ123 to {city}, 09:40"


@coordinator.tool
async def delegate_to_hotel_agent(ctx: RunContext[None], city: str) -> str:
    """Ask the hotel agent to book a room."""
    with tool_run("Coordinator", "delegate_to_hotel_agent"):
        result = await hotel_agent.run(f"Book a hotel in {city}.", usage=ctx.usage)
        return result.output


print("final answer:", coordinator.run_sync("Plan my trip to Rome.").output)
provider.force_flush()
provider.shutdown()
