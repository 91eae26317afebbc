"""The LLM-as-judge scorer against a fake OpenAI-compatible server: verdicts, garbage answers, its own trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tracehouse.evals import score_trace
from tracehouse.evals.judge import parse_verdict
from tracehouse.evals.suite import validate_suite
from tracehouse.store.scores import Score

from .fake_openai import FakeOpenAI
from .traces import simple


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    """Spans the SDK records in this process (a global SDK provider is installed if there is none)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def judge(fake: FakeOpenAI, output: str = "Paris is the capital of France.", **params: Any) -> Score:
    spec = {
        "type": "llm_judge",
        "params": {
            "rubric": "Is the answer correct and concise?",
            "model": "gpt-4o-mini",
            "base_url": fake.base_url,
            "api_key_env": "",
            "max_retries": 0,
            **params,
        },
    }
    suite = validate_suite({"name": "j", "scorers": [spec]}, "j.yaml", Path("."))
    data = simple(output, input="What is the capital of France?")
    data.expected = "Paris"
    [result], _ = score_trace(suite, data, eval_run_id="r")
    return result


def test_judge_score_is_normalised_and_gated_by_pass_score(fake: FakeOpenAI) -> None:
    fake.answer = '{"score": 4, "reason": "correct, a bit wordy"}'
    good = judge(fake, scale=5)
    assert good.value == 0.8 and good.passed is True and good.comment == "correct, a bit wordy"
    fake.answer = 'Sure! {"score": 2, "reason": "vague"}'
    poor = judge(fake, scale=5)
    assert poor.value == 0.4 and poor.passed is False


def test_judge_prompt_carries_rubric_input_output_and_expected(fake: FakeOpenAI) -> None:
    judge(fake)
    request = fake.requests[-1]
    assert request["path"] == "/v1/chat/completions" and request["body"]["model"] == "gpt-4o-mini"
    prompt = request["body"]["messages"][1]["content"]
    for part in (
        "Is the answer correct and concise?",
        "What is the capital of France?",
        "Paris is the capital",
        "EXPECTED",
    ):
        assert part in prompt


@pytest.mark.parametrize(
    "answer,reason",
    [
        ("I think it is pretty good!", "judge answered garbage"),
        ('{"score": 11, "reason": "wow"}', "outside 0..1"),
        ('{"score": "excellent"}', "is not a number"),
        ("", "judge answered garbage"),
        (500, "judge call failed: InternalServerError"),
        (404, "judge call failed: NotFoundError"),
    ],
)
def test_a_garbage_or_failed_judge_is_an_error_score_with_the_reason(
    fake: FakeOpenAI, answer: str | int, reason: str
) -> None:
    fake.answer = answer
    result = judge(fake)
    assert result.label == "error" and result.value is None and result.passed is False
    assert reason in result.comment


def test_unreachable_judge_is_an_error_score() -> None:
    spec = {
        "type": "llm_judge",
        "params": {
            "rubric": "r",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key_env": "",
            "max_retries": 0,
            "timeout": 2,
        },
    }
    suite = validate_suite({"name": "j", "scorers": [spec]}, "j.yaml", Path("."))
    [result], _ = score_trace(suite, simple(), eval_run_id="r")
    assert result.label == "error" and "APIConnectionError" in result.comment


def test_the_judges_own_call_is_traced_with_usage_and_cost(fake: FakeOpenAI, spans: InMemorySpanExporter) -> None:
    spans.clear()
    fake.answer = '{"score": 1, "reason": "ok"}'
    usage: dict[str, float] = {}
    spec = {
        "type": "llm_judge",
        "params": {"rubric": "r", "base_url": fake.base_url, "api_key_env": "", "model": "gpt-4o-mini"},
    }
    suite = validate_suite({"name": "j", "scorers": [spec]}, "j.yaml", Path("."))
    data = simple()
    score_trace(suite, data, eval_run_id="r", usage=usage)
    assert usage["input_tokens"] == 120 and usage["output_tokens"] == 15 and usage["cost_usd"] > 0
    by_name = {s.name: s for s in spans.get_finished_spans()}
    chat, root = by_name["chat gpt-4o-mini"], by_name["invoke_workflow eval.judge"]
    assert chat.parent is not None and chat.parent.span_id == root.context.span_id
    chat_attrs, root_attrs = dict(chat.attributes or {}), dict(root.attributes or {})
    assert chat_attrs["gen_ai.usage.input_tokens"] == 120
    assert chat_attrs["gen_ai.usage.output_tokens"] == 15
    assert chat_attrs["tracehouse.cost.usd"] == pytest.approx(usage["cost_usd"])
    assert root_attrs["tracehouse.eval.trace_id"] == data.trace_id


@pytest.mark.parametrize(
    "content,expected",
    [('{"score": 3, "reason": "r"}', (0.6, "r")), ('```json\n{"score": 5}\n```', (1.0, "")), ("4", (0.8, ""))],
)
def test_parse_verdict(content: str, expected: tuple[float, str]) -> None:
    assert parse_verdict(content, 5) == expected
