"""Fake model script and structure: after the hand-off, flaky_lookup({"city": "Paris"}) is retried 9 times."""

from _shared.handoff_policy import respond_retry_storm as respond

FRAMEWORK = "openai-agents"
INSTRUMENTATION = "openinference-instrumentation-openai-agents"
CONVENTION = "openinference"
STRUCTURE = {
    "traces": 1,
    "agents": ["Triage", "Weather specialist"],
    "handoffs": [["Triage", "Weather specialist"]],
    "emits": {"agent_names": True, "usage": True, "tool_spans": True, "handoff_spans": True},
    "planted": {"retry_storm": True},
    "notes": "planted: the model calls the failing flaky_lookup with the same arguments in 9 successive steps",
}
__all__ = ["respond"]
