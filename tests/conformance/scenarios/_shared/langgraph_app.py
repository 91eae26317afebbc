"""The LangGraph app of the LangGraph scenarios: a planner node, a worker node and a tool node, one tool failing.

Runs in a scenario's venv. The scenario's run.py installs its instrumentation on the tracer provider built here
(BatchSpanProcessor + OTLP/HTTP protobuf exporter, configured by OTEL_EXPORTER_OTLP_* from the harness), then calls
`run(provider, rounds)`.

The planner writes a plan and hands off to the worker; the worker calls `get_weather` and `flaky_lookup` (which
always raises) through LangGraph's `ToolNode`, then answers. With `rounds` > 1 the worker hands back to the planner
until the rounds are used up. Routing is the graph's (a round counter), never the model's text, so the structure is
known before the run, and every planner turn sees the same input: that is the planted hand-off loop.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from app_support import tool_run
from langchain_core.messages import AnyMessage, HumanMessage, RemoveMessage, SystemMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import REMOVE_ALL_MESSAGES, add_messages
from langgraph.prebuilt import ToolNode
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

MODEL = "gpt-4o-mini"
TASK = "What is the weather in Paris, and how many people live there?"
PLANNER_PROMPT = "You are the planner. Write a one-line plan for the worker."
WORKER_PROMPT = "You are the worker. Follow the plan, use your tools, then report."


def tracer_provider() -> TracerProvider:
    """The default exporter path; call before instrumenting."""
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    with tool_run("worker", "get_weather"):
        return f"Sunny, 21 C in {city}"


@tool
def flaky_lookup(query: str) -> str:
    """Look a fact up in a reference service (which is down)."""
    with tool_run("worker", "flaky_lookup"):
        raise RuntimeError(f"lookup service unavailable for {query!r}")


class State(TypedDict):
    task: str
    rounds_left: int
    messages: Annotated[list[AnyMessage], add_messages]  # the worker's conversation, reset by each plan
    plans: Annotated[list[str], operator.add]


def build(rounds: int) -> Any:
    llm = ChatOpenAI(model=MODEL, temperature=0)
    worker_llm = llm.bind_tools([get_weather, flaky_lookup])

    def planner(state: State) -> dict[str, Any]:
        plan = str(llm.invoke([SystemMessage(PLANNER_PROMPT), HumanMessage(state["task"])]).content)
        fresh = [RemoveMessage(id=REMOVE_ALL_MESSAGES), SystemMessage(WORKER_PROMPT), HumanMessage(plan)]
        return {"plans": [plan], "messages": fresh, "rounds_left": state["rounds_left"] - 1}

    def worker(state: State) -> dict[str, Any]:
        return {"messages": [worker_llm.invoke(state["messages"])]}

    def after_worker(state: State) -> str:
        if getattr(state["messages"][-1], "tool_calls", None):
            return "tools"
        return "planner" if state["rounds_left"] > 0 else END

    graph = StateGraph(State)
    graph.add_node("planner", planner)
    graph.add_node("worker", worker)
    # A failing tool becomes an error ToolMessage for the worker instead of ending the run.
    graph.add_node("tools", ToolNode([get_weather, flaky_lookup], handle_tool_errors=True))
    graph.add_edge(START, "planner")
    graph.add_edge("planner", "worker")
    graph.add_conditional_edges("worker", after_worker, ["tools", "planner", END])
    graph.add_edge("tools", "worker")
    return graph.compile()


def run(provider: TracerProvider, rounds: int = 1) -> None:
    """One graph run, then a forced flush so every span is exported before the process ends."""
    build(rounds).invoke({"task": TASK, "rounds_left": rounds, "messages": [], "plans": []})
    provider.force_flush()
    provider.shutdown()
