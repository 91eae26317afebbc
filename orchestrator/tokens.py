"""Prompt token counts for budget reservations: conservative by default, a real tokenizer when the user gives one.

A cost cap can only hold if the prompt is never under-counted before the call. Characters/4 fits English prose but
not JSON: braces, quotes and keys tokenise at 2-3 bytes a token, so a JSON-heavy prompt estimated at 2.8k tokens
was 7.2k. The default counts UTF-8 bytes / 2.5 (plus a per-message overhead), which over-counts prose and stays at
or above what BPE tokenizers report for JSON. `tiktoken` is not the default: its encodings are downloaded on first
use (no network, no count), and it only knows OpenAI models. Pass `Orchestrator(tokenizer=...)` to use it or any
other counter; the provider's reported usage is reconciled after every call either way (see `Ledger.settle`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

Message = dict[str, Any]
Tokenizer = Callable[[Sequence[Message], Sequence[dict[str, Any]]], int]

BYTES_PER_TOKEN = 2.5
MESSAGE_OVERHEAD = 4  # role, separators and the reply priming, as chat formats add


def conservative_tokens(messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> int:
    """An upper estimate of the prompt's tokens: bytes / 2.5 of every message's content and tool calls, and of the
    tool schemas sent with the request."""
    total = 0
    for m in messages:
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content, default=str)
        if m.get("tool_calls"):
            text += json.dumps(m["tool_calls"], default=str)
        total += math.ceil(len(text.encode()) / BYTES_PER_TOKEN) + MESSAGE_OVERHEAD
    if tools:
        total += math.ceil(len(json.dumps(list(tools)).encode()) / BYTES_PER_TOKEN)
    return total
