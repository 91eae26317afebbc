"""Summarisation checkpoints against context-window exhaustion, decided before a model call, never on its error.

At 75 % of the chosen model's window the history except the system prompt, pinned messages and the last K turns is
replaced by one summary message. The prompt's size is what the caller counts (`Count`): in a run, the provider's own
count of the previous prompt of the conversation plus an estimate of what was added since (see
`ModelUnit._window_tokens`), never less than ~4 characters a token, which alone under-counts JSON-heavy prompts.
At most one compaction per call; if the prompt is still too large, the oldest unpinned turns are truncated; if even
that fails, `ContextOverflow`.
The summary is journalled like any other step, so a resumed run reuses it instead of summarising again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ContextOverflow

Message = dict[str, Any]
Count = Callable[[Sequence[Message]], int]


def estimate_tokens(messages: Sequence[Message]) -> int:
    """~chars/4 plus a little per message for roles and separators."""
    total = 0
    for m in messages:
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content, default=str)
        total += len(text) // 4 + 4
    return total


@dataclass(frozen=True)
class ContextPolicy:
    """When and how to compact: `window` tokens, trigger fraction, turns kept verbatim, tokens left for the answer."""

    window: int
    trigger: float = 0.75
    keep_last: int = 6
    summary_model: str | None = None

    @property
    def threshold(self) -> int:
        return int(self.window * self.trigger)


@dataclass(frozen=True)
class Compaction:
    """What a compaction replaced: the message range, token counts before and after, and the summary's provenance."""

    covers: tuple[int, int]
    before_tokens: int
    after_tokens: int
    source_hash: str
    truncated: int


def _is_pinned(m: Message) -> bool:
    return m.get("role") == "system" or bool(m.get("pinned"))


def plan_compaction(
    messages: Sequence[Message], policy: ContextPolicy, count: Count = estimate_tokens
) -> tuple[int, int] | None:
    """The [start, end) range to summarise, or None when the prompt is under the threshold."""
    if count(messages) < policy.threshold:
        return None
    keep_from = max(len(messages) - policy.keep_last, 0)
    candidates = [i for i in range(keep_from) if not _is_pinned(messages[i])]
    if not candidates:
        return None
    return candidates[0], candidates[-1] + 1


def messages_to_summarise(messages: Sequence[Message], span: tuple[int, int]) -> list[Message]:
    return [m for m in messages[span[0] : span[1]] if not _is_pinned(m)]


def check_fits(messages: Sequence[Message], policy: ContextPolicy, count: Count = estimate_tokens) -> None:
    """Raise ContextOverflow when an uncompactable prompt is larger than the window."""
    tokens = count(messages)
    if tokens > policy.window:
        raise ContextOverflow(tokens, policy.window)


def apply_compaction(
    messages: Sequence[Message],
    policy: ContextPolicy,
    span: tuple[int, int],
    summary_text: str,
    source_hash: str,
    count: Count = estimate_tokens,
) -> tuple[list[Message], Compaction]:
    """Replace `span` by one summary message, then truncate the oldest unpinned turns if still over the threshold."""
    before = count(messages)
    start, end = span
    summary = {"role": "user", "content": "Summary of earlier conversation: " + summary_text, "summary": True}
    out: list[Message] = [m for m in messages[:end] if _is_pinned(m)]
    out.insert(_after_system(out), summary)
    out.extend(messages[end:])
    truncated = 0
    while count(out) >= policy.threshold:
        victim = next((i for i, m in enumerate(out[: len(out) - policy.keep_last]) if not _is_pinned(m)), None)
        if victim is None:
            raise ContextOverflow(count(out), policy.window)
        del out[victim]
        truncated += 1
    return out, Compaction((start, end), before, count(out), source_hash, truncated)


def _after_system(messages: list[Message]) -> int:
    i = 0
    while i < len(messages) and messages[i].get("role") == "system":
        i += 1
    return i
