"""Content capture policy: whether prompts, completions, tool arguments and results are recorded, and how.

Content is off by default. When on, every text passes through the redactors (built-in patterns for API keys, e-mail
addresses and card numbers, then the user's callables) and each text is truncated to `max_chars`; structured values
(messages, tool arguments) stay valid JSON because truncation and redaction apply to each string inside them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import semconv as sc
from ._hashing import JSONValue, normalise

_log = logging.getLogger("tracehouse.sdk")

Redactor = Callable[[str], str]

DEFAULT_MAX_CHARS = 8192
_TOTAL_FACTOR = 8  # a structured value may hold several texts: cap its whole JSON at this many times max_chars
_FAILED = "[tracehouse: redaction failed, content dropped]"

_API_KEY = re.compile(
    r"""
    \b(?:sk|pk|rk)-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_\-]{16,}   # OpenAI, Anthropic, Stripe-style secret keys
    | \bAKIA[0-9A-Z]{16}\b                                          # AWS access key id
    | \bAIza[0-9A-Za-z_\-]{35}\b                                    # Google API key
    | \bgh[pousr]_[A-Za-z0-9]{36,}\b                                # GitHub tokens
    | \bxox[abprs]-[A-Za-z0-9\-]{10,}                               # Slack tokens
    | \bth_[A-Za-z0-9_\-]{16,}                                      # tracehouse project keys
    """,
    re.VERBOSE,
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/\-]{12,}=*")
_KEY_ASSIGNMENT = re.compile(
    r"""(?ix)(\b(?:api[_-]?key|secret|token|password|passwd)["']?\s*[:=]\s*["']?)([^\s"',;]{8,})"""
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"\b\d(?:[ \-]?\d){12,18}\b")


def redact_api_keys(text: str) -> str:
    """Replace well-known API key and token shapes, bearer tokens and `api_key=...` assignments."""
    text = _API_KEY.sub("[REDACTED:api_key]", text)
    text = _BEARER.sub(r"\1[REDACTED:api_key]", text)
    return _KEY_ASSIGNMENT.sub(r"\1[REDACTED:api_key]", text)


def redact_emails(text: str) -> str:
    """Replace e-mail addresses."""
    return _EMAIL.sub("[REDACTED:email]", text)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def redact_card_numbers(text: str) -> str:
    """Replace 13-19 digit payment card numbers (spaces or dashes allowed) that pass the Luhn check."""

    def sub(match: re.Match[str]) -> str:
        digits = re.sub(r"[ \-]", "", match.group(0))
        return "[REDACTED:card]" if _luhn_ok(digits) else match.group(0)

    return _CARD.sub(sub, text)


BUILTIN_REDACTORS: tuple[Redactor, ...] = (redact_api_keys, redact_emails, redact_card_numbers)


@dataclass(frozen=True, slots=True)
class ContentPolicy:
    """What happens to content: `capture` off records nothing; on, texts are redacted then truncated."""

    capture: bool = False
    max_chars: int = DEFAULT_MAX_CHARS
    redactors: tuple[Redactor, ...] = BUILTIN_REDACTORS

    def text(self, value: str) -> str:
        """One text, redacted then truncated."""
        for redactor in self.redactors:
            try:
                value = redactor(value)
            except Exception:  # a broken hook must not leak the unredacted text, nor crash the application
                _log.warning("tracehouse: redactor %r raised; content dropped", redactor, exc_info=True)
                return _FAILED
            if not isinstance(value, str):
                _log.warning("tracehouse: redactor %r returned %s, not str; content dropped", redactor, type(value))
                return _FAILED
        if len(value) > self.max_chars:
            return f"{value[: self.max_chars]}…[truncated {len(value) - self.max_chars} chars]"
        return value

    def render(self, obj: Any) -> str:
        """The attribute value for captured content: a text as itself, anything else as JSON of its texts."""
        if isinstance(obj, str):
            return self.text(obj)
        return self._dump(self._walk(normalise(obj)))

    def render_json_text(self, raw: str) -> str:
        """Content that arrived as a JSON string (GenAI messages from an instrumentation); plain text otherwise."""
        try:
            parsed = json.loads(raw)
        except ValueError:
            return self.text(raw)
        if isinstance(parsed, str):
            return self.text(raw)
        return self._dump(self._walk(parsed))

    def _walk(self, value: JSONValue) -> JSONValue:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, dict):
            return {k: self._walk(v) for k, v in value.items()}
        return value

    def _dump(self, value: JSONValue) -> str:
        out = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        limit = self.max_chars * _TOTAL_FACTOR
        if len(out) > limit:
            return f"{out[:limit]}…[truncated {len(out) - limit} chars]"
        return out


def make_policy(
    capture: bool, max_chars: int, redactors: Sequence[Redactor], builtin_redaction: bool = True
) -> ContentPolicy:
    """Validate the user's settings into a policy (clear errors at the `init` call site)."""
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars <= 0:
        raise ValueError(f"content_max_chars must be a positive int, got {max_chars!r}")
    if isinstance(redactors, str) or not all(callable(r) for r in redactors):
        raise TypeError("redactors must be a sequence of callables taking and returning str")
    chain = (BUILTIN_REDACTORS if builtin_redaction else ()) + tuple(redactors)
    return ContentPolicy(capture=bool(capture), max_chars=max_chars, redactors=chain)


# Attributes that hold content, whoever set them: stripped when capture is off, redacted and truncated when on.
CONTENT_ATTRIBUTES: frozenset[str] = frozenset(
    {
        sc.GEN_AI_INPUT_MESSAGES,
        sc.GEN_AI_OUTPUT_MESSAGES,
        sc.GEN_AI_SYSTEM_INSTRUCTIONS,
        sc.GEN_AI_TOOL_CALL_ARGUMENTS,
        sc.GEN_AI_TOOL_CALL_RESULT,
        sc.GEN_AI_TOOL_DEFINITIONS,
        sc.INPUT_PREVIEW,
        sc.OUTPUT_PREVIEW,
        sc.HANDOFF_PAYLOAD,
        sc.OI_INPUT_VALUE,
        sc.OI_OUTPUT_VALUE,
    }
)
CONTENT_PREFIXES: tuple[str, ...] = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
)


def is_content_attribute(key: str) -> bool:
    return key in CONTENT_ATTRIBUTES or key.startswith(CONTENT_PREFIXES)
