"""Planted retry storm: the specialist's model calls the failing tool again, same arguments, in 9 successive steps."""

from _shared.openai_agents_app import run, tracer_provider
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

provider = tracer_provider()
OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)
run(provider)
