"""Fake model script and structure: a Strands orchestrator using a researcher agent as a tool (default mode)."""

from _shared.strands_policy import respond

FRAMEWORK = "strands-agents"
INSTRUMENTATION = "native"
CONVENTION = "genai-1.36"
STRUCTURE = {
    "traces": 1,
    "agents": ["Orchestrator", "Researcher"],
    "handoffs": [["Orchestrator", "Researcher"]],
    "emits": {"agent_names": True, "usage": True, "tool_spans": True, "handoff_spans": False},
    "notes": (
        "gen_ai.system='strands-agents' (the framework, not the provider); chat spans carry both prompt/completion "
        "and input/output token names (one usage, never add them); invoke_agent spans carry the agent's summed "
        "usage under the same names; requested tools only in the chat span's gen_ai.choice span event "
        "(Strands toolUse JSON); the researcher runs inside the execute_tool research_assistant span"
    ),
}
__all__ = ["respond"]
