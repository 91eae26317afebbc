"""Google ADK: a `coordinator` agent transfers to its `weather_agent` sub-agent, which runs one good and one failing
tool. The model is reached through LiteLLM's OpenAI provider; the spans are ADK's own (global tracer provider).

Runs in the scenario's venv. A raising tool would end the ADK run, so the weather agent's `on_tool_error_callback`
turns the exception into an error result for the model, as an ADK app that survives tool failures does.
"""

import asyncio
import os
from typing import Any

from app_support import tool_run
from google.adk.agents import LlmAgent
from google.adk.models.lite_llm import LiteLlm
from google.adk.runners import InMemoryRunner
from google.genai import types
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider(resource=Resource.create())
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)


def get_weather(city: str) -> str:
    """Current weather for a city."""
    with tool_run("weather_agent", "get_weather"):
        return f"Sunny, 21 C in {city}"


def flaky_lookup(query: str) -> str:
    """Look a fact up in a reference service (which is down)."""
    with tool_run("weather_agent", "flaky_lookup"):
        raise RuntimeError(f"lookup service unavailable for {query!r}")


def tool_failed(tool: Any, args: dict[str, Any], tool_context: Any, error: Exception) -> dict[str, Any]:
    return {"error": str(error)}


model = LiteLlm(
    model="openai/gpt-4o-mini", api_base=os.environ["OPENAI_BASE_URL"], api_key=os.environ["OPENAI_API_KEY"]
)
weather_agent = LlmAgent(
    name="weather_agent",
    model=model,
    description="Answers weather and city questions with its tools.",
    instruction="You are the weather agent. Use your tools, then answer.",
    tools=[get_weather, flaky_lookup],
    on_tool_error_callback=tool_failed,
)
coordinator = LlmAgent(
    name="coordinator",
    model=model,
    description="Routes the user's question.",
    instruction="You are the coordinator. Transfer weather questions to weather_agent.",
    sub_agents=[weather_agent],
)


async def main() -> None:
    runner = InMemoryRunner(agent=coordinator, app_name="conformance")
    session = await runner.session_service.create_session(app_name="conformance", user_id="user")
    question = types.Content(
        role="user", parts=[types.Part(text="What is the weather in Paris, and how many people live there?")]
    )
    async for _ in runner.run_async(user_id="user", session_id=session.id, new_message=question):
        pass
    await runner.close()


asyncio.run(main())
provider.force_flush()
provider.shutdown()
