"""Fake model script and structure: AutoGen Swarm, triage hands off to specialist, who uses two tools, one failing."""

from fake_openai import ModelRequest, Reply, ToolCall

FRAMEWORK = "autogen-agentchat"
INSTRUMENTATION = "openinference-instrumentation-autogen-agentchat"
CONVENTION = "openinference"
STRUCTURE = {
    "traces": 3,
    "agents": ["triage", "specialist"],
    "handoffs": [["triage", "specialist"]],
    "emits": {"agent_names": True, "usage": True, "tool_spans": True, "handoff_spans": True},
    "notes": "AutoGen's native spans (global provider) beside OpenInference's: each tool and the hand-off appear as an "
    "OI TOOL span and a native execute_tool span (only the native one has ERROR for flaky_lookup); agent in "
    "graph.node.id / gen_ai.agent.name, edge in graph.node.parent_id; the two create_agent spans are traces of "
    "their own",
}


def respond(req: ModelRequest) -> Reply:
    if "You are triage" in req.system:
        return Reply(agent="triage", tool_calls=(ToolCall("transfer_to_specialist", {}),))
    if "You are the weather specialist" not in req.system:
        raise ValueError(f"request from no known agent: {req.system[:80]!r}")
    if not req.results("get_weather"):
        return Reply(
            agent="specialist",
            tool_calls=(ToolCall("get_weather", {"city": "Paris"}), ToolCall("flaky_lookup", {"city": "Paris"})),
        )
    return Reply(agent="specialist", text="Paris is sunny at 21 C; the detailed forecast failed. TERMINATE")
