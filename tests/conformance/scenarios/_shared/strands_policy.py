"""The fake model's script for the Strands app (orchestrator -> researcher agent used as a tool)."""

from fake_openai import ModelRequest, Reply, ToolCall


def respond(req: ModelRequest) -> Reply:
    if "You are Orchestrator." in req.system:
        if not req.results("research_assistant"):
            return Reply("Orchestrator", tool_calls=(ToolCall("research_assistant", {"query": "What is OTLP?"}),))
        return Reply("Orchestrator", text="OTLP is the OpenTelemetry protocol.")
    if "You are Researcher." in req.system:
        if not req.results("web_search"):
            calls = (
                ToolCall("web_search", {"query": "OTLP"}),
                ToolCall("flaky_fetch", {"url": "https://otlp.example"}),
            )
            return Reply("Researcher", tool_calls=calls)
        return Reply("Researcher", text="OTLP is the OpenTelemetry protocol; one page could not be fetched.")
    raise ValueError(f"no known agent in instructions {req.system[:80]!r}")
