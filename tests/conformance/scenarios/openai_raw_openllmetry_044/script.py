"""Fake model script and structure: planner -> billing with the raw OpenAI client (OpenLLMetry 0.44, legacy names)."""

from _shared.raw_openai_policy import FAILED_CALL_NOTE, STRUCTURE_BASE, respond

FRAMEWORK = "openai"
INSTRUMENTATION = "opentelemetry-instrumentation-openai"
CONVENTION = "openllmetry-0.4x"
ENV = {"CONFORMANCE_AGENT_STYLE": "traceloop", "CONFORMANCE_BILLING_API": "responses"}
STRUCTURE = {
    **STRUCTURE_BASE,
    "emits": {"agent_names": True, "usage": True, "tool_spans": False, "handoff_spans": False},
    "notes": FAILED_CALL_NOTE
    + (
        "legacy names: openai.chat spans have llm.request.type=chat and gen_ai.usage.prompt_tokens / "
        "completion_tokens; the Responses API span openai.response has no operation name and uses "
        "gen_ai.usage.input_tokens / output_tokens; needs opentelemetry 1.38 (imports opentelemetry._events); "
        "Responses tool_call ids are item ids (fc_...); no tool spans"
    ),
}
__all__ = ["respond"]
