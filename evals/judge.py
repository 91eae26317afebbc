"""The LLM-as-judge scorer: a rubric graded by any OpenAI-compatible chat endpoint, traced as a run of its own.

The judge must answer JSON `{"score": <0..scale>, "reason": "..."}`; anything else (prose, a score off the scale, an
HTTP error) becomes an error score carrying the reason, never an exception. Each judgement is traced with
`tracehouse.sdk`: an `eval.judge` workflow with a `chat <model>` LLM call carrying GenAI usage and cost,
recorded whenever the SDK is on (`sdk.init`, or an OpenTelemetry SDK provider, which `tracehouse eval run`
installs to export to the server).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import threading
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import StatusCode
from pydantic import Field, model_validator

from tracehouse.evals.model import ScoreResult, TraceData
from tracehouse.evals.registry import scorer
from tracehouse.evals.scorers import _Params
from tracehouse.sdk import LLMSpan, llm_call, workflow
from tracehouse.sdk.pricing import default_prices

if TYPE_CHECKING:  # the client is imported when a suite uses the judge: the server extra does not install it
    import openai
    from openai.types.chat import ChatCompletionMessageParam

NEEDS_OPENAI = "llm_judge needs the openai package: pip install 'tracehouse[judge]'"

_SYSTEM = (
    "You are a strict evaluator. Grade the OUTPUT against the RUBRIC. Reply with only a JSON object: "
    '{{"score": <number from 0 to {scale}>, "reason": "<one sentence>"}}'
)
_clients: dict[tuple[str | None, str, float], openai.OpenAI] = {}
_clients_lock = threading.Lock()


class JudgeParams(_Params):
    rubric: str = Field(min_length=1)
    model: str = "gpt-4o-mini"
    base_url: str | None = None  # default: $OPENAI_BASE_URL, else the OpenAI API
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding the key ("" if the endpoint needs none)
    scale: float = Field(1.0, gt=0)  # the judge scores 0..scale; the stored value is score / scale
    pass_score: float = Field(0.7, ge=0, le=1)  # normalised value at or above which the score passes
    include_input: bool = True
    include_expected: bool = True
    timeout: float = Field(60.0, gt=0)
    max_retries: int = Field(1, ge=0)
    max_output_tokens: int = Field(300, ge=16)

    @model_validator(mode="after")
    def _client_installed(self) -> JudgeParams:
        if importlib.util.find_spec("openai") is None:  # said when the suite is read, not mid-run
            raise ValueError(NEEDS_OPENAI)
        return self


def _client(base_url: str | None, api_key: str, timeout: float, max_retries: int) -> openai.OpenAI:
    import openai

    key = (base_url, api_key, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = openai.OpenAI(
                base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=max_retries
            )
            _clients[key] = client
        return client


def parse_verdict(content: str, scale: float) -> tuple[float, str] | str:
    """(normalised score, reason) from the judge's answer, or a string saying why it is not an answer."""
    text = content.strip()
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match:
        try:
            data = json.loads(match.group(0))
        except ValueError:
            data = None
        if isinstance(data, dict) and "score" in data:
            raw, reason = data["score"], str(data.get("reason", ""))[:500]
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                try:
                    raw = float(str(raw))
                except ValueError:
                    return f"score {raw!r} is not a number"
            if not 0 <= float(raw) <= scale:
                return f"score {raw} is outside 0..{scale:g}"
            return float(raw) / scale, reason
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        value = float(text)
        return (value / scale, "") if 0 <= value <= scale else f"score {value} is outside 0..{scale:g}"
    return f"judge answered garbage: {text[:160]!r}"


def _prompt(rubric: str, output: str, given: str | None, expected: Any) -> str:
    parts = [f"RUBRIC:\n{rubric}"]
    if given is not None:
        parts.append(f"INPUT:\n{given[:8000]}")
    parts.append(f"OUTPUT:\n{output[:16000]}")
    if expected is not None:
        parts.append(f"EXPECTED (reference answer):\n{expected if isinstance(expected, str) else json.dumps(expected)}")
    return "\n\n".join(parts)


@scorer("llm_judge", params=JudgeParams, description="An LLM grades the output against a rubric (OpenAI-compatible).")
def llm_judge(
    trace: TraceData | None = None, output: str | None = None, input: str | None = None, expected: Any = None, **p: Any
) -> ScoreResult:
    if output is None:
        return ScoreResult.skip("the target step has no output to judge (content not captured?)")
    api_key = os.environ.get(p["api_key_env"], "") if p["api_key_env"] else ""
    base_url = p["base_url"] or os.environ.get("OPENAI_BASE_URL") or None
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": _SYSTEM.format(scale=f"{p['scale']:g}")},
        {
            "role": "user",
            "content": _prompt(
                p["rubric"], output, input if p["include_input"] else None, expected if p["include_expected"] else None
            ),
        },
    ]
    judged = trace.trace_id if trace is not None else ""
    with workflow("eval.judge") as root:
        root.set_attribute("tracehouse.eval.trace_id", judged)
        result = _ask(base_url, api_key, messages, p)
        if result.error:
            root.span.set_status(StatusCode.ERROR, result.error[:200])
        return result


def _ask(
    base_url: str | None, api_key: str, messages: list[ChatCompletionMessageParam], p: dict[str, Any]
) -> ScoreResult:
    import openai

    with llm_call(p["model"], "openai", temperature=0.0, max_tokens=p["max_output_tokens"]) as span:
        try:
            response = _client(base_url, api_key, p["timeout"], p["max_retries"]).chat.completions.create(
                model=p["model"],
                messages=messages,
                temperature=0,
                max_tokens=p["max_output_tokens"],
            )
        except openai.OpenAIError as exc:
            span.record_error(exc)
            return ScoreResult.failure(f"judge call failed: {type(exc).__name__}: {str(exc)[:200]}")
        usage = _record_usage(span, response, p["model"])
        choices = getattr(response, "choices", None) or []
        content = (choices[0].message.content or "") if choices and choices[0].message is not None else ""
        verdict = parse_verdict(content, p["scale"])
        if isinstance(verdict, str):
            span.span.set_status(StatusCode.ERROR, "unparseable judgement")
            result = ScoreResult.failure(verdict)
            result.usage = usage
            return result
        value, reason = verdict
        return ScoreResult(value=round(value, 4), passed=value >= p["pass_score"], comment=reason, usage=usage)


def _record_usage(span: LLMSpan, response: Any, model: str) -> dict[str, float]:
    """Usage onto the span (the SDK prices it at the end) and into the score, for the run's judge totals."""
    usage = getattr(response, "usage", None)
    tokens_in = getattr(usage, "prompt_tokens", None) if usage is not None else None
    tokens_out = getattr(usage, "completion_tokens", None) if usage is not None else None
    response_model = str(getattr(response, "model", None) or model)
    tokens_in = tokens_in if isinstance(tokens_in, int) and tokens_in >= 0 else None
    tokens_out = tokens_out if isinstance(tokens_out, int) and tokens_out >= 0 else None
    span.set_response(model=response_model)
    span.set_usage(input_tokens=tokens_in, output_tokens=tokens_out)
    out: dict[str, float] = {}
    if tokens_in is not None:
        out["input_tokens"] = tokens_in
    if tokens_out is not None:
        out["output_tokens"] = tokens_out
    usd = default_prices().cost(model, tokens_in, tokens_out, fallback_model=response_model)
    if usd is not None:
        out["cost_usd"] = usd
    return out
