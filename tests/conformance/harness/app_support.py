"""What a scenario app imports from the harness: a record of which tool functions really ran, and how they ended.

`tools_executed` and `failed_tools` in expected.json must come from the run, not from any span, so every tool
function of a scenario wraps its body in `tool_run(agent, tool)`. The record goes to the JSON-lines file named by
CONFORMANCE_TOOL_LOG (set by run.py). Only the standard library is used: this module runs in the scenario's venv.

    def get_weather(city: str) -> str:
        with tool_run("Weather specialist", "get_weather"):
            return f"Sunny in {city}"
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager


def record_tool(agent: str, tool: str, failed: bool) -> None:
    path = os.environ.get("CONFORMANCE_TOOL_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"agent": agent, "tool": tool, "failed": failed}, sort_keys=True) + "\n")


@contextmanager
def tool_run(agent: str, tool: str) -> Iterator[None]:
    """Records one execution of `tool` by `agent`; an exception marks it failed and propagates unchanged."""
    try:
        yield
    except BaseException:
        record_tool(agent, tool, failed=True)
        raise
    record_tool(agent, tool, failed=False)
