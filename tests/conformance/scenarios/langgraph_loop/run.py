"""LangGraph planner/worker/tools app run for 3 rounds (a planted hand-off loop) under OpenInference's langchain
instrumentation."""

from _shared.langgraph_app import run, tracer_provider
from openinference.instrumentation.langchain import LangChainInstrumentor

provider = tracer_provider()
LangChainInstrumentor().instrument(tracer_provider=provider)
run(provider, rounds=3)
