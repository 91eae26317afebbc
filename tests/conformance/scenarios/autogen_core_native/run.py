"""AutoGen core runtime: a `planner` agent delegates to a `worker` agent by message; the worker runs two tools, one
failing. AutoGen's own runtime tracing (tracer_provider on the runtime) and GenAI agent/tool spans, with OTel's
openai-v2 instrumentation for the model calls.

Runs in the scenario's venv. The runtime starts a new trace for each message it delivers and joins them with span
links, so one run spreads over several traces: that is what this scenario captures.
"""

import asyncio
import json
from dataclasses import dataclass

from app_support import tool_run
from autogen_core import (
    AgentId,
    MessageContext,
    RoutedAgent,
    SingleThreadedAgentRuntime,
    message_handler,
    trace_invoke_agent_span,
)
from autogen_core.models import (
    AssistantMessage,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import FunctionTool
from autogen_ext.models.openai import OpenAIChatCompletionClient
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider(resource=Resource.create())
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
OpenAIInstrumentor().instrument(tracer_provider=provider)


@dataclass
class Task:
    text: str


@dataclass
class WorkOrder:
    plan: str


@dataclass
class Report:
    text: str


def get_weather(city: str) -> str:
    """Current weather for a city."""
    with tool_run("worker", "get_weather"):
        return f"Sunny, 21 C in {city}"


def flaky_lookup(query: str) -> str:
    """Look a fact up in a reference service (which is down)."""
    with tool_run("worker", "flaky_lookup"):
        raise RuntimeError(f"lookup service unavailable for {query!r}")


class Planner(RoutedAgent):
    def __init__(self, client: OpenAIChatCompletionClient) -> None:
        super().__init__("Plans the task and delegates it to the worker.")
        self.client = client

    @message_handler
    async def on_task(self, message: Task, ctx: MessageContext) -> Report:
        with trace_invoke_agent_span("planner", agent_id=str(self.id)):
            prompt: list[LLMMessage] = [
                SystemMessage(content="You are the planner. Write a one-line plan for the worker."),
                UserMessage(content=message.text, source="user"),
            ]
            plan = await self.client.create(prompt, cancellation_token=ctx.cancellation_token)
            return await self.send_message(WorkOrder(str(plan.content)), AgentId("worker", "default"))


class Worker(RoutedAgent):
    def __init__(self, client: OpenAIChatCompletionClient) -> None:
        super().__init__("Follows a plan with its tools.")
        self.client = client
        self.tools = {
            t.name: t
            for t in (
                FunctionTool(get_weather, "Current weather for a city."),
                FunctionTool(flaky_lookup, "Look a fact up in a reference service."),
            )
        }

    @message_handler
    async def on_work(self, message: WorkOrder, ctx: MessageContext) -> Report:
        with trace_invoke_agent_span("worker", agent_id=str(self.id)):
            convo: list[LLMMessage] = [
                SystemMessage(content="You are the worker. Follow the plan, use your tools, then report."),
                UserMessage(content=message.plan, source="planner"),
            ]
            tools = list(self.tools.values())
            first = await self.client.create(convo, tools=tools, cancellation_token=ctx.cancellation_token)
            if not isinstance(first.content, list):
                return Report(str(first.content))
            results = []
            for call in first.content:
                try:
                    out = await self.tools[call.name].run_json(
                        json.loads(call.arguments), ctx.cancellation_token, call.id
                    )
                    results.append(FunctionExecutionResult(content=str(out), call_id=call.id, name=call.name))
                except Exception as e:  # the model is told the tool failed, as any tool loop does
                    results.append(
                        FunctionExecutionResult(content=str(e), call_id=call.id, name=call.name, is_error=True)
                    )
            convo += [
                AssistantMessage(content=first.content, source="worker"),
                FunctionExecutionResultMessage(content=results),
            ]
            final = await self.client.create(convo, tools=tools, cancellation_token=ctx.cancellation_token)
            return Report(str(final.content))


async def main() -> None:
    client = OpenAIChatCompletionClient(model="gpt-4o-mini")
    runtime = SingleThreadedAgentRuntime(tracer_provider=provider)
    await Planner.register(runtime, "planner", lambda: Planner(client))
    await Worker.register(runtime, "worker", lambda: Worker(client))
    runtime.start()
    await runtime.send_message(
        Task("What is the weather in Paris, and how many people live there?"), AgentId("planner", "default")
    )
    await runtime.stop_when_idle()
    await client.close()


asyncio.run(main())
provider.force_flush()
provider.shutdown()
