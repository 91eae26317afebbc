"""Fake model script and structure: planner hands off to worker, worker runs two tools, one fails (OpenInference)."""

from _shared.langgraph_policy import LangGraphPolicy

FRAMEWORK = "langgraph"
INSTRUMENTATION = "openinference-instrumentation-langchain"
CONVENTION = "openinference"
STRUCTURE = {
    "traces": 1,
    "agents": ["planner", "worker"],
    "handoffs": [["planner", "worker"]],
    "emits": {"agent_names": True, "usage": True, "tool_spans": True, "handoff_spans": False},
    "notes": "no AGENT spans: node names only in the metadata JSON (langgraph_node); tools run in the `tools` node, "
    "which serves the worker; the hand-off is graph order only",
}
respond = LangGraphPolicy()
