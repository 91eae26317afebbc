"""Fake model script and structure: AutoGen core runtime, planner delegates to worker by message, worker runs two
tools, one failing."""

from _shared.langgraph_policy import LangGraphPolicy

FRAMEWORK = "autogen-core"
INSTRUMENTATION = "native"
CONVENTION = "genai-latest"
STRUCTURE = {
    "traces": 5,
    "agents": ["planner", "worker"],
    "handoffs": [["planner", "worker"]],
    "emits": {"agent_names": True, "usage": True, "tool_spans": True, "handoff_spans": False},
    "notes": "5 traces joined by span links (planner's run, worker's run, two acks, the agent creation); the "
    "delegation is only the runtime's send/process spans (sender_agent_type -> recipient_agent_type); model calls "
    "from openai-v2 in the latest mode, AutoGen's own spans still use gen_ai.system",
}
respond = LangGraphPolicy()
# The model's tool calls are only in gen_ai.output.messages, which openai-v2 writes on the span in the latest mode.
ENV = {
    "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
}
