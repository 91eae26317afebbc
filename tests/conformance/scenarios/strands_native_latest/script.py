"""Fake model script and structure: a Strands orchestrator using a researcher agent as a tool (latest GenAI)."""

from _shared.strands_policy import respond

FRAMEWORK = "strands-agents"
INSTRUMENTATION = "native"
CONVENTION = "genai-latest"
ENV = {"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental"}
STRUCTURE = {
    "traces": 1,
    "agents": ["Orchestrator", "Researcher"],
    "handoffs": [["Orchestrator", "Researcher"]],
    "emits": {"agent_names": True, "usage": True, "tool_spans": True, "handoff_spans": False},
    "notes": (
        "gen_ai.provider.name='strands-agents' (the framework, not the provider); messages with tool_call parts "
        "only in span events gen_ai.client.inference.operation.details; chat spans carry both token spellings "
        "(one usage); invoke_agent spans carry the agent's summed usage under the same names"
    ),
}
__all__ = ["respond"]
