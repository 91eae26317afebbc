"""Fake model script and structure: triage hands off to the weather specialist, streamed chat (OpenInference)."""

from _shared.handoff_policy import respond

FRAMEWORK = "openai-agents"
INSTRUMENTATION = "openinference-instrumentation-openai-agents"
CONVENTION = "openinference"
ENV = {"CONFORMANCE_AGENTS_API": "chat_streamed"}
STRUCTURE = {
    "traces": 1,
    "agents": ["Triage", "Weather specialist"],
    "handoffs": [["Triage", "Weather specialist"]],
    "emits": {"agent_names": True, "usage": False, "tool_spans": True, "handoff_spans": True},
    "notes": (
        "streamed Chat Completions calls without usage: the SDK does not ask for include_usage by default, so the "
        "fake server returned none (tokens missing, not zero); the 'generation' LLM spans have no llm.output_messages, "
        "the requested tools are only inside the output.value JSON; llm.model_name is the request model"
    ),
}
__all__ = ["respond"]
