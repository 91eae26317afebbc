"""CrewAI hierarchical crew: a `Manager` agent delegates to a `Researcher` agent, who runs one good and one failing
tool (OpenInference's crewai instrumentation, with its openai one for the model calls CrewAI's native OpenAI
provider makes).

Runs in the scenario's venv. CrewAI's own telemetry and tracing are off (the harness sets their variables).
"""

from app_support import tool_run
from crewai import Agent, Crew, Process, Task
from crewai.tools import tool
from openinference.instrumentation.crewai import CrewAIInstrumentor
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider(resource=Resource.create())
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
CrewAIInstrumentor().instrument(tracer_provider=provider)
OpenAIInstrumentor().instrument(tracer_provider=provider)


@tool("get_weather")
def get_weather(city: str) -> str:
    """Current weather for a city."""
    with tool_run("Researcher", "get_weather"):
        return f"Sunny, 21 C in {city}"


@tool("flaky_lookup")
def flaky_lookup(query: str) -> str:
    """Look a fact up in a reference service (which is down)."""
    with tool_run("Researcher", "flaky_lookup"):
        raise RuntimeError(f"lookup service unavailable for {query!r}")


researcher = Agent(
    role="Researcher",
    goal="Find facts about cities.",
    backstory="You look facts up with your tools.",
    tools=[get_weather, flaky_lookup],
    llm="gpt-4o-mini",
    allow_delegation=False,
    max_iter=4,
)
manager = Agent(
    role="Manager",
    goal="Answer the user by delegating research.",
    backstory="You delegate research to your coworkers.",
    llm="gpt-4o-mini",
    allow_delegation=True,
    max_iter=4,
)
task = Task(
    description="What is the weather in Paris, and how many people live there?",
    expected_output="One short paragraph.",
)
crew = Crew(agents=[researcher], tasks=[task], manager_agent=manager, process=Process.hierarchical)
crew.kickoff()
provider.force_flush()
provider.shutdown()
