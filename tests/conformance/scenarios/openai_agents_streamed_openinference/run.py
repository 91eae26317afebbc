"""OpenAI Agents SDK hand-off app, Chat Completions model and a streamed run, under OpenInference."""

from _shared.openai_agents_app import run, tracer_provider
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

provider = tracer_provider()
OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)
run(provider)
