"""Fake model script and structure: triage hands off to the weather specialist (OpenLLMetry agents + openai)."""

from _shared.handoff_policy import respond

FRAMEWORK = "openai-agents"
INSTRUMENTATION = "opentelemetry-instrumentation-openai-agents"
CONVENTION = "openllmetry"
STRUCTURE = {
    "traces": 1,
    "agents": ["Triage", "Weather specialist"],
    "handoffs": [["Triage", "Weather specialist"]],
    "emits": {"agent_names": True, "usage": True, "tool_spans": True, "handoff_spans": True},
    "notes": (
        "every model call is two nested openai.response chat spans with the same usage: the agents "
        "instrumentation's (no request model) wrapping the openai instrumentation's (request model); count one; "
        "the hand-off span 'Triage → unknown.handoff' names its source only"
    ),
}
__all__ = ["respond"]
