"""Fake model script and structure: planner -> billing with the raw OpenAI client (OpenLLMetry 0.49, legacy names)."""

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
        "legacy names: llm.request.type=chat on openai.chat, but the Responses API span openai.response has no "
        "operation name and no llm.request.type; gen_ai.system, llm.usage.total_tokens, gen_ai.prompt.N.* / "
        "gen_ai.completion.N.tool_calls.M.*; Responses tool_call ids are item ids (fc_...); no tool spans"
    ),
}
__all__ = ["respond"]
