"""AutoGen AgentChat Swarm hand-off app under OpenInference's autogen-agentchat instrumentation (and AutoGen's own
spans, which go to the same global provider)."""

from _shared.autogen_swarm_app import run, tracer_provider
from openinference.instrumentation.autogen_agentchat import AutogenAgentChatInstrumentor

provider = tracer_provider()
AutogenAgentChatInstrumentor().instrument(tracer_provider=provider)
run(provider)
