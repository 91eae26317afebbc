"""LlamaIndex agents, agent-as-tool: a `manager` FunctionAgent asks a `researcher` FunctionAgent through a tool; the
researcher runs one good and one failing tool (OpenInference's llama-index instrumentation).

Runs in the scenario's venv. `streaming=False` because llama-index-llms-openai does not ask for usage on streamed
calls, and the corpus needs the usage on the wire.
"""

import asyncio
import os

from app_support import tool_run
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.llms.openai import OpenAI
from openinference.instrumentation.llama_index import LlamaIndexInstrumentor
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider(resource=Resource.create())
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
LlamaIndexInstrumentor().instrument(tracer_provider=provider)

llm = OpenAI(model="gpt-4o-mini", api_base=os.environ["OPENAI_BASE_URL"], api_key=os.environ["OPENAI_API_KEY"])


def get_weather(city: str) -> str:
    """Current weather for a city."""
    with tool_run("researcher", "get_weather"):
        return f"Sunny, 21 C in {city}"


def flaky_lookup(query: str) -> str:
    """Look a fact up in a reference service (which is down)."""
    with tool_run("researcher", "flaky_lookup"):
        raise RuntimeError(f"lookup service unavailable for {query!r}")


researcher = FunctionAgent(
    name="researcher",
    description="Finds facts about a city with its tools.",
    system_prompt="You are the researcher. Use your tools, then report.",
    tools=[get_weather, flaky_lookup],
    llm=llm,
    streaming=False,
)


async def ask_researcher(question: str) -> str:
    """Ask the researcher agent a question about a city."""
    with tool_run("manager", "ask_researcher"):
        return str(await researcher.run(user_msg=question))


manager = FunctionAgent(
    name="manager",
    description="Answers the user, asking the researcher for facts.",
    system_prompt="You are the manager. Ask the researcher, then answer the user.",
    tools=[ask_researcher],
    llm=llm,
    streaming=False,
)


async def main() -> None:
    await manager.run(user_msg="What is the weather in Paris, and how many people live there?")


asyncio.run(main())
provider.force_flush()
provider.shutdown()
