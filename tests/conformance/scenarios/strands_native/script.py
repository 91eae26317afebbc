"""Fake model script and structure: a Strands orchestrator using a researcher agent as a tool."""

from fake_openai import ModelRequest, Reply, ToolCall

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


def respond(req: ModelRequest) -> Reply:
    if "You are Orchestrator." in req.system:
        if not req.results("research_assistant"):
            return Reply("Orchestrator", tool_calls=(ToolCall("research_assistant", {"query": "What is OTLP?"}),))
        return Reply("Orchestrator", text="OTLP is the OpenTelemetry protocol.")
    if "You are Researcher." in req.system:
        if not req.results("web_search"):
            calls = (
                ToolCall("web_search", {"query": "OTLP"}),
                ToolCall("flaky_fetch", {"url": "https://otlp.example"}),
            )
            return Reply("Researcher", tool_calls=calls)
        return Reply("Researcher", text="OTLP is the OpenTelemetry protocol; one page could not be fetched.")
    raise ValueError(f"no known agent in instructions {req.system[:80]!r}")
