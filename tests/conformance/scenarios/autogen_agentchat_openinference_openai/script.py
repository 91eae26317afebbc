"""Fake model script and structure: the AutoGen Swarm hand-off, instrumented by OpenInference twice over (framework
and openai client)."""

from _shared.autogen_swarm_policy import respond

FRAMEWORK = "autogen-agentchat"
INSTRUMENTATION = "openinference-instrumentation-autogen-agentchat"
CONVENTION = "openinference"
STRUCTURE = {
    "traces": 3,
    "agents": ["triage", "specialist"],
    "handoffs": [["triage", "specialist"]],
    "emits": {"agent_names": True, "usage": True, "tool_spans": True, "handoff_spans": True},
    "notes": "6 LLM spans with usage for 3 calls: OpenInference's `OpenAIChatCompletionClient.create` wraps the "
    "openai client's `ChatCompletion` span with the same usage; otherwise as autogen_agentchat_openinference",
}
__all__ = ["respond"]
