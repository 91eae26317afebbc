"""Fake model script and structure: LlamaIndex manager asks the researcher agent through a tool (agent-as-tool); the
researcher runs two tools, one failing."""

from fake_openai import ModelRequest, Reply, ToolCall

FRAMEWORK = "llama-index-core"
INSTRUMENTATION = "openinference-instrumentation-llama-index"
CONVENTION = "openinference"
STRUCTURE = {
    "traces": 1,
    "agents": ["manager", "researcher"],
    "handoffs": [["manager", "researcher"]],
    "emits": {"agent_names": False, "usage": True, "tool_spans": True, "handoff_spans": False},
    "notes": "no agent names anywhere (two CHAIN `FunctionAgent.run` spans; the researcher's under the manager's "
    "`ask_researcher` TOOL span); each `OpenAI._prepare_chat_with_tools` is an LLM span that makes no request; "
    "agents built with streaming=False (streamed calls carry no usage)",
}


def respond(req: ModelRequest) -> Reply:
    if "You are the manager" in req.system:
        if not req.results("ask_researcher"):
            return Reply(
                agent="manager",
                tool_calls=(ToolCall("ask_researcher", {"question": "Weather and population of Paris?"}),),
            )
        return Reply(agent="manager", text="Paris is sunny at 21 C; its population could not be looked up.")
    if "You are the researcher" not in req.system:
        raise ValueError(f"request from no known agent: {req.system[:80]!r}")
    if not req.results("get_weather"):
        return Reply(
            agent="researcher",
            tool_calls=(
                ToolCall("get_weather", {"city": "Paris"}),
                ToolCall("flaky_lookup", {"query": "population of Paris"}),
            ),
        )
    return Reply(agent="researcher", text="Sunny, 21 C in Paris; the population lookup failed.")
