"""Fake model script and structure: triage hands off to the weather specialist (OpenInference)."""

from _shared.handoff_policy import respond

FRAMEWORK = "openai-agents"
INSTRUMENTATION = "openinference-instrumentation-openai-agents"
CONVENTION = "openinference"
STRUCTURE = {
    "traces": 1,
    "agents": ["Triage", "Weather specialist"],
    "handoffs": [["Triage", "Weather specialist"]],
    "emits": {"agent_names": True, "usage": True, "tool_spans": True, "handoff_spans": True},
    "notes": (
        "the workflow root 'Agent workflow' is an AGENT span that is no agent; one hand-off shows as a "
        "transfer_to_weather_specialist tool call, a 'handoff to Weather specialist' TOOL span and "
        "graph.node.parent_id=Triage on the specialist's AGENT span"
    ),
}
__all__ = ["respond"]
