"""Running a suite: select traces, score each with bounded concurrency, write the scores, and judge the thresholds.

`score_trace` is pure (a `TraceData` in, `Score`s out); `run_suite` adds the I/O: a `TraceSource` to read from and
a `ScoreSink` to write to. Scores are keyed (trace, name, span, suite, source), so a re-run replaces its scores.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from tracehouse.domain.model import Step
from tracehouse.domain.rates import PASS_RATE
from tracehouse.evals.datasets import CaseMatcher, load_dataset
from tracehouse.evals.model import SKIPPED, ScoreResult, TraceData, plain_text, step_input, step_output
from tracehouse.evals.sources import ScoreSink, TraceSource
from tracehouse.evals.suite import ScorerSpec, Suite
from tracehouse.store.scores import EvalRun, Score
from tracehouse.store.traces import TraceSummary

CASE_ID_ATTR = "tracehouse.eval.case_id"
SOURCE = "eval"
WRITE_BATCH = 500
WORST_CASES = 3

Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class ScorerStats:
    """One scorer's outcome over the run, and whether it met its thresholds."""

    name: str
    type: str
    scores: int
    passed: int
    failed: int
    errors: int
    skipped: int  # traces with nothing to score (no target step, no captured output): neither passed nor failed
    pass_rate: float | None
    mean: float | None
    min_pass_rate: float
    min_mean: float | None
    ok: bool
    reason: str
    worst: list[dict[str, Any]] = field(default_factory=list)  # [{"trace_id", "link", "value", "comment"}]
    skip_reason: str = ""  # why the first skipped trace was skipped


@dataclass
class RunResult:
    suite: Suite
    eval_run_id: str
    started_at: datetime
    finished_at: datetime
    traces: int
    scores: list[Score]
    scorers: list[ScorerStats]
    failures: list[str]  # one line per unmet threshold
    links: dict[str, str]
    judge_usage: dict[str, float]

    @property
    def passed(self) -> bool:
        return not self.failures

    def frame(self) -> pd.DataFrame:
        """Every score of the run, one row each, with a link to its trace."""
        rows = [{**asdict(s), "link": self.links.get(s.trace_id, s.trace_id)} for s in self.scores]
        columns = [*Score.__dataclass_fields__, "link"]
        return pd.DataFrame(rows, columns=columns)

    def by_agent(self) -> pd.DataFrame:
        """Per agent and version: scores, pass rate, mean, failures."""
        df = self.frame()
        if df.empty:
            return pd.DataFrame(columns=["agent", "agent_version", "scores", "pass_rate", "mean", "failed"])
        df["decided"] = df["passed"].notna()
        df["ok"] = df["passed"].map(lambda v: v is True)
        df["bad"] = df["passed"].map(lambda v: v is False)
        grouped = df.groupby(["agent", "agent_version"], dropna=False)
        out = pd.DataFrame(
            {
                "scores": grouped.size(),
                "pass_rate": grouped["ok"].sum() / grouped["decided"].sum().where(lambda s: s > 0),
                "mean": grouped["value"].mean(),
                "failed": grouped["bad"].sum(),
            }
        ).reset_index()
        return out.sort_values(["pass_rate", "agent"], na_position="last").reset_index(drop=True)

    def summary(self) -> dict[str, Any]:
        """What `eval_runs.summary` stores."""
        return {
            "passed": self.passed,
            "traces": self.traces,
            "scores": len(self.scores),
            "failures": self.failures,
            "scorers": [{k: v for k, v in asdict(s).items()} for s in self.scorers],
            "agents": self.by_agent().to_dict(orient="records"),
            "judge_usage": self.judge_usage,
        }


# -- scoring one trace ----------------------------------------------------------------------------------------------


def _targets(spec: ScorerSpec, data: TraceData) -> list[Step | None] | None:
    """The steps a scorer reads: the target's matches (None: not applicable here), or the root."""
    if spec.target is None:
        return [data.root]
    found = spec.target.select(data.steps)
    return list(found) if found else None


def _context(spec: ScorerSpec, data: TraceData, step: Step | None) -> dict[str, Any]:
    raw_out = step_output(step, spec.attribute) if step is not None else None
    raw_in = (step_input(step) if step is not None else None) or (step_input(data.root) if data.root else None)
    return {
        "trace": data,
        "step": step,
        "summary": data.summary,
        "steps": data.steps,
        "findings": data.findings,
        "expected": data.expected,
        "output": plain_text(raw_out) if raw_out is not None else None,
        "input": plain_text(raw_in) if raw_in is not None else None,
    }


def _finish(spec: ScorerSpec, result: ScoreResult) -> ScoreResult:
    if result.skipped:
        return result
    if spec.threshold is not None and result.value is not None and not result.error:
        result.passed = result.value >= spec.threshold
    if not result.label:
        result.label = (
            "error" if result.error else ("pass" if result.passed else "fail" if result.passed is False else "")
        )
    return result


def score_trace(
    suite: Suite,
    data: TraceData,
    *,
    eval_run_id: str,
    now: datetime | None = None,
    usage: dict[str, float] | None = None,
) -> tuple[list[Score], int]:
    """(scores, scorers not applicable) for one trace; pure apart from the scorers themselves (a judge calls out)."""
    now = now or datetime.now(UTC)
    out: list[Score] = []
    skipped = 0
    for spec in suite.scorers:
        targets = _targets(spec, data)
        if targets is None:
            skipped += 1
            continue
        definition = spec.definition()
        for step in targets:
            result = _finish(spec, definition(_context(spec, data, step), spec.params))
            if usage is not None:
                for key, amount in result.usage.items():
                    usage[key] = usage.get(key, 0.0) + amount
            agent = (
                result.agent
                or (step.agent if spec.target is not None and step is not None else "")
                or data.root_agent()
            )
            out.append(
                Score(
                    project_id="",
                    trace_id=data.trace_id,
                    name=spec.name,
                    span_id=result.span_id or (step.span_id if spec.target is not None and step is not None else ""),
                    value=result.value,
                    label=result.label,
                    source=SOURCE,
                    eval_run_id=eval_run_id,
                    suite=suite.name,
                    agent=agent,
                    agent_version=data.agent_version(agent) if agent else "",
                    passed=result.passed,
                    comment=result.comment[:2000],
                    created_at=now,
                )
            )
    return out, skipped


# -- thresholds -----------------------------------------------------------------------------------------------------


def scorer_stats(
    suite: Suite, scores: list[Score], skipped: dict[str, int], links: dict[str, str]
) -> list[ScorerStats]:
    out = []
    errors_excluded = suite.thresholds.max_errors is not None
    for spec in suite.scorers:
        named = [s for s in scores if s.name == spec.name]
        skips = [s for s in named if s.label == SKIPPED]
        mine = [s for s in named if s.label != SKIPPED]
        errors = [s for s in mine if s.label == "error" and s.value is None]
        decided = [s for s in mine if s.passed is not None and not (errors_excluded and s in errors)]
        passed = sum(1 for s in decided if s.passed)
        values = [s.value for s in mine if s.value is not None]
        pass_rate = PASS_RATE.of(decided) if decided else None
        mean = sum(values) / len(values) if values else None
        floor = suite.pass_rate_floor(spec)
        reasons = []
        if pass_rate is not None and pass_rate < floor:
            reasons.append(f"pass rate {pass_rate:.0%} < {floor:.0%}")
        if spec.min_mean is not None and mean is not None and mean < spec.min_mean:
            reasons.append(f"mean {mean:.3f} < {spec.min_mean}")
        ranked = sorted(mine, key=lambda s: (s.passed is not False, s.value if s.value is not None else -1.0))
        worst = [
            {
                "trace_id": s.trace_id,
                "span_id": s.span_id,
                "link": links.get(s.trace_id, s.trace_id),
                "value": s.value,
                "label": s.label,
                "comment": s.comment[:200],
            }
            for s in ranked
            if s.passed is False
        ][:WORST_CASES]
        out.append(
            ScorerStats(
                name=spec.name,
                type=spec.type,
                scores=len(mine),
                passed=passed,
                failed=sum(1 for s in mine if s.passed is False) - len(errors),
                errors=len(errors),
                skipped=skipped.get(spec.name, 0) + len(skips),
                pass_rate=pass_rate,
                mean=mean,
                min_pass_rate=floor,
                min_mean=spec.min_mean,
                ok=not reasons,
                reason="; ".join(reasons),
                worst=worst,
                skip_reason=skips[0].comment
                if skips
                else ("no step matched its target" if spec.name in skipped else ""),
            )
        )
    return out


def gate(suite: Suite, stats: list[ScorerStats], traces: int) -> list[str]:
    """The unmet thresholds, one line each ([] when the suite passes)."""
    failures = [f"{s.name}: {s.reason}" for s in stats if not s.ok]
    if traces == 0:
        failures.insert(0, "no traces matched the selection")
    limit = suite.thresholds.max_errors
    errors = sum(s.errors for s in stats)
    if limit is not None and errors > limit:
        failures.append(f"{errors} scorer errors > max_errors {limit}")
    return failures


# -- a whole run ----------------------------------------------------------------------------------------------------


def attach_expected(suite: Suite, datas: list[TraceData]) -> None:
    """Give each trace its dataset row (by case id attribute or by input), when the suite names a dataset."""
    if suite.dataset is None:
        return
    ref = suite.dataset
    base = suite.base_dir or Path(".")
    dataset = load_dataset(
        base / ref.path, input_field=ref.input_field, expected_field=ref.expected_field, id_field=ref.id_field
    )
    matcher = CaseMatcher(dataset)
    for data in datas:
        root = data.root
        case = None
        if root is not None and ref.match == "case_id":
            case = matcher.by_id(root.attributes.get(CASE_ID_ATTR, ""))
        elif root is not None:
            # The root's input, else the first step that recorded one (a workflow span often records none).
            raw = step_input(root) or next(
                (i for i in (step_input(s) for s in sorted(data.steps, key=lambda s: s.start_time_ns)) if i), None
            )
            case = matcher.by_input(plain_text(raw) if raw else None)
        if case is not None:
            data.case, data.expected = case.as_dict(), case.expected


def run_suite(
    suite: Suite,
    source: TraceSource,
    sink: ScoreSink | None = None,
    *,
    concurrency: int = 4,
    progress: Progress | None = None,
    now: datetime | None = None,
    eval_run_id: str | None = None,
    selected: list[TraceSummary] | None = None,
) -> RunResult:
    """Select, score and write; returns the run's numbers (the caller decides how to report and exit)."""
    started = datetime.now(UTC)
    now = now or started
    run_id = eval_run_id or f"{suite.name}-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"

    def record(status: str = "running", summary: dict[str, Any] | None = None, ended: datetime | None = None) -> None:
        """The run's record as it stands (written at the start, and again when it ends)."""
        if sink is not None:
            sink.write_run(EvalRun("", run_id, suite.name, started, ended, status, summary or {}))

    record()
    summaries = selected if selected is not None else source.select(suite.select, now)
    links = {t.trace_id: source.link(t.trace_id) for t in summaries}
    usage: dict[str, float] = {}
    lock = threading.Lock()
    scores: list[Score] = []
    pending: list[Score] = []
    skipped: dict[str, int] = {}
    traces = 0

    def work(summary: TraceSummary) -> tuple[list[Score], dict[str, int]] | None:
        data = source.load(summary)
        if suite.select.operation and not any(s.operation == suite.select.operation for s in data.steps):
            return None
        attach_expected(suite, [data])
        mine: dict[str, float] = {}
        made, _ = score_trace(suite, data, eval_run_id=run_id, now=now, usage=mine)
        with lock:
            for key, amount in mine.items():
                usage[key] = usage.get(key, 0.0) + amount
        names = {s.name for s in made}
        return made, {spec.name: 1 for spec in suite.scorers if spec.name not in names}

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="eval") as pool:
        futures = [pool.submit(work, s) for s in summaries]
        for done, future in enumerate(as_completed(futures), start=1):
            try:
                outcome = future.result()
            except Exception as exc:
                for other in futures:
                    other.cancel()
                record("error", {"error": f"{type(exc).__name__}: {exc}"[:500]}, datetime.now(UTC))
                raise
            if outcome is not None:
                traces += 1
                made, not_applicable = outcome
                scores.extend(made)
                pending.extend(made)
                for name, n in not_applicable.items():
                    skipped[name] = skipped.get(name, 0) + n
            if sink is not None and len(pending) >= WRITE_BATCH:
                sink.write_scores(pending)
                pending = []
            if progress is not None:
                progress(done, len(summaries))
    if sink is not None and pending:
        sink.write_scores(pending)
    stats = scorer_stats(suite, scores, skipped, links)
    result = RunResult(
        suite=suite,
        eval_run_id=run_id,
        started_at=started,
        finished_at=datetime.now(UTC),
        traces=traces,
        scores=scores,
        scorers=stats,
        failures=gate(suite, stats, traces),
        links=links,
        judge_usage=usage,
    )
    record("passed" if result.passed else "failed", result.summary(), result.finished_at)
    return result
