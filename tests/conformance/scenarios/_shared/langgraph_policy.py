"""The fake model's script for the LangGraph scenarios (runs in the harness): planner plans, worker uses two tools.

The worker's first turn of the run asks for `get_weather` and `flaky_lookup` in parallel; once their results are in
it reports. In later rounds (the loop scenario) the worker reports at once, so the only failing tool call of the run
is the first one and the loop is the only pattern planted.
"""

from __future__ import annotations

from fake_openai import ModelRequest, Reply, ToolCall

PLAN = "Plan: get the weather in Paris, then look up the population of Paris."


class LangGraphPolicy:
    """A policy object: it remembers whether the worker already used its tools in this run."""

    def __init__(self) -> None:
        self.worker_used_tools = False

    def __call__(self, req: ModelRequest) -> Reply:
        if "You are the planner" in req.system:
            return Reply(agent="planner", text=PLAN)
        if "You are the worker" not in req.system:
            raise ValueError(f"request from no known agent: {req.system[:80]!r}")
        if req.calls:
            return Reply(agent="worker", text="Paris is sunny at 21 C; the population lookup failed.")
        if self.worker_used_tools:
            return Reply(agent="worker", text="The plan is not done yet.")
        self.worker_used_tools = True
        return Reply(
            agent="worker",
            tool_calls=(
                ToolCall("get_weather", {"city": "Paris"}),
                ToolCall("flaky_lookup", {"query": "population of Paris"}),
            ),
        )
