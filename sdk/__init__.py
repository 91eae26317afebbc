"""tracehouse.sdk: instrument existing agents with OpenTelemetry GenAI spans, cost, retries and content hashes.

    from tracehouse import sdk

    sdk.init(service_name="support-bot")            # OTLP/HTTP to http://127.0.0.1:4318 unless configured
    sdk.instrument()                                 # the OpenAI client, Anthropic, LangChain... when installed

    @sdk.agent("planner")
    def plan(goal: str) -> list[str]: ...

Everything is a no-op until `init` (or when TRACEHOUSE_DISABLED=1), except that an application which configured
its own OpenTelemetry SDK tracer provider gets tracehouse spans through that provider even without `init`.
"""

from ._config import force_flush, init, shutdown
from ._content import BUILTIN_REDACTORS, redact_api_keys, redact_card_numbers, redact_emails
from ._hashing import canonical_json, content_hash
from ._instrument import instrument, uninstrument
from ._processor import AgentNameProcessor, EnrichingExporter
from ._propagation import extract, inject, wrap
from ._spans import LLMSpan, StepSpan, agent, captured, current_agent, handoff, llm_call, tool, workflow
from ._state import runtime


def is_enabled() -> bool:
    """True when steps are recorded (after `init`, or through an application's own SDK tracer provider)."""
    return runtime() is not None


__all__ = [
    "BUILTIN_REDACTORS",
    "AgentNameProcessor",
    "EnrichingExporter",
    "LLMSpan",
    "StepSpan",
    "agent",
    "canonical_json",
    "captured",
    "content_hash",
    "current_agent",
    "extract",
    "force_flush",
    "handoff",
    "init",
    "inject",
    "instrument",
    "is_enabled",
    "llm_call",
    "redact_api_keys",
    "redact_card_numbers",
    "redact_emails",
    "shutdown",
    "tool",
    "uninstrument",
    "workflow",
    "wrap",
]
