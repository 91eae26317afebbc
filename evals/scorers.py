"""Built-in scorers: pure functions of (trace, target step, output, expected) — no I/O, no clock.

Output scorers (exact, contains, regex, json_valid, json_schema, reference) read the target step's output; SLO
scorers (latency, cost, tokens) read the trace summary or the target step; behavioural scorers (no_loop,
no_duplicate_work, retry_budget, handoff_contract, no_error) read the steps; the first three through the detectors
(`tracehouse.evals.detect`), each naming the finding it used. Each returns value 1.0 / 0.0 with a comment saying why,
unless noted; a trace with nothing to score (no output: content not captured) is skipped, not failed.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tracehouse.domain.model import Step, StepType
from tracehouse.domain.outcome import failed
from tracehouse.domain.rates import is_retry
from tracehouse.evals.detect import (
    DetectConfig,
    Finding,
    Kind,
    detect_duplicate_work,
    detect_loops,
    detect_retry_storms,
)
from tracehouse.evals.model import ScoreResult, TraceData
from tracehouse.evals.registry import scorer
from tracehouse.sdk import semconv as sc
from tracehouse.store.traces import TraceSummary


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _verdict(ok: bool, why_fail: str, why_pass: str = "") -> ScoreResult:
    return ScoreResult(value=1.0 if ok else 0.0, passed=ok, comment=why_pass if ok else why_fail)


def _no_output() -> ScoreResult:
    return ScoreResult.skip("the target step has no output to score (content not captured?)")


# -- output scorers -------------------------------------------------------------------------------------------------


class ExactParams(_Params):
    value: str | None = None  # None: the dataset's expected answer
    ignore_case: bool = False
    strip: bool = True


@scorer("exact", params=ExactParams, description="The output equals params.value (or the dataset's expected answer).")
def exact(output: str | None, expected: Any, **p: Any) -> ScoreResult:
    want = p["value"] if p["value"] is not None else expected
    if output is None:
        return _no_output()
    if want is None:
        return ScoreResult.failure("no expected answer: give params.value or a dataset")
    a, b = output, want if isinstance(want, str) else json.dumps(want)
    if p["strip"]:
        a, b = a.strip(), b.strip()
    if p["ignore_case"]:
        a, b = a.lower(), b.lower()
    return _verdict(a == b, f"output {output[:80]!r} != expected {str(want)[:80]!r}")


class ContainsParams(_Params):
    value: str | list[str]
    all: bool = True  # every value must appear (else: any)
    ignore_case: bool = False
    negate: bool = False  # pass when the value(s) do NOT appear


@scorer("contains", params=ContainsParams, description="The output contains a value (or all / any of several).")
def contains(output: str | None, **p: Any) -> ScoreResult:
    if output is None:
        return _no_output()
    values = [p["value"]] if isinstance(p["value"], str) else list(p["value"])
    text = output.lower() if p["ignore_case"] else output
    found = [v for v in values if (v.lower() if p["ignore_case"] else v) in text]
    hit = len(found) == len(values) if p["all"] else bool(found)
    ok = hit != p["negate"]
    missing = [v for v in values if v not in found]
    why = f"found {found!r} (negated)" if p["negate"] else f"missing {missing!r}"
    return _verdict(ok, why)


class RegexParams(_Params):
    pattern: str
    ignore_case: bool = False
    negate: bool = False


@scorer("regex", params=RegexParams, description="The output matches a regular expression (re.search).")
def regex(output: str | None, **p: Any) -> ScoreResult:
    if output is None:
        return _no_output()
    try:
        compiled = re.compile(p["pattern"], re.IGNORECASE if p["ignore_case"] else 0)
    except re.error as exc:
        return ScoreResult.failure(f"bad pattern {p['pattern']!r}: {exc}")
    matched = compiled.search(output) is not None
    return _verdict(matched != p["negate"], f"{'matched' if matched else 'no match for'} /{p['pattern']}/")


def _parse_json(output: str) -> tuple[Any, str]:
    text = output.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    try:
        return json.loads(text), ""
    except ValueError as exc:
        return None, f"not JSON: {exc}"


@scorer("json_valid", params=_Params, description="The output parses as JSON (a ```json fence is allowed).")
def json_valid(output: str | None) -> ScoreResult:
    if output is None:
        return _no_output()
    _, error = _parse_json(output)
    return _verdict(not error, error)


class JsonSchemaParams(_Params):
    json_schema: dict[str, Any] = Field(alias="schema")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


@scorer("json_schema", params=JsonSchemaParams, description="The output is JSON valid against params.schema.")
def json_schema(output: str | None, **p: Any) -> ScoreResult:
    import jsonschema  # optional dependency: only this scorer needs it

    if output is None:
        return _no_output()
    data, error = _parse_json(output)
    if error:
        return _verdict(False, error)
    try:
        jsonschema.validate(data, p["json_schema"])
    except jsonschema.ValidationError as exc:
        where = "/".join(str(x) for x in exc.absolute_path) or "(root)"
        return _verdict(False, f"{where}: {exc.message[:200]}")
    except jsonschema.SchemaError as exc:
        return ScoreResult.failure(f"params.schema is not a valid JSON schema: {exc.message[:200]}")
    return _verdict(True, "")


class ReferenceParams(_Params):
    mode: Literal["exact", "contains", "fuzzy", "numeric"] = "fuzzy"
    min_similarity: float = Field(0.8, ge=0, le=1)
    tolerance: float = Field(1e-6, ge=0)
    ignore_case: bool = True


@scorer("reference", params=ReferenceParams, description="The output against the dataset's expected answer.")
def reference(output: str | None, expected: Any, **p: Any) -> ScoreResult:
    if output is None:
        return _no_output()
    if expected is None:
        return ScoreResult.failure("no expected answer for this trace (no dataset row matched)")
    want = expected if isinstance(expected, str) else json.dumps(expected, sort_keys=True)
    got = output.strip()
    if p["ignore_case"]:
        got, want = got.lower(), want.lower().strip()
    mode = p["mode"]
    if mode == "numeric":
        return _numeric(got, want, p["tolerance"])
    if mode == "exact":
        return _verdict(got == want.strip(), f"expected {want[:80]!r}")
    if mode == "contains":
        return _verdict(want.strip() in got, f"expected answer {want[:80]!r} not in output")
    ratio = difflib.SequenceMatcher(None, got, want.strip()).ratio()
    ok = ratio >= p["min_similarity"] or (bool(want.strip()) and want.strip() in got)
    return ScoreResult(
        value=round(ratio, 4) if not ok or ratio < 1 else 1.0,
        passed=ok,
        comment=f"similarity {ratio:.2f} to {want[:60]!r}",
    )


def _numeric(got: str, want: str, tolerance: float) -> ScoreResult:
    numbers = re.findall(r"-?\d+(?:\.\d+)?", got)
    try:
        target = float(want)
    except ValueError:
        return ScoreResult.failure(f"expected answer {want[:40]!r} is not a number")
    ok = any(abs(float(n) - target) <= tolerance for n in numbers)
    return _verdict(ok, f"no number within {tolerance} of {target} in output")


# -- SLO scorers ----------------------------------------------------------------------------------------------------


class LatencyParams(_Params):
    max_ms: float = Field(gt=0)
    scope: Literal["trace", "step"] = "trace"


@scorer("latency", params=LatencyParams, description="Trace (or target step) duration within max_ms.")
def latency(summary: TraceSummary, step: Step | None, **p: Any) -> ScoreResult:
    if p["scope"] == "step":
        if step is None:
            return ScoreResult.failure("no target step")
        took = step.duration_ns / 1e6
    else:
        took = summary.duration_ms
    ok = took <= p["max_ms"]
    return ScoreResult(value=1.0 if ok else 0.0, passed=ok, comment=f"{took:.0f} ms (limit {p['max_ms']:.0f} ms)")


class CostParams(_Params):
    max_usd: float = Field(ge=0)
    fail_unpriced: bool = False  # an unpriced model call makes the cost unknown: fail instead of passing


@scorer("cost", params=CostParams, description="Trace cost within max_usd.")
def cost(summary: TraceSummary, **p: Any) -> ScoreResult:
    usd = summary.cost_usd or 0.0
    note = f" ({summary.unpriced} unpriced calls)" if summary.unpriced else ""
    if summary.unpriced and p["fail_unpriced"]:
        return _verdict(False, f"cost unknown: {summary.unpriced} unpriced model calls")
    ok = usd <= p["max_usd"]
    return ScoreResult(value=1.0 if ok else 0.0, passed=ok, comment=f"${usd:.6f} (limit ${p['max_usd']}){note}")


class TokenParams(_Params):
    max_total: int | None = Field(None, ge=0)
    max_input: int | None = Field(None, ge=0)
    max_output: int | None = Field(None, ge=0)


@scorer("tokens", params=TokenParams, description="Trace tokens within a budget (total / input / output).")
def tokens(summary: TraceSummary, **p: Any) -> ScoreResult:
    used = {
        "total": summary.input_tokens + summary.output_tokens,
        "input": summary.input_tokens,
        "output": summary.output_tokens,
    }
    over = [f"{k} {used[k]} > {p['max_' + k]}" for k in used if p["max_" + k] is not None and used[k] > p["max_" + k]]
    return _verdict(not over, "; ".join(over), f"{used['total']} tokens")


# -- behavioural scorers --------------------------------------------------------------------------------------------
# Loops, duplicate work and retry storms are the detectors' (`tracehouse.evals.detect`): each scorer runs its one
# detector over the trace (pure) and adds what the server's detectors stored, then reports the finding it used. A
# planted retry storm is therefore retry_budget's alone: the loop and duplicate detectors leave retries out.


def _kind_findings(findings: list[dict[str, Any]], kind: Kind, detected: list[Finding]) -> list[dict[str, Any]]:
    """The stored findings of `kind`, then those the detector found here that were not stored (same id)."""
    stored = [f for f in findings if str(f.get("kind", "")) == kind]
    known = {f.get("id") for f in stored}
    return stored + [f.to_json() for f in detected if f.id not in known]


def _finding_result(found: list[dict[str, Any]]) -> ScoreResult:
    """Fail, naming the finding used: its kind, id and explanation."""
    first = found[0]
    agents = first.get("agents") or []
    more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
    name = f"{first.get('kind')} finding {str(first.get('id') or '')[:12]}".rstrip()
    return ScoreResult(
        value=0.0,
        passed=False,
        agent=agents[0] if agents else "",
        comment=f"{name}: {first.get('explanation') or first.get('kind')}{more}"[:300],
    )


class LoopParams(_Params):
    max_repeats: int = Field(3, ge=2)  # the same agent doing the same thing this many times is a loop


@scorer("no_loop", params=LoopParams, description="No loop finding (hand-off cycle, repeated action, guard, depth).")
def no_loop(steps: list[Step], findings: list[dict[str, Any]], **p: Any) -> ScoreResult:
    detected = detect_loops(steps, DetectConfig(repeat_action_threshold=p["max_repeats"]))
    found = _kind_findings(findings, Kind.LOOP, detected)
    return _finding_result(found) if found else _verdict(True, "")


@scorer("no_duplicate_work", params=_Params, description="No duplicate-work finding: no work done twice.")
def no_duplicate_work(steps: list[Step], findings: list[dict[str, Any]]) -> ScoreResult:
    found = _kind_findings(findings, Kind.DUPLICATE_WORK, detect_duplicate_work(steps))
    return _finding_result(found) if found else _verdict(True, "")


class RetryParams(_Params):
    max_attempts: int = Field(3, ge=1)  # highest allowed retry_attempt of any step (1 = no retries)
    max_retries: int | None = Field(None, ge=0)  # retried steps allowed in the whole trace


@scorer(
    "retry_budget",
    params=RetryParams,
    description="No retry-storm finding, and retries within max_attempts per step (and max_retries).",
)
def retry_budget(steps: list[Step], findings: list[dict[str, Any]], **p: Any) -> ScoreResult:
    found = _kind_findings(findings, Kind.RETRY_STORM, detect_retry_storms(steps))
    if found:
        return _finding_result(found)
    worst = max(steps, key=lambda s: s.retry_attempt, default=None)
    retries = sum(1 for s in steps if is_retry(s))
    if worst is not None and worst.retry_attempt > p["max_attempts"]:
        return ScoreResult(
            value=0.0,
            passed=False,
            agent=worst.agent,
            comment=f"{worst.name!r} reached attempt {worst.retry_attempt} (limit {p['max_attempts']})",
        )
    if p["max_retries"] is not None and retries > p["max_retries"]:
        return _verdict(False, f"{retries} retried steps (limit {p['max_retries']})")
    return _verdict(True, "", f"{retries} retried steps")


_VIOLATED = {"false", "0", "violated", "failed", "fail", "error", "invalid", "broken"}


def contract_violation(step: Step) -> str | None:
    """Why a step broke its hand-off contract, from `tracehouse.contract.*` attributes / events, or None."""
    for key, raw in step.attributes.items():
        if not key.startswith(sc.CONTRACT_PREFIX):
            continue
        field = key[len(sc.CONTRACT_PREFIX) :]
        value = raw.strip().lower()
        if field in ("violation", "error", "failure", "reason") and value not in ("", "none", "null"):
            return raw
        if field in ("ok", "valid", "passed", "satisfied", "respected") and value in _VIOLATED:
            return f"{key}={raw}"
        if field in ("status", "result", "outcome") and value in _VIOLATED | {"violation"}:
            return f"{key}={raw}"
    if step.error_type == "ContractViolation":
        return step.status_message or "ContractViolation"
    for event in step.events:
        if "contract" in event.name.lower() and "violat" in event.name.lower():
            return event.attributes.get("reason") or event.name
    return None


@scorer(
    "handoff_contract", params=_Params, description="Every hand-off respected its contract (tracehouse.contract.*)."
)
def handoff_contract(steps: list[Step]) -> ScoreResult:
    checked = [
        s
        for s in steps
        if any(k.startswith(sc.CONTRACT_PREFIX) for k in s.attributes) or s.step_type == StepType.HANDOFF
    ]
    for s in steps:
        why = contract_violation(s)
        if why:
            edge = f"{s.handoff_source or '?'}->{s.handoff_target or s.agent or '?'}"
            return ScoreResult(
                value=0.0,
                passed=False,
                agent=s.handoff_target or s.agent,
                comment=f"contract {edge} broken on {s.name!r}: {why}"[:300],
            )
    return _verdict(True, "", f"{len(checked)} hand-offs checked")


class NoErrorParams(_Params):
    strict: bool = False  # also fail on errors that were recovered from (any error step)


@scorer("no_error", params=NoErrorParams, description="The trace finished without error (root not failed).")
def no_error(trace: TraceData, steps: list[Step], **p: Any) -> ScoreResult:
    root = trace.root
    if root is None:
        return _verdict(False, "trace has no steps")
    if root.parent_span_id:
        return _verdict(False, "trace has no root step (did not finish, or its root was lost)")
    if failed(root):
        return ScoreResult(
            value=0.0,
            passed=False,
            agent=_error_origin(trace, steps),
            comment=f"root {root.name!r} failed: {root.error_type or root.status_message}"[:300],
        )
    failures = [s for s in steps if failed(s)]
    if p["strict"] and failures:
        return ScoreResult(
            value=0.0,
            passed=False,
            agent=failures[0].agent,
            comment=f"{len(failures)} step(s) failed, first {failures[0].name!r}",
        )
    return _verdict(True, "", f"{len(failures)} recovered error step(s)" if failures else "")


def _error_origin(trace: TraceData, steps: list[Step]) -> str:
    """The agent a failed trace is blamed on: the agent of the last-started failed step below the root."""
    below = [s for s in steps if failed(s) and s.parent_span_id and s.agent]
    if below:
        return max(below, key=lambda s: s.start_time_ns).agent
    return trace.root_agent()
