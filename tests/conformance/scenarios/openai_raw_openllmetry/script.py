"""Fake model script and structure: planner -> billing with the raw OpenAI client (OpenLLMetry, current)."""

from _shared.raw_openai_policy import FAILED_CALL_NOTE, STRUCTURE_BASE, respond

FRAMEWORK = "openai"
INSTRUMENTATION = "opentelemetry-instrumentation-openai"
CONVENTION = "openllmetry"
ENV = {"CONFORMANCE_AGENT_STYLE": "traceloop", "CONFORMANCE_BILLING_API": "responses"}
STRUCTURE = {
    **STRUCTURE_BASE,
    "emits": {"agent_names": True, "usage": True, "tool_spans": False, "handoff_spans": False},
    "notes": FAILED_CALL_NOTE
    + (
        "GenAI-latest names on openai.chat and openai.response (Responses API, billing) spans; the tool_call id "
        "in a Responses span's output messages is the item id (fc_...), not the call_id the chat API uses; the "
        "app runs its tools itself (no tool spans); agents are the app's spans with traceloop.span.kind=agent"
    ),
}
__all__ = ["respond"]
