"""Fake model script and structure: ADK coordinator transfers to weather_agent, which runs two tools, one failing."""

from fake_openai import ModelRequest, Reply, ToolCall

FRAMEWORK = "google-adk"
INSTRUMENTATION = "native"
CONVENTION = "genai-latest"
STRUCTURE = {
    "traces": 1,
    "agents": ["coordinator", "weather_agent"],
    "handoffs": [["coordinator", "weather_agent"]],
    "emits": {"agent_names": True, "usage": True, "tool_spans": True, "handoff_spans": True},
    "notes": "model via LiteLLM: gen_ai.request.model is `openai/gpt-4o-mini` (provider prefix), no response model, "
    "finish reason `stop` even for tool calls; hand-off = transfer_to_agent tool call + its execute_tool span, the "
    "two invoke_agent spans are siblings under `invoke_workflow coordinator`; parallel calls add an `execute_tool "
    "(merged)` span that is no tool",
}


def respond(req: ModelRequest) -> Reply:
    if "You are the coordinator" in req.system:
        return Reply(agent="coordinator", tool_calls=(ToolCall("transfer_to_agent", {"agent_name": "weather_agent"}),))
    if "You are the weather agent" not in req.system:
        raise ValueError(f"request from no known agent: {req.system[:200]!r} {req.tools}")
    if not req.results("get_weather"):
        return Reply(
            agent="weather_agent",
            tool_calls=(
                ToolCall("get_weather", {"city": "Paris"}),
                ToolCall("flaky_lookup", {"query": "population of Paris"}),
            ),
        )
    return Reply(agent="weather_agent", text="Paris is sunny at 21 C; the population lookup failed.")


# The model's tool calls are only in gen_ai.output.messages, which ADK writes on the span in the latest mode.
ENV = {
    "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
}
