"""OpenAI Agents SDK hand-off app under the OpenTelemetry GenAI contrib instrumentation (openai-agents-v2)."""

from _shared.openai_agents_app import run, tracer_provider
from opentelemetry.instrumentation.openai_agents import OpenAIAgentsInstrumentor

provider = tracer_provider()
OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)
run(provider)
