"""Fake model script and structure: pydantic-ai coordinator delegating to a hotel agent through a tool."""

from fake_openai import ModelRequest, Reply, ToolCall

FRAMEWORK = "pydantic-ai-slim"
INSTRUMENTATION = "native"
CONVENTION = "genai-latest"
CITY = {"city": "Rome"}
STRUCTURE = {
    "traces": 1,
    "agents": ["Coordinator", "Hotel agent"],
    "handoffs": [["Coordinator", "Hotel agent"]],
    "emits": {"agent_names": True, "usage": True, "tool_spans": True, "handoff_spans": False},
    "notes": (
        "'openai:' models use the Responses API; invoke_agent spans carry gen_ai.aggregated_usage.* (a sum, never "
        "added to the chat spans' gen_ai.usage.*); the delegation is the execute_tool delegate_to_hotel_agent span "
        "wrapping the Hotel agent's invoke_agent; the failing tool (ModelRetry) is an ERROR execute_tool span"
    ),
}


def respond(req: ModelRequest) -> Reply:
    if "You are Coordinator." in req.system:
        if not req.results("lookup_flight"):
            return Reply("Coordinator", tool_calls=(ToolCall("lookup_flight", CITY),))
        if not req.results("delegate_to_hotel_agent"):
            return Reply("Coordinator", tool_calls=(ToolCall("delegate_to_hotel_agent", CITY),))
        return Reply("Coordinator", text="Flight AZ123 to Rome is planned; no hotel room could be booked.")
    if "You are Hotel agent." in req.system:
        if not req.results("book_hotel"):
            return Reply("Hotel agent", tool_calls=(ToolCall("book_hotel", CITY),))
        return Reply("Hotel agent", text="No rooms are left in Rome.")
    raise ValueError(f"no known agent in instructions {req.system[:80]!r}")
