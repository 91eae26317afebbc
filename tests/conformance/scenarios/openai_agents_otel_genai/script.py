"""Fake model script and structure: triage hands off to the weather specialist (OTel GenAI contrib)."""

from _shared.handoff_policy import respond

FRAMEWORK = "openai-agents"
INSTRUMENTATION = "opentelemetry-instrumentation-openai-agents-v2"
CONVENTION = "genai-latest"
STRUCTURE = {
    "traces": 1,
    "agents": ["Triage", "Weather specialist"],
    "handoffs": [["Triage", "Weather specialist"]],
    "emits": {"agent_names": True, "usage": True, "tool_spans": True, "handoff_spans": True},
    "notes": (
        "chat, tool and hand-off spans all carry the placeholder gen_ai.agent.name='OpenAI Agent' (real names only "
        "on invoke_agent spans); tool calls appear in gen_ai.output.messages only as Python reprs inside text parts; "
        "gen_ai.request.model is the dated response model; the root 'Agent workflow' is an invoke_agent span "
        "without an agent name; turns are operation 'unknown'; hand-off span agent_handoff has from/to agents"
    ),
}
__all__ = ["respond"]
