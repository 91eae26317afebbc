"""Fake model script and structure: smolagents manager delegates to its managed researcher, who runs a good tool, then a
failing one. The agent making a request is known by the tools it offers the model."""

import json

from fake_openai import ModelRequest, Reply, ToolCall

FRAMEWORK = "smolagents"
INSTRUMENTATION = "openinference-instrumentation-smolagents"
CONVENTION = "openinference"
STRUCTURE = {
    "traces": 1,
    "agents": ["manager", "researcher"],
    "handoffs": [["manager", "researcher"]],
    "emits": {"agent_names": False, "usage": True, "tool_spans": True, "handoff_spans": False},
    "notes": "no agent.name / graph.node.*: names only in AGENT span names (`manager.run`, `researcher.run`) and "
    "smolagents.managed_agents.0.name; AGENT spans carry the summed llm.token_count.*; the delegation is the "
    "manager's `researcher` tool call with the researcher's AGENT span under the manager's step (no TOOL span); "
    "smolagents' own final_answer tool has TOOL spans but is not in tools_executed",
}


def _seen(req: ModelRequest, text: str) -> bool:
    return text in json.dumps(req.conversation)


def respond(req: ModelRequest) -> Reply:
    if "researcher" in req.tools:
        if not _seen(req, "Sunny, 21 C"):
            return Reply(
                agent="manager", tool_calls=(ToolCall("researcher", {"task": "Weather and population of Paris"}),)
            )
        return Reply(
            agent="manager", tool_calls=(ToolCall("final_answer", {"answer": "Sunny, 21 C; population unknown."}),)
        )
    if "get_weather" not in req.tools:
        raise ValueError(f"request from no known agent: tools {req.tools}")
    if not _seen(req, "Sunny, 21 C"):
        return Reply(agent="researcher", tool_calls=(ToolCall("get_weather", {"city": "Paris"}),))
    if not _seen(req, "Error executing tool"):
        return Reply(agent="researcher", tool_calls=(ToolCall("flaky_lookup", {"query": "population of Paris"}),))
    return Reply(
        agent="researcher", tool_calls=(ToolCall("final_answer", {"answer": "Sunny, 21 C; the lookup failed."}),)
    )
