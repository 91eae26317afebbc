"""The Strands Agents app, native GenAI telemetry: an orchestrator uses a researcher agent as a tool (Strands'
agents-as-tools pattern); the researcher runs a good and a failing tool in one step.

Strands' OpenAI model streams chat completions with usage; a failing tool becomes an error tool result for the model.
"""

from __future__ import annotations

import os

from app_support import tool_run
from strands import Agent, tool
from strands.models.openai import OpenAIModel
from strands.telemetry import StrandsTelemetry

MODEL = OpenAIModel(
    client_args={"base_url": os.environ["OPENAI_BASE_URL"], "api_key": os.environ["OPENAI_API_KEY"]},
    model_id="gpt-4o-mini",
)


@tool
def web_search(query: str) -> str:
    """Search the web."""
    with tool_run("Researcher", "web_search"):
        return f"3 results for {query}: OTLP is the OpenTelemetry protocol."


@tool
def flaky_fetch(url: str) -> str:
    """Fetch a page (its backend is down)."""
    with tool_run("Researcher", "flaky_fetch"):
        raise RuntimeError(f"fetch failed for {url}")


@tool
def research_assistant(query: str) -> str:
    """Ask the researcher agent a question."""
    with tool_run("Orchestrator", "research_assistant"):
        researcher = Agent(
            name="Researcher",
            model=MODEL,
            system_prompt="You are Researcher. Search, then answer briefly.",
            tools=[web_search, flaky_fetch],
            callback_handler=None,
        )
        return str(researcher(query))


def run() -> None:
    telemetry = StrandsTelemetry()
    telemetry.setup_otlp_exporter()  # BatchSpanProcessor + OTLP/HTTP exporter from OTEL_EXPORTER_OTLP_*
    orchestrator = Agent(
        name="Orchestrator",
        model=MODEL,
        system_prompt="You are Orchestrator. Send research questions to the research assistant.",
        tools=[research_assistant],
        callback_handler=None,
    )
    print("final answer:", orchestrator("What is OTLP?"))
    telemetry.tracer_provider.force_flush()
    telemetry.tracer_provider.shutdown()
