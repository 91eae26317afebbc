"""Fake model script and structure: triage hands off to the weather specialist (OpenLLMetry)."""

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
        "model spans (openai.response, operation chat) carry only the dated gen_ai.response.model, no request "
        "model; the hand-off span 'Triage → unknown.handoff' names its source only (gen_ai.handoff.from_agent); "
        "the root 'Agent Workflow' is traceloop.span.kind=workflow"
    ),
}
__all__ = ["respond"]
