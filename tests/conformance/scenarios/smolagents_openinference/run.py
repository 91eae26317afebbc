"""smolagents: a `manager` ToolCallingAgent with a managed `researcher` agent that runs one good and one failing tool
(OpenInference's smolagents instrumentation).

Runs in the scenario's venv. The manager calls the researcher as a tool named after it; both end with
smolagents' `final_answer` tool.
"""

import os

from app_support import tool_run
from openinference.instrumentation.smolagents import SmolagentsInstrumentor
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from smolagents import LogLevel, OpenAIServerModel, ToolCallingAgent, tool

provider = TracerProvider(resource=Resource.create())
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
SmolagentsInstrumentor().instrument(tracer_provider=provider)


@tool
def get_weather(city: str) -> str:
    """Current weather for a city.

    Args:
        city: the city's name.
    """
    with tool_run("researcher", "get_weather"):
        return f"Sunny, 21 C in {city}"


@tool
def flaky_lookup(query: str) -> str:
    """Look a fact up in a reference service (which is down).

    Args:
        query: what to look up.
    """
    with tool_run("researcher", "flaky_lookup"):
        raise RuntimeError(f"lookup service unavailable for {query!r}")


model = OpenAIServerModel(
    model_id="gpt-4o-mini", api_base=os.environ["OPENAI_BASE_URL"], api_key=os.environ["OPENAI_API_KEY"]
)
researcher = ToolCallingAgent(
    tools=[get_weather, flaky_lookup],
    model=model,
    name="researcher",
    description="Finds facts about a city with its tools.",
    max_steps=4,
    verbosity_level=LogLevel.OFF,
)
manager = ToolCallingAgent(
    tools=[], model=model, managed_agents=[researcher], name="manager", max_steps=4, verbosity_level=LogLevel.OFF
)
manager.run("What is the weather in Paris, and how many people live there?")
provider.force_flush()
provider.shutdown()
