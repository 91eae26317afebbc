"""Fake model script and structure: planner hands off to worker, worker runs two tools, one fails (OpenLLMetry)."""

from _shared.langgraph_policy import LangGraphPolicy

FRAMEWORK = "langgraph"
INSTRUMENTATION = "opentelemetry-instrumentation-langchain"
CONVENTION = "openllmetry"
STRUCTURE = {
    "traces": 1,
    "agents": ["planner", "worker"],
    "handoffs": [["planner", "worker"]],
    "emits": {"agent_names": True, "usage": True, "tool_spans": True, "handoff_spans": False},
    "notes": "node names in traceloop.entity.name / gen_ai.task.name of `execute_task` spans (and "
    "traceloop.association.properties.langgraph_node); the `invoke_agent LangGraph` spans name the graph, "
    "not an agent; tools run in the `tools` node, which serves the worker",
}
respond = LangGraphPolicy()
