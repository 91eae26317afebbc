"""Fake model script and structure: planner -> billing with the raw OpenAI client, gen_ai_latest_experimental mode."""

from _shared.raw_openai_policy import FAILED_CALL_NOTE, STRUCTURE_BASE, respond

FRAMEWORK = "openai"
INSTRUMENTATION = "opentelemetry-instrumentation-openai-v2"
CONVENTION = "genai-latest"
ENV = {
    "CONFORMANCE_AGENT_STYLE": "genai",
    "CONFORMANCE_BILLING_API": "chat",
    "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
    # Content on spans: the requested tools are only in gen_ai.output.messages.
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
}
STRUCTURE = {
    **STRUCTURE_BASE,
    "emits": {"agent_names": True, "usage": True, "tool_spans": False, "handoff_spans": False},
    "notes": FAILED_CALL_NOTE
    + (
        "gen_ai.provider.name; requested tools as tool_call parts of gen_ai.output.messages (content SPAN_ONLY); the "
        "app runs its tools itself, so no tool or hand-off spans; agents are the app's invoke_agent spans"
    ),
}
__all__ = ["respond"]
