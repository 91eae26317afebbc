"""Fake model script and structure: planner -> worker -> planner ... 3 rounds with the same planner input (a planted
hand-off loop in framework code), OpenInference."""

from _shared.langgraph_policy import LangGraphPolicy

FRAMEWORK = "langgraph"
INSTRUMENTATION = "openinference-instrumentation-langchain"
CONVENTION = "openinference"
STRUCTURE = {
    "traces": 1,
    "agents": ["planner", "worker"],
    "handoffs": [
        ["planner", "worker"],
        ["worker", "planner"],
        ["planner", "worker"],
        ["worker", "planner"],
        ["planner", "worker"],
    ],
    "emits": {"agent_names": True, "usage": True, "tool_spans": True, "handoff_spans": False},
    "planted": {"loop": True},
    "notes": "planted loop: 3 planner->worker rounds, identical planner input each round; handoffs lists every "
    "hand-off in order; node names only in the metadata JSON (langgraph_node)",
}
respond = LangGraphPolicy()
