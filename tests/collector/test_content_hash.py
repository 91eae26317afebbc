"""The normaliser's fast content hash equals the SDK's RFC 8785 hash on every input, and is used when it can be."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from tracehouse.collector.normalise._content_hash import plain_step_hash
from tracehouse.collector.normalise._span import _hash
from tracehouse.collector.normalise._values import maybe_json
from tracehouse.sdk import content_hash
from tracehouse.sdk._hashing import step_hash

# Characters where RFC 8785 and a naive JSON writer part ways: escapes, controls, DEL, U+2028, the BMP's top end
# (sorts after a non-BMP character by code point, before it by UTF-16 unit), non-BMP characters.
_CHARS = ['"', "\\", "/", "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "é", "\u2028", "\ufeff", "\uffff"]
_CHARS += ["\ue000", "😀", "𝄞", "a", "Z", "0", " ", "_", "中"]


def _text(rng: random.Random, plain: bool) -> str:
    pool = [c for c in _CHARS if not plain or ord(c) < 0xD800]
    return "".join(rng.choice(pool) for _ in range(rng.randint(0, 6)))


def _value(rng: random.Random, depth: int, plain: bool) -> Any:
    kind = rng.randint(0, 7 if depth < 4 else 4)
    if kind == 0:
        return _text(rng, plain)
    if kind == 1:
        return rng.choice([0, -1, 7, 2**53 - 1, -(2**53 - 1), *(() if plain else (2**53, -(2**60)))])
    if kind == 2:
        return rng.choice([None, True, False])
    if kind == 3:
        return rng.choice(["", "x", 12]) if plain else rng.choice([1.0, 0.1, 1e21, -2.5e-7, 100.0, 3.14159])
    if kind == 4:
        return _text(rng, plain)
    if kind in (5, 6):
        return {_text(rng, plain): _value(rng, depth + 1, plain) for _ in range(rng.randint(0, 4))}
    return [_value(rng, depth + 1, plain) for _ in range(rng.randint(0, 4))]


def _sdk(operation: str, subject: str, text: str) -> str:
    content = maybe_json(text)
    try:
        return step_hash(operation, subject, content)
    except (ValueError, TypeError):
        return content_hash([operation, subject, content])


def _as_sent(rng: random.Random, value: Any) -> str:
    style = rng.randint(0, 2)
    if style == 0:
        return json.dumps(value)
    if style == 1:
        return json.dumps(value, ensure_ascii=False, indent=2)
    return "  " + json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("plain", [True, False])
def test_fast_hash_equals_the_sdks_hash_on_generated_json(plain: bool) -> None:
    rng = random.Random(18 + plain)
    fast_used = 0
    for _ in range(3000):
        value = _value(rng, 0, plain)
        text = _as_sent(rng, value if isinstance(value, dict | list) else [value])
        subject = rng.choice(["gpt-4o-mini", "lookup_order", "", "模型"])
        assert _hash("chat", subject, text) == _sdk("chat", subject, text), text
        fast_used += plain_step_hash("chat", subject, text) is not None
    if plain:
        assert fast_used == 3000
    else:
        assert 0 < fast_used < 3000  # both ways were exercised


@pytest.mark.parametrize(
    "text",
    [
        "not json at all",
        "{broken",
        "[1, 2",
        '  {"a": 1}',
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": 1e400}',
        '{"a": -0}',
        '{"b": 1, "a": 2, "a": 3}',
        '{"\\ud83d\\ude00": 1, "\\uffff": 2}',
        '{"x": 9007199254740992}',
        '{"x": 9007199254740991}',
        "[]",
        "{}",
        "",
    ],
)
def test_fast_hash_equals_the_sdks_hash_on_edge_cases(text: str) -> None:
    assert _hash("execute_tool", "search", text) == _sdk("execute_tool", "search", text)


def test_a_lone_surrogate_in_json_content_hashes_instead_of_failing_the_batch() -> None:
    # Valid UTF-8 on the wire, but JSON's escape decodes to a code point RFC 8785 (and UTF-8) cannot carry.
    first = _hash("chat", "gpt-4o-mini", '["\\ud800"]')
    assert first == _hash("chat", "gpt-4o-mini", '["\\ud800"]')
    assert first != _hash("chat", "gpt-4o-mini", '["\\ud801"]')
