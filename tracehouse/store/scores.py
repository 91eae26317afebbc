"""The query layer for `scores` and `eval_runs`: writing scores and runs, reading them back, and quality per agent.

Both tables are ReplacingMergeTree, so every read here says `FINAL`:
- `scores` is ORDER BY (project_id, trace_id, name, span_id, suite, source) with `created_at` as the version: a suite
  re-run writes the same key with a later `created_at` and replaces the earlier score instead of adding one. Reads by
  trace hit the key's prefix; reads by time window or run scan the project's range (small next to `steps`).
- `eval_runs` is ORDER BY (project_id, eval_run_id) with `updated_at` as the version: a run is written when it starts
  and again when it finishes, and the later row wins.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from tracehouse.domain.rates import PASS_RATE
from tracehouse.store.client import Store, as_utc, iso_z

SCORE_COLUMNS: tuple[str, ...] = (
    "project_id",
    "trace_id",
    "span_id",
    "name",
    "value",
    "label",
    "source",
    "eval_run_id",
    "suite",
    "agent",
    "agent_version",
    "passed",
    "comment",
    "created_at",
)
MAX_SCORES = 10_000


@dataclass
class Score:
    """One score on a trace (span_id "") or on one step of it; field names are the `scores` columns."""

    project_id: str
    trace_id: str
    name: str
    span_id: str = ""
    value: float | None = None
    label: str = ""
    source: str = "api"
    eval_run_id: str = ""
    suite: str = ""
    agent: str = ""
    agent_version: str = ""
    passed: bool | None = None
    comment: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        """As the scores API takes and returns it (no project: the key decides)."""
        out = asdict(self)
        out.pop("project_id")
        out["created_at"] = iso_z(self.created_at)
        return out


@dataclass
class EvalRun:
    """One run of a suite: when, how it ended, and its summary (per-scorer numbers, thresholds, totals)."""

    project_id: str
    eval_run_id: str
    suite: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"  # running / passed / failed / error
    summary: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """As the eval-runs API takes and returns it (no project: the key decides); a counted run adds its counts."""
        out = asdict(self)
        out.pop("project_id")
        out["started_at"] = iso_z(self.started_at)
        out["finished_at"] = iso_z(self.finished_at) if self.finished_at else None
        return out


@dataclass
class AgentQuality:
    """Scores attributed to one agent (and version) over a window."""

    agent: str
    agent_version: str
    scores: int
    mean: float | None
    pass_rate: float | None
    failed: int
    errors: int
    trend: list[dict[str, Any]] = field(default_factory=list)  # [{"bucket", "mean", "pass_rate", "scores"}]


@dataclass
class FailureShare:
    """How much of the failing traces one agent's steps make up, and the failed scores sitting on its own steps."""

    agent: str
    failing_traces: int  # failing traces this agent has steps in
    steps_in_failing: int
    error_steps_in_failing: int
    failed_scores_on_agent: int  # failed scores attributed to this agent (its step or the trace's blamed agent)
    share: float  # failed_scores_on_agent / all failed scores in the window


# -- scores ---------------------------------------------------------------------------------------------------------


def insert_scores(store: Store, scores: list[Score]) -> None:
    """One Native insert; a score with the same key as a stored one replaces it (the later `created_at` wins)."""
    if not scores:
        return
    columns: list[list[Any]] = [
        [s.project_id for s in scores],
        [s.trace_id for s in scores],
        [s.span_id for s in scores],
        [s.name for s in scores],
        [s.value for s in scores],
        [s.label for s in scores],
        [s.source for s in scores],
        [s.eval_run_id for s in scores],
        [s.suite for s in scores],
        [s.agent for s in scores],
        [s.agent_version for s in scores],
        [None if s.passed is None else int(s.passed) for s in scores],
        [s.comment for s in scores],
        [as_utc(s.created_at) for s in scores],
    ]
    store.insert("scores", columns, SCORE_COLUMNS)


def list_scores(
    store: Store,
    project_id: str,
    *,
    trace_id: str | None = None,
    name: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    suite: str | None = None,
    eval_run_id: str | None = None,
    source: str | None = None,
    limit: int = 1000,
) -> list[Score]:
    """Scores of a project, newest first, narrowed by any of the filters (all optional)."""
    where = ["project_id = {p:String}"]
    params: dict[str, Any] = {"p": project_id, "limit": max(1, min(limit, MAX_SCORES))}
    for column, value in (
        ("trace_id", trace_id),
        ("name", name),
        ("suite", suite),
        ("eval_run_id", eval_run_id),
        ("source", source),
    ):
        if value is not None:
            params[column] = value
            where.append(f"{column} = {{{column}:String}}")
    if since is not None:
        params["since"] = as_utc(since)
        where.append("created_at >= {since:DateTime64(3, 'UTC')}")
    if until is not None:
        params["until"] = as_utc(until)
        where.append("created_at < {until:DateTime64(3, 'UTC')}")
    rows = store.rows(
        f"SELECT {', '.join(SCORE_COLUMNS)} FROM {{db}}.scores FINAL WHERE {' AND '.join(where)}"
        " ORDER BY created_at DESC, trace_id, name, span_id LIMIT {limit:UInt32}",
        params,
    )
    return [_score(r) for r in rows]


def _score(row: dict[str, Any]) -> Score:
    row["passed"] = None if row["passed"] is None else bool(row["passed"])
    row["created_at"] = as_utc(row["created_at"])
    return Score(**row)


# -- eval runs ------------------------------------------------------------------------------------------------------

_RUN_COLUMNS = ("project_id", "eval_run_id", "suite", "started_at", "finished_at", "status", "summary", "updated_at")


def upsert_eval_run(store: Store, run: EvalRun) -> None:
    """Write the run's current state; the row with the latest `updated_at` is the one reads see."""
    row = [
        run.project_id,
        run.eval_run_id,
        run.suite,
        as_utc(run.started_at),
        None if run.finished_at is None else as_utc(run.finished_at),
        run.status,
        json.dumps(run.summary, default=str),
        datetime.now(UTC),
    ]
    store.insert("eval_runs", [[v] for v in row], _RUN_COLUMNS)


def list_eval_runs(
    store: Store, project_id: str, *, suite: str | None = None, eval_run_id: str | None = None, limit: int = 50
) -> list[EvalRun]:
    """Runs of a project, newest first."""
    where = ["project_id = {p:String}"]
    params: dict[str, Any] = {"p": project_id, "limit": max(1, min(limit, 1000))}
    if suite is not None:
        params["suite"] = suite
        where.append("suite = {suite:String}")
    if eval_run_id is not None:
        params["run"] = eval_run_id
        where.append("eval_run_id = {run:String}")
    rows = store.rows(
        "SELECT project_id, eval_run_id, suite, started_at, finished_at, status, summary"
        f" FROM {{db}}.eval_runs FINAL WHERE {' AND '.join(where)}"
        " ORDER BY started_at DESC, eval_run_id LIMIT {limit:UInt32}",
        params,
    )
    runs = []
    for r in rows:
        try:
            summary = json.loads(r["summary"]) if r["summary"] else {}
        except ValueError:
            summary = {"unreadable": r["summary"][:200]}
        runs.append(
            EvalRun(
                project_id=r["project_id"],
                eval_run_id=r["eval_run_id"],
                suite=r["suite"],
                started_at=as_utc(r["started_at"]),
                finished_at=None if r["finished_at"] is None else as_utc(r["finished_at"]),
                status=r["status"],
                summary=summary,
            )
        )
    return runs


# -- quality attribution --------------------------------------------------------------------------------------------


def _window(
    project_id: str, since: datetime, until: datetime, suite: str | None, name: str | None
) -> tuple[str, dict[str, Any]]:
    where = [
        "project_id = {p:String}",
        "created_at >= {since:DateTime64(3, 'UTC')}",
        "created_at < {until:DateTime64(3, 'UTC')}",
    ]
    params: dict[str, Any] = {"p": project_id, "since": as_utc(since), "until": as_utc(until)}
    if suite is not None:
        params["suite"] = suite
        where.append("suite = {suite:String}")
    if name is not None:
        params["name"] = name
        where.append("name = {name:String}")
    return " AND ".join(where), params


def agent_quality(
    store: Store,
    project_id: str,
    since: datetime,
    until: datetime,
    *,
    suite: str | None = None,
    name: str | None = None,
    bucket_seconds: int = 86400,
) -> list[AgentQuality]:
    """Per agent and agent version: mean score, pass rate, failures and a trend in `bucket_seconds` buckets.

    Scores without an agent are grouped under "" (trace-level scores the suite could not attribute).
    """
    where, params = _window(project_id, since, until, suite, name)
    params["b"] = max(60, int(bucket_seconds))
    # pass rate counts only scores that decided pass/fail; errors are scores with label 'error' and no value.
    aggregates = f"""
        count() AS scores,
        avgOrNull(value) AS mean,
        {PASS_RATE.numerator_sql()} / nullIf({PASS_RATE.denominator_sql()}, 0) AS pass_rate,
        countIf(passed = 0) AS failed,
        countIf(label = 'error' AND value IS NULL) AS errors
    """
    totals = store.rows(
        f"SELECT agent, agent_version, {aggregates} FROM {{db}}.scores FINAL WHERE {where}"
        " GROUP BY agent, agent_version ORDER BY agent, agent_version",
        params,
    )
    series = store.rows(
        f"SELECT agent, agent_version, toStartOfInterval(created_at, INTERVAL {{b:UInt32}} SECOND) AS bucket,"
        f" {aggregates} FROM {{db}}.scores FINAL WHERE {where}"
        " GROUP BY agent, agent_version, bucket ORDER BY agent, agent_version, bucket",
        params,
    )
    trends: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in series:
        trends.setdefault((r["agent"], r["agent_version"]), []).append(
            {
                "bucket": as_utc(r["bucket"]).isoformat(),
                "scores": int(r["scores"]),
                "mean": _num(r["mean"]),
                "pass_rate": _num(r["pass_rate"]),
            }
        )
    return [
        AgentQuality(
            agent=r["agent"],
            agent_version=r["agent_version"],
            scores=int(r["scores"]),
            mean=_num(r["mean"]),
            pass_rate=_num(r["pass_rate"]),
            failed=int(r["failed"]),
            errors=int(r["errors"]),
            trend=trends.get((r["agent"], r["agent_version"]), []),
        )
        for r in totals
    ]


def failure_shares(
    store: Store, project_id: str, since: datetime, until: datetime, *, suite: str | None = None
) -> list[FailureShare]:
    """Which agents the failing traces' low scores sit on, most to blame first.

    Reads `scores FINAL` for the failed scores of the window, then `steps FINAL` for the failing traces only: the
    steps table is ORDER BY (project, hour, trace, span) with a bloom filter on trace_id, and the hour range (a day
    either side of the window) keeps the scan to the parts that can hold those traces.
    """
    where, params = _window(project_id, since, until, suite, None)
    failed = store.rows(
        f"SELECT agent, count() AS n FROM {{db}}.scores FINAL WHERE {where} AND passed = 0 GROUP BY agent", params
    )
    total_failed = sum(int(r["n"]) for r in failed)
    if total_failed == 0:
        return []
    on_agent = {r["agent"]: int(r["n"]) for r in failed}
    steps = store.rows(
        f"""
        SELECT agent, uniqExact(trace_id) AS traces, count() AS steps, countIf(status = 'error') AS error_steps
        FROM {{db}}.steps FINAL
        WHERE project_id = {{p:String}}
          AND start_time >= {{since:DateTime64(3, 'UTC')}} - INTERVAL 1 DAY
          AND start_time < {{until:DateTime64(3, 'UTC')}} + INTERVAL 1 DAY
          AND agent != ''
          AND trace_id IN (SELECT trace_id FROM {{db}}.scores FINAL WHERE {where} AND passed = 0)
        GROUP BY agent
        """,
        params,
    )
    by_agent = {r["agent"]: r for r in steps}
    agents = set(by_agent) | {a for a in on_agent if a}
    out = [
        FailureShare(
            agent=a,
            failing_traces=int(by_agent[a]["traces"]) if a in by_agent else 0,
            steps_in_failing=int(by_agent[a]["steps"]) if a in by_agent else 0,
            error_steps_in_failing=int(by_agent[a]["error_steps"]) if a in by_agent else 0,
            failed_scores_on_agent=on_agent.get(a, 0),
            share=on_agent.get(a, 0) / total_failed,
        )
        for a in agents
    ]
    return sorted(out, key=lambda f: (-f.failed_scores_on_agent, -f.error_steps_in_failing, f.agent))


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if number != number else number  # NaN -> None


# -- reads for the dashboard: a trace's scores, groups, trends, failing cases, runs -----------------------------------

_WINDOW = (
    "project_id = {p:String} AND created_at >= {since:DateTime64(3, 'UTC')}"
    " AND created_at < {until:DateTime64(3, 'UTC')}"
)


@dataclass
class ScoreGroup:
    """Scores of one (suite, scorer, agent) over a window."""

    suite: str
    name: str
    agent: str
    count: int
    mean: float | None
    passed: int
    failed: int
    pass_rate: float | None
    last_at: datetime


@dataclass
class ScorePoint:
    bucket: datetime
    suite: str
    name: str
    mean: float | None
    count: int


@dataclass
class EvalRunRow(EvalRun):
    """An eval run with its scores counted (what the Evals page lists)."""

    scores: int = 0
    failed: int = 0
    mean: float | None = None


_SCORE_COLUMNS = (
    "project_id, trace_id, span_id, name, value, label, source, eval_run_id, suite, agent, agent_version, passed,"
    " comment, created_at"
)


def trace_scores(store: Store, project_id: str, trace_id: str) -> list[Score]:
    """Every score on one trace and its steps."""
    rows = store.rows(
        f"SELECT {_SCORE_COLUMNS} FROM {{db}}.scores FINAL WHERE project_id = {{p:String}} AND trace_id = {{t:String}}"
        " ORDER BY span_id, suite, name LIMIT 2000",
        {"p": project_id, "t": trace_id},
    )
    return [_score(r) for r in rows]


def mean_scores(store: Store, project_id: str, trace_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per trace: mean numeric score, number of scores and of failed ones (only traces that have scores)."""
    if not trace_ids:
        return {}
    rows = store.rows(
        "SELECT trace_id, avg(value) AS mean, count() AS n, countIf(passed = 0) AS failed FROM {db}.scores FINAL"
        " WHERE project_id = {p:String} AND trace_id IN {ids:Array(String)} GROUP BY trace_id",
        {"p": project_id, "ids": list(trace_ids)},
    )
    return {
        r["trace_id"]: {
            "mean": None if r["mean"] is None else float(r["mean"]),
            "count": int(r["n"]),
            "failed": int(r["failed"]),
        }
        for r in rows
    }


def traces_scored_below(store: Store, project_id: str, threshold: float, *, limit: int = 100_000) -> list[str]:
    """Trace ids whose mean numeric score is below `threshold`."""
    rows = store.rows(
        "SELECT trace_id FROM {db}.scores FINAL WHERE project_id = {p:String} AND value IS NOT NULL"
        " GROUP BY trace_id HAVING avg(value) < {x:Float64} LIMIT {limit:UInt32}",
        {"p": project_id, "x": threshold, "limit": limit},
    )
    return [r["trace_id"] for r in rows]


def agent_mean_scores(store: Store, project_id: str, since: datetime, until: datetime) -> dict[str, float | None]:
    """Per agent named on scores created in the window: the mean numeric score."""
    rows = store.rows(
        f"SELECT agent, avg(value) AS mean FROM {{db}}.scores FINAL WHERE {_WINDOW} AND agent != '' GROUP BY agent",
        {"p": project_id, "since": since, "until": until},
    )
    return {r["agent"]: None if r["mean"] is None else float(r["mean"]) for r in rows}


def score_groups(store: Store, project_id: str, since: datetime, until: datetime) -> list[ScoreGroup]:
    """Scores per (suite, scorer, agent) created in the window."""
    rows = store.rows(
        f"""
        SELECT suite, name, agent, count() AS n, avg(value) AS mean, countIf(passed = 1) AS ok,
               countIf(passed = 0) AS bad, max(created_at) AS last_at
        FROM {{db}}.scores FINAL
        WHERE {_WINDOW}
        GROUP BY suite, name, agent
        ORDER BY suite, name, agent
        LIMIT 1000
        """,
        {"p": project_id, "since": since, "until": until},
    )
    out = []
    for r in rows:
        ok, bad = int(r["ok"]), int(r["bad"])
        out.append(
            ScoreGroup(
                suite=r["suite"],
                name=r["name"],
                agent=r["agent"],
                count=int(r["n"]),
                mean=None if r["mean"] is None else float(r["mean"]),
                passed=ok,
                failed=bad,
                pass_rate=ok / (ok + bad) if ok + bad else None,
                last_at=as_utc(r["last_at"]),
            )
        )
    return out


def score_trend(
    store: Store, project_id: str, since: datetime, until: datetime, *, bucket_seconds: int
) -> list[ScorePoint]:
    """Mean score per (suite, scorer) per time bucket."""
    rows = store.rows(
        f"""
        SELECT toStartOfInterval(created_at, toIntervalSecond({{b:UInt32}})) AS bucket, suite, name,
               avg(value) AS mean, count() AS n
        FROM {{db}}.scores FINAL
        WHERE {_WINDOW}
        GROUP BY bucket, suite, name
        ORDER BY bucket, suite, name
        LIMIT 20000
        """,
        {"p": project_id, "since": since, "until": until, "b": bucket_seconds},
    )
    return [
        ScorePoint(
            bucket=as_utc(r["bucket"]),
            suite=r["suite"],
            name=r["name"],
            mean=None if r["mean"] is None else float(r["mean"]),
            count=int(r["n"]),
        )
        for r in rows
    ]


def failing_scores(
    store: Store, project_id: str, since: datetime, until: datetime, *, suite: str | None = None, limit: int = 50
) -> list[Score]:
    """The most recent failed scores (passed = 0) in the window."""
    params: dict[str, Any] = {"p": project_id, "since": since, "until": until, "limit": limit}
    where = _WINDOW + " AND passed = 0"
    if suite:
        where += " AND suite = {suite:String}"
        params["suite"] = suite
    rows = store.rows(
        f"SELECT {_SCORE_COLUMNS} FROM {{db}}.scores FINAL WHERE {where}"
        " ORDER BY created_at DESC LIMIT {limit:UInt32}",
        params,
    )
    return [_score(r) for r in rows]


def eval_runs(store: Store, project_id: str, *, limit: int = 50) -> list[EvalRunRow]:
    """The most recent eval runs with their score counts."""
    runs = list_eval_runs(store, project_id, limit=limit)
    if not runs:
        return []
    counts = {
        r["eval_run_id"]: r
        for r in store.rows(
            "SELECT eval_run_id, count() AS n, countIf(passed = 0) AS bad, avg(value) AS mean FROM {db}.scores FINAL"
            " WHERE project_id = {p:String} AND eval_run_id IN {ids:Array(String)} GROUP BY eval_run_id",
            {"p": project_id, "ids": [r.eval_run_id for r in runs]},
        )
    }
    out = []
    for run in runs:
        c = counts.get(run.eval_run_id, {})
        mean = c.get("mean")
        out.append(
            EvalRunRow(
                **vars(run),
                scores=int(c.get("n", 0)),
                failed=int(c.get("bad", 0)),
                mean=None if mean is None else float(mean),
            )
        )
    return out
