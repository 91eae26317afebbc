"""OpenAI Agents SDK hand-off app under OpenLLMetry's openai-agents AND openai instrumentations together, as
`Traceloop.init()` enables every installed one: each model call is then seen by both."""

from _shared.openai_agents_app import run, tracer_provider
from opentelemetry.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.instrumentation.openai_agents import OpenAIAgentsInstrumentor

provider = tracer_provider()
OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)
OpenAIInstrumentor().instrument(tracer_provider=provider)
run(provider)
