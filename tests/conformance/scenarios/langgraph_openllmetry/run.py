"""LangGraph planner/worker/tools app under OpenLLMetry's (Traceloop's) langchain instrumentation."""

from _shared.langgraph_app import run, tracer_provider
from opentelemetry.instrumentation.langchain import LangchainInstrumentor

provider = tracer_provider()
LangchainInstrumentor().instrument(tracer_provider=provider)
run(provider)
