"""Fake model script and structure: AutoGen Swarm, triage hands off to specialist, who uses two tools, one failing."""

from _shared.autogen_swarm_policy import respond

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
__all__ = ["respond"]
