"""AutoGen AgentChat Swarm hand-off app under OpenInference's autogen-agentchat *and* openai instrumentations, as a
user who instruments both the framework and its model client does: every model call then has OpenInference's
`OpenAIChatCompletionClient.create` LLM span wrapped around the openai client's own LLM span."""

from _shared.autogen_swarm_app import run, tracer_provider
from openinference.instrumentation.autogen_agentchat import AutogenAgentChatInstrumentor
from openinference.instrumentation.openai import OpenAIInstrumentor

provider = tracer_provider()
AutogenAgentChatInstrumentor().instrument(tracer_provider=provider)
OpenAIInstrumentor().instrument(tracer_provider=provider)
run(provider)
