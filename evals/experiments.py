"""Experiments: run a workflow over a dataset with each case traced, score every run, compare two experiments.

Each case runs inside an `experiment <name>` workflow span (case id in `tracehouse.eval.case_id`); the spans the
workflow emits through OpenTelemetry (e.g. with `tracehouse.sdk`) are captured in-process, normalised exactly as the
collector would, and scored with the same scorers a suite uses. When the global tracer provider also exports to a
tracehouse server, the runs land there too. Example::

    exp = run_experiment("v2", load_dataset("qa.jsonl"), my_workflow, load_suite("suite.yaml").scorers)
    exp.save("v2.parquet")
    print(compare(Experiment.load("v1.parquet"), exp).summary)
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import StatusCode

from tracehouse.collector.normalise import normalise_request
from tracehouse.domain.model import Step
from tracehouse.domain.outcome import failed
from tracehouse.errors import BadInput
from tracehouse.evals.datasets import Case, Dataset
from tracehouse.evals.model import TraceData
from tracehouse.evals.runner import CASE_ID_ATTR, score_trace
from tracehouse.evals.suite import ScorerSpec, Suite
from tracehouse.sdk import semconv as sc
from tracehouse.sdk.pricing import default_prices
from tracehouse.store.traces import TraceSummary

EXPERIMENT_ATTR = "tracehouse.eval.experiment"
PREVIEW_CHARS = 2000
_EPS = 1e-9


class ExperimentError(BadInput, ValueError):
    """An experiment that cannot run or be read; one line saying why."""


# -- capturing the spans of each run --------------------------------------------------------------------------------


class _Capture(SpanProcessor):
    """Keeps the ended spans of the traces being watched, by trace id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watch: dict[int, list[ReadableSpan]] = {}

    def watch(self, trace_id: int) -> None:
        with self._lock:
            self._watch[trace_id] = []

    def take(self, trace_id: int) -> list[ReadableSpan]:
        with self._lock:
            return self._watch.pop(trace_id, [])

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None:
            return
        with self._lock:
            bucket = self._watch.get(context.trace_id)
            if bucket is not None:
                bucket.append(span)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_CAPTURE = _Capture()
_installed = threading.Lock()
_provider: TracerProvider | None = None


def _capture() -> tuple[_Capture, trace.Tracer]:
    """The process's span capture, installed on the global SDK provider (set up here when there is none)."""
    global _provider
    with _installed:
        if _provider is None:
            current = trace.get_tracer_provider()
            if isinstance(current, TracerProvider):
                _provider = current
            else:
                _provider = TracerProvider()
                trace.set_tracer_provider(_provider)
                if trace.get_tracer_provider() is not _provider:  # someone else won the race / set a proxy
                    raise ExperimentError("cannot install a tracer provider: set an OpenTelemetry SDK provider first")
            _provider.add_span_processor(_CAPTURE)
        return _CAPTURE, _provider.get_tracer("tracehouse.evals.experiments")


def _steps(spans: list[ReadableSpan]) -> list[Step]:
    if not spans:
        return []
    return normalise_request(encode_spans(spans), project_id="experiment", prices=default_prices()).steps


def summarise(trace_id: str, steps: list[Step]) -> TraceSummary:
    """A trace summary computed from steps (what the store's summary view would hold)."""
    start = min((s.start_time_ns for s in steps), default=0)
    end = max((s.end_time_ns for s in steps), default=0)
    root = next((s for s in steps if not s.parent_span_id), steps[0] if steps else None)
    priced = [s.cost_usd for s in steps if s.cost_usd is not None]
    return TraceSummary(
        trace_id=trace_id,
        start_time=datetime.fromtimestamp(start / 1e9, UTC),
        end_time=datetime.fromtimestamp(end / 1e9, UTC),
        duration_ms=(end - start) / 1e6,
        root_name=root.name if root else "",
        service=root.service if root else "",
        workflow=root.workflow if root else "",
        services=sorted({s.service for s in steps if s.service}),
        agents=sorted({s.agent for s in steps if s.agent}),
        models=sorted({s.request_model for s in steps if s.request_model}),
        spans=len(steps),
        errors=sum(1 for s in steps if failed(s)),
        llm_calls=sum(1 for s in steps if str(s.step_type) == "llm"),
        retries=sum(1 for s in steps if s.retry_attempt > 1),
        unpriced=sum(1 for s in steps if str(s.step_type) in ("llm", "embedding") and s.cost_usd is None),
        input_tokens=sum(s.input_tokens or 0 for s in steps),
        output_tokens=sum(s.output_tokens or 0 for s in steps),
        cost_usd=sum(priced) if priced else None,
    )


# -- running --------------------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


def _run_case(name: str, case: Case, workflow: Callable[[Any], Any], suite: Suite) -> dict[str, Any]:
    capture, tracer = _capture()
    attrs = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW,
        EXPERIMENT_ATTR: name,
        CASE_ID_ATTR: case.id,
        sc.INPUT_PREVIEW: _text(case.input)[:PREVIEW_CHARS],
    }
    output: Any = None
    error = ""
    started = time.perf_counter()
    with tracer.start_as_current_span(
        f"experiment {name}", attributes=attrs, record_exception=False, set_status_on_exception=False
    ) as root:
        trace_int = root.get_span_context().trace_id
        capture.watch(trace_int)
        try:
            output = workflow(case.input)
            root.set_attribute(sc.OUTPUT_PREVIEW, _text(output)[:PREVIEW_CHARS])
        except Exception as exc:  # a failing case is a result, not a crashed experiment
            error = f"{type(exc).__name__}: {exc}"[:500]
            root.record_exception(exc)
            root.set_status(StatusCode.ERROR, error[:200])
    latency_ms = (time.perf_counter() - started) * 1000
    trace_id = f"{trace_int:032x}"
    steps = _steps(capture.take(trace_int))
    for step in steps:
        if not step.parent_span_id and not step.output_preview and output is not None:
            step.output_preview = _text(output)[:PREVIEW_CHARS]
    summary = summarise(trace_id, steps)
    data = TraceData(summary=summary, steps=steps, expected=case.expected, case=case.as_dict())
    scores, _ = score_trace(suite, data, eval_run_id=name)
    row: dict[str, Any] = {
        "case_id": case.id,
        "input": _text(case.input),
        "expected": None if case.expected is None else _text(case.expected),
        "output": None if output is None else _text(output),
        "error": error,
        "trace_id": trace_id,
        "latency_ms": latency_ms,
        "cost_usd": summary.cost_usd or 0.0,
        "input_tokens": summary.input_tokens,
        "output_tokens": summary.output_tokens,
    }
    for score in scores:
        key = score.name if not score.span_id else f"{score.name}@{score.span_id}"
        row[f"score.{key}"] = score.value
        row[f"passed.{key}"] = score.passed
        row[f"comment.{key}"] = score.comment
    return row


def run_experiment(
    name: str,
    dataset: Dataset,
    workflow: Callable[[Any], Any],
    scorers: Sequence[ScorerSpec] | Suite,
    *,
    concurrency: int = 1,
) -> Experiment:
    """Run `workflow(case.input)` for every case, traced and scored; failures are recorded per case."""
    suite = scorers if isinstance(scorers, Suite) else Suite(name=name, scorers=list(scorers))
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="experiment") as pool:
        rows = list(pool.map(lambda c: _run_case(name, c, workflow, suite), dataset.cases))
    return Experiment(name=name, results=pd.DataFrame(rows))


def import_workflow(ref: str) -> Callable[[Any], Any]:
    """`package.module:function` as a callable."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ExperimentError(f"--workflow: expected module:function, got {ref!r}")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ExperimentError(f"--workflow: cannot load {ref!r}: {exc}") from None
    if not callable(fn):
        raise ExperimentError(f"--workflow: {ref!r} is not callable")
    return fn


# -- results and comparison -----------------------------------------------------------------------------------------


@dataclass
class Experiment:
    """One experiment's per-case results: case, output, trace id, latency, cost, `score.<name>`, `passed.<name>`."""

    name: str
    results: pd.DataFrame

    def scorer_names(self) -> list[str]:
        return [c.removeprefix("score.") for c in self.results.columns if c.startswith("score.")]

    def summary(self) -> pd.DataFrame:
        """Per scorer: cases, mean, pass rate; plus mean latency and cost."""
        df = self.results
        rows = []
        for name in self.scorer_names():
            passed = df[f"passed.{name}"].dropna() if f"passed.{name}" in df else pd.Series(dtype=bool)
            rows.append(
                {
                    "metric": name,
                    "cases": int(df[f"score.{name}"].notna().sum()),
                    "mean": _mean(df[f"score.{name}"]),
                    "pass_rate": float(passed.astype(bool).mean()) if len(passed) else None,
                }
            )
        rows.append({"metric": "latency_ms", "cases": len(df), "mean": _mean(df["latency_ms"]), "pass_rate": None})
        rows.append({"metric": "cost_usd", "cases": len(df), "mean": _mean(df["cost_usd"]), "pass_rate": None})
        return pd.DataFrame(rows)

    def save(self, path: str | Path) -> None:
        """Write to .parquet or .csv (the experiment's name goes in a column)."""
        path = Path(path)
        df = self.results.assign(experiment=self.name)
        if path.suffix.lower() == ".parquet":
            df.to_parquet(path, index=False)
        elif path.suffix.lower() == ".csv":
            df.to_csv(path, index=False)
        else:
            raise ExperimentError(f"{path.name}: save as .parquet or .csv")

    @classmethod
    def load(cls, path: str | Path) -> Experiment:
        path = Path(path)
        try:
            if path.suffix.lower() == ".parquet":
                df = pd.read_parquet(path)
            elif path.suffix.lower() == ".csv":
                df = pd.read_csv(path, dtype={"case_id": str, "trace_id": str})
            else:
                raise ExperimentError(f"{path.name}: not a .parquet or .csv experiment")
        except (OSError, ValueError) as exc:
            if isinstance(exc, ExperimentError):
                raise
            raise ExperimentError(f"{path.name}: cannot read: {exc}") from None
        if "case_id" not in df.columns:
            raise ExperimentError(f"{path.name}: not an experiment file (no case_id column)")
        name = str(df["experiment"].iloc[0]) if "experiment" in df.columns and len(df) else path.stem
        df["case_id"] = df["case_id"].astype(str)
        return cls(name=name, results=df.drop(columns=["experiment"], errors="ignore"))


def _mean(series: pd.Series) -> float | None:
    values = pd.to_numeric(series, errors="coerce").dropna()
    return float(values.mean()) if len(values) else None


@dataclass
class Comparison:
    """B against A: `cases` one row per case (scores, deltas, better / worse / same), `summary` one row per metric."""

    a: str
    b: str
    cases: pd.DataFrame
    summary: pd.DataFrame

    @property
    def better(self) -> int:
        return int((self.cases["change"] == "better").sum())

    @property
    def worse(self) -> int:
        return int((self.cases["change"] == "worse").sum())

    @property
    def same(self) -> int:
        return int((self.cases["change"] == "same").sum())


def compare(a: Experiment, b: Experiment) -> Comparison:
    """Join on case id; a case is better when its mean score over the shared scorers rose, worse when it fell."""
    shared = [n for n in a.scorer_names() if n in b.scorer_names()]
    keep = ["case_id", "input", "latency_ms", "cost_usd", *[f"score.{n}" for n in shared]]
    left = a.results[[c for c in keep if c in a.results]]
    right = b.results[[c for c in keep if c in b.results and c != "input"]]
    cases = left.merge(right, on="case_id", how="outer", suffixes=(".a", ".b"))
    for n in shared:
        cases[f"delta.{n}"] = pd.to_numeric(cases[f"score.{n}.b"], errors="coerce") - pd.to_numeric(
            cases[f"score.{n}.a"], errors="coerce"
        )
    cases["delta.latency_ms"] = cases["latency_ms.b"] - cases["latency_ms.a"]
    cases["delta.cost_usd"] = cases["cost_usd.b"] - cases["cost_usd.a"]
    deltas = (
        cases[[f"delta.{n}" for n in shared]].mean(axis=1, skipna=True) if shared else pd.Series(0.0, index=cases.index)
    )
    cases["change"] = ["better" if d > _EPS else "worse" if d < -_EPS else "same" for d in deltas.fillna(0.0)]
    rows = []
    for n in shared:
        rows.append(
            {
                "metric": n,
                "a": _mean(cases[f"score.{n}.a"]),
                "b": _mean(cases[f"score.{n}.b"]),
                "delta": _mean(cases[f"delta.{n}"]),
                "better": int((cases[f"delta.{n}"] > _EPS).sum()),
                "worse": int((cases[f"delta.{n}"] < -_EPS).sum()),
            }
        )
    for metric in ("latency_ms", "cost_usd"):
        rows.append(
            {
                "metric": metric,
                "a": _mean(cases[f"{metric}.a"]),
                "b": _mean(cases[f"{metric}.b"]),
                "delta": _mean(cases[f"delta.{metric}"]),
                "better": int((cases[f"delta.{metric}"] < -_EPS).sum()),
                "worse": int((cases[f"delta.{metric}"] > _EPS).sum()),
            }
        )
    order = {"worse": 0, "better": 1, "same": 2}
    cases = cases.sort_values("change", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    return Comparison(a=a.name, b=b.name, cases=cases, summary=pd.DataFrame(rows))
