"""Content capture (off by default), truncation, redaction hooks, and content hashes."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from tests.sdk.sdk_testing import Recorder, make_recorder
from tracehouse import sdk
from tracehouse.sdk import semconv as sc
from tracehouse.sdk._content import ContentPolicy


def test_content_is_off_by_default_but_the_hash_is_always_recorded(traced: Recorder) -> None:
    with sdk.agent("a") as step:
        step.set_input({"question": "my email is bob@example.com"})
        step.set_output("answer")
    with sdk.llm_call("gpt-4o", "openai") as call:
        call.set_input([{"role": "user", "content": "hi"}])
    agent_attrs = traced.one("invoke_agent a").attributes or {}
    assert sc.INPUT_PREVIEW not in agent_attrs and sc.OUTPUT_PREVIEW not in agent_attrs
    assert agent_attrs[sc.CONTENT_HASH] == sdk.content_hash(
        ["invoke_agent", "a", {"question": "my email is bob@example.com"}]
    )
    llm_attrs = traced.one("chat gpt-4o").attributes or {}
    assert sc.GEN_AI_INPUT_MESSAGES not in llm_attrs and sc.CONTENT_HASH in llm_attrs
    assert not any("bob@example.com" in str(v) for s in traced.spans() for v in (s.attributes or {}).values())


def test_captured_content_is_redacted(traced_content: Recorder) -> None:
    secret = "sk-proj-abcdefghijklmnopqrstuvwxyz123456"
    with sdk.tool("lookup") as step:
        step.set_input({"email": "alice@example.org", "key": secret, "card": "4111 1111 1111 1111"})
        step.set_output("charged 4111-1111-1111-1111 for alice@example.org using Bearer abcdefghijklmnop")
    attrs = traced_content.one("execute_tool lookup").attributes or {}
    args = json.loads(str(attrs[sc.GEN_AI_TOOL_CALL_ARGUMENTS]))
    assert args == {"email": "[REDACTED:email]", "key": "[REDACTED:api_key]", "card": "[REDACTED:card]"}
    result = str(attrs[sc.GEN_AI_TOOL_CALL_RESULT])
    assert result == "charged [REDACTED:card] for [REDACTED:email] using Bearer [REDACTED:api_key]"


def test_numbers_that_are_not_cards_are_kept() -> None:
    policy = ContentPolicy(capture=True)
    assert policy.text("order 1234567890123 shipped") == "order 1234567890123 shipped"  # fails the Luhn check


def test_user_redactor_applies_and_broken_redactor_drops_content() -> None:
    def boom(text: str) -> str:
        raise RuntimeError("bug in hook")

    ok = ContentPolicy(capture=True, redactors=(lambda s: s.replace("ACME", "[company]"),))
    assert ok.text("ACME Corp") == "[company] Corp"
    broken = ContentPolicy(capture=True, redactors=(boom,))
    assert "ACME" not in broken.text("ACME Corp")


def test_redactors_given_to_init_run_after_the_builtin_ones() -> None:
    rec = make_recorder(capture_content=True, redactors=[lambda s: s.replace("ACME", "[company]")])
    with sdk.agent("a") as step:
        step.set_input("ACME wrote from ceo@acme.com")
    attrs = rec.one("invoke_agent a").attributes or {}
    assert attrs[sc.INPUT_PREVIEW] == "[company] wrote from [REDACTED:email]"


def test_truncation_keeps_structured_content_valid_json(traced_content: Recorder) -> None:
    long_text = "x" * 1000
    with sdk.llm_call("gpt-4o", "openai") as call:
        call.set_input([{"role": "user", "content": long_text}])
        call.set_output(long_text)
    attrs = traced_content.one("chat gpt-4o").attributes or {}
    messages = json.loads(str(attrs[sc.GEN_AI_INPUT_MESSAGES]))
    assert messages[0]["content"].startswith("x" * 200)
    assert messages[0]["content"].endswith("[truncated 800 chars]")
    assert len(str(attrs[sc.GEN_AI_OUTPUT_MESSAGES])) < 250


def test_handoff_payload_recorded_only_with_capture_on(traced_content: Recorder) -> None:
    with sdk.handoff("a", "b", payload={"task": "refund"}):
        pass
    attrs = traced_content.one("execute_tool transfer_to_b").attributes or {}
    assert json.loads(str(attrs[sc.HANDOFF_PAYLOAD])) == {"task": "refund"}


def test_decorator_records_arguments_and_result_when_capture_is_on(traced_content: Recorder) -> None:
    @sdk.tool("square")
    def square(x: int) -> int:
        return x * x

    square(7)
    attrs = traced_content.one("execute_tool square").attributes or {}
    assert json.loads(str(attrs[sc.GEN_AI_TOOL_CALL_ARGUMENTS])) == {"x": 7}
    assert attrs[sc.GEN_AI_TOOL_CALL_RESULT] == "49"


def test_capture_switch_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEHOUSE_CAPTURE_CONTENT", "1")
    rec = make_recorder()
    with sdk.agent("a") as step:
        step.set_input("hello")
    assert (rec.one("invoke_agent a").attributes or {})[sc.INPUT_PREVIEW] == "hello"


@dataclasses.dataclass
class Query:
    text: str
    tags: frozenset[str]


def test_content_hash_is_canonical() -> None:
    assert sdk.content_hash({"b": 1, "a": [1.0, "x"]}) == sdk.content_hash({"a": [1.0, "x"], "b": 1})
    assert sdk.content_hash(Query("q", frozenset({"y", "x"}))) == sdk.content_hash({"text": "q", "tags": ["x", "y"]})
    assert sdk.content_hash({"a": 1}) != sdk.content_hash({"a": 2})
    assert sdk.canonical_json({"b": 2, "a": 1, "f": 1.5}) == b'{"a":1,"b":2,"f":1.5}'


def test_content_hash_survives_odd_values() -> None:
    cyclic: list[object] = []
    cyclic.append(cyclic)
    values = [float("nan"), 2**70, b"bytes", object(), cyclic]
    assert len(sdk.content_hash(values)) == 64
    assert sdk.content_hash(object()) == sdk.content_hash(object())  # no memory addresses in the hash


def test_fast_canonical_json_is_byte_identical_to_rfc8785() -> None:
    """The C-encoder fast path of the content hash must write exactly what RFC 8785 writes, on every value it takes
    (and leave floats, non-ASCII keys and lone surrogates to `rfc8785`)."""
    import random

    import rfc8785

    from tracehouse.sdk._hashing import _jcs, _plain

    rng = random.Random(7)
    alphabet = [chr(i) for i in range(0x80)] + ["é", "\u2028", "\U0001f600", "\ud7ff", "\ue000", "\uffff"]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))

    def value(depth: int = 0) -> Any:
        r = rng.random()
        if depth > 3 or r < 0.4:
            return rng.choice([None, True, False, rng.randint(-(2**53) + 1, 2**53 - 1), text(), rng.random()])
        if r < 0.7:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {text(): value(depth + 1) for _ in range(rng.randint(0, 4))}

    fast = 0
    for _ in range(3000):
        v = value()
        fast += _plain(v)
        assert _jcs(v) == rfc8785.dumps(v), v
    assert fast > 1000  # the fast path was exercised, not only the fallback
    assert _jcs({"\U0001f600": 1, "\uffff": 2}) == rfc8785.dumps({"\U0001f600": 1, "\uffff": 2})  # UTF-16 key order
    assert _jcs([1.0, 1e16, 1e-7]) == b"[1,10000000000000000,1e-7]"  # ECMAScript numbers, not Python's repr
    with pytest.raises(rfc8785.CanonicalizationError):
        _jcs("\ud800")
