"""Fake model script and structure: CrewAI manager delegates to the researcher, who runs two tools, one failing."""

from fake_openai import ModelRequest, Reply, ToolCall

FRAMEWORK = "crewai"
INSTRUMENTATION = "openinference-instrumentation-crewai"
CONVENTION = "openinference"
STRUCTURE = {
    "traces": 1,
    "agents": ["Manager", "Researcher"],
    "handoffs": [["Manager", "Researcher"]],
    "emits": {"agent_names": True, "usage": True, "tool_spans": True, "handoff_spans": True},
    "notes": "only Manager has an AGENT span (graph.node.id); the Researcher has none: its model calls and tools "
    "sit under the manager's `Delegate work to coworker` TOOL span (the model's delegate_work_to_coworker call), "
    "its name only in that call's `coworker` argument and the kickoff span's crew_agents JSON",
}
DELEGATE = "delegate_work_to_coworker"


def respond(req: ModelRequest) -> Reply:
    if "You are Manager" in req.system:
        if not req.results(DELEGATE):
            task = {
                "task": "Find the weather and the population of Paris.",
                "context": "The user asked.",
                "coworker": "Researcher",
            }
            return Reply(agent="Manager", tool_calls=(ToolCall(DELEGATE, task),))
        return Reply(agent="Manager", text="Paris is sunny at 21 C; its population could not be looked up.")
    if "You are Researcher" not in req.system:
        raise ValueError(f"request from no known agent: {req.system[:200]!r} {req.tools}")
    if not req.results("get_weather"):
        return Reply(
            agent="Researcher",
            tool_calls=(
                ToolCall("get_weather", {"city": "Paris"}),
                ToolCall("flaky_lookup", {"query": "population of Paris"}),
            ),
        )
    return Reply(agent="Researcher", text="Sunny, 21 C in Paris; the population lookup failed.")
