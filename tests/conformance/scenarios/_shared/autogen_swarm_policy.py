"""The fake model's script for the AutoGen Swarm scenarios (runs in the harness): triage hands off, the specialist
asks for both tools at once, then answers with TERMINATE."""

from __future__ import annotations

from fake_openai import ModelRequest, Reply, ToolCall


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
