"""Fake model script and structure: planner -> billing with the raw OpenAI client (OpenInference)."""

from _shared.raw_openai_policy import FAILED_CALL_NOTE, STRUCTURE_BASE, respond

FRAMEWORK = "openai"
INSTRUMENTATION = "openinference-instrumentation-openai"
CONVENTION = "openinference"
ENV = {"CONFORMANCE_AGENT_STYLE": "openinference", "CONFORMANCE_BILLING_API": "responses"}
STRUCTURE = {
    **STRUCTURE_BASE,
    "emits": {"agent_names": True, "usage": True, "tool_spans": False, "handoff_spans": False},
    "notes": FAILED_CALL_NOTE
    + (
        "LLM spans 'ChatCompletion' and 'Response' (Responses API, billing); llm.model_name is the dated response "
        "model, the request model only in llm.invocation_parameters; requested tools in llm.output_messages "
        "tool_calls; the app runs its tools itself (no TOOL spans); agents are the app's AGENT spans (agent.name)"
    ),
}
__all__ = ["respond"]
