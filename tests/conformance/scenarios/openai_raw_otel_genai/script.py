"""Fake model script and structure: planner -> billing with the raw OpenAI client, OTel GenAI default (<= 1.36) mode."""

from _shared.raw_openai_policy import FAILED_CALL_NOTE, STRUCTURE_BASE, respond

FRAMEWORK = "openai"
INSTRUMENTATION = "opentelemetry-instrumentation-openai-v2"
CONVENTION = "genai-1.36"
# Content capture on: without it this mode emits no message events at all, so no requested tool would be visible.
ENV = {
    "CONFORMANCE_AGENT_STYLE": "genai",
    "CONFORMANCE_BILLING_API": "chat",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
}
STRUCTURE = {
    **STRUCTURE_BASE,
    "emits": {"agent_names": True, "usage": True, "tool_spans": False, "handoff_spans": False},
    "notes": FAILED_CALL_NOTE
    + (
        "gen_ai.system (no provider.name); requested tools only in the gen_ai.choice log events (logs/*.pb, linked by "
        "span id); the app runs its tools itself, so no tool or hand-off spans; agents are the app's invoke_agent "
        "spans; util-genai pinned to 0.4b0 because from 1.0b0 on it forces the latest mode whatever the opt-in says"
    ),
}
__all__ = ["respond"]
