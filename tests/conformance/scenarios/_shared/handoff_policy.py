"""The fake model's script for the triage -> weather specialist hand-off (OpenAI Agents SDK apps).

Triage answers every request with the hand-off tool call; the specialist first calls `get_weather` and the failing
`flaky_lookup` in one step (parallel tool calls), then answers in text once both results are back. With
`retry_storm=True` the specialist instead calls `flaky_lookup` with the same arguments again after every failure,
STORM_STEPS times in successive steps, before it gives up.
"""

from __future__ import annotations

from fake_openai import ModelRequest, Reply, ToolCall

TRIAGE = "Triage"
SPECIALIST = "Weather specialist"
HANDOFF_TOOL = "transfer_to_weather_specialist"
STORM_STEPS = 9
CITY = {"city": "Paris"}


def agent_of(req: ModelRequest) -> str:
    """Which agent is asking: the apps start each agent's instructions with 'You are <name>.'"""
    for name in (TRIAGE, SPECIALIST):
        if f"You are {name}." in req.system:
            return name
    raise ValueError(f"no known agent in instructions {req.system[:80]!r}")


def respond(req: ModelRequest) -> Reply:
    agent = agent_of(req)
    if agent == TRIAGE:
        return Reply(agent, tool_calls=(ToolCall(HANDOFF_TOOL, {}),))
    if not req.results("get_weather"):
        return Reply(agent, tool_calls=(ToolCall("get_weather", CITY), ToolCall("flaky_lookup", CITY)))
    return Reply(agent, text="It is sunny in Paris, 21 degrees; the detailed lookup is unavailable.")


def respond_retry_storm(req: ModelRequest) -> Reply:
    agent = agent_of(req)
    if agent == TRIAGE:
        return Reply(agent, tool_calls=(ToolCall(HANDOFF_TOOL, {}),))
    if not req.results("get_weather"):
        return Reply(agent, tool_calls=(ToolCall("get_weather", CITY),))
    if len(req.results("flaky_lookup")) < STORM_STEPS:
        return Reply(agent, tool_calls=(ToolCall("flaky_lookup", CITY),))
    return Reply(agent, text="It is sunny in Paris; the detailed lookup kept failing, so I stopped retrying.")
