"""Reading `scores` and `eval_runs` (written by evals/) for the dashboard: a trace's scores, mean score per trace and
per agent, score groups per suite / scorer / agent, trends, failing cases and the list of runs.

`scores` is a ReplacingMergeTree ORDER BY (project_id, trace_id, name, span_id, suite, source): reads for a set of
traces use the key's prefix; window reads filter on created_at within the project's range. `eval_runs` is keyed
(project_id, eval_run_id). FINAL everywhere, because a re-run re-writes the same score key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tracehouse.collector.store.client import Store

_WINDOW = (
    "project_id = {p:String} AND created_at >= {since:DateTime64(3, 'UTC')}"
    " AND created_at < {until:DateTime64(3, 'UTC')}"
)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class ScoreRow:
    """One score; fields are the `scores` columns."""

    trace_id: str
    span_id: str  # "" for a score on the whole trace
    name: str
    value: float | None
    label: str
    source: str
    eval_run_id: str
    suite: str
    agent: str
    passed: bool | None
    comment: str
    created_at: datetime


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
class EvalRunRow:
    eval_run_id: str
    suite: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    summary: str
    scores: int
    failed: int
    mean: float | None


_SCORE_COLUMNS = "trace_id, span_id, name, value, label, source, eval_run_id, suite, agent, passed, comment, created_at"


def _score(r: dict[str, Any]) -> ScoreRow:
    return ScoreRow(
        trace_id=r["trace_id"], span_id=r["span_id"], name=r["name"], value=r["value"], label=r["label"],
        source=r["source"], eval_run_id=r["eval_run_id"], suite=r["suite"], agent=r["agent"],
        passed=None if r["passed"] is None else bool(r["passed"]), comment=r["comment"],
        created_at=_utc(r["created_at"]),
    )  # fmt: skip


def trace_scores(store: Store, project_id: str, trace_id: str) -> list[ScoreRow]:
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
        r["trace_id"]: {"mean": None if r["mean"] is None else float(r["mean"]), "count": int(r["n"]),
                        "failed": int(r["failed"])}
        for r in rows
    }  # fmt: skip


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
                last_at=_utc(r["last_at"]),
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
        ScorePoint(bucket=_utc(r["bucket"]), suite=r["suite"], name=r["name"],
                   mean=None if r["mean"] is None else float(r["mean"]), count=int(r["n"]))
        for r in rows
    ]  # fmt: skip


def failing_scores(
    store: Store, project_id: str, since: datetime, until: datetime, *, suite: str | None = None, limit: int = 50
) -> list[ScoreRow]:
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
    runs = store.rows(
        "SELECT eval_run_id, suite, started_at, finished_at, status, summary FROM {db}.eval_runs FINAL"
        " WHERE project_id = {p:String} ORDER BY started_at DESC LIMIT {limit:UInt32}",
        {"p": project_id, "limit": limit},
    )
    if not runs:
        return []
    counts = {
        r["eval_run_id"]: r
        for r in store.rows(
            "SELECT eval_run_id, count() AS n, countIf(passed = 0) AS bad, avg(value) AS mean FROM {db}.scores FINAL"
            " WHERE project_id = {p:String} AND eval_run_id IN {ids:Array(String)} GROUP BY eval_run_id",
            {"p": project_id, "ids": [r["eval_run_id"] for r in runs]},
        )
    }
    out = []
    for r in runs:
        c = counts.get(r["eval_run_id"], {})
        out.append(
            EvalRunRow(
                eval_run_id=r["eval_run_id"],
                suite=r["suite"],
                started_at=_utc(r["started_at"]),
                finished_at=_utc(r["finished_at"]) if r["finished_at"] else None,
                status=r["status"],
                summary=r["summary"],
                scores=int(c.get("n", 0)),
                failed=int(c.get("bad", 0)),
                mean=None if c.get("mean") is None else float(c["mean"]),
            )
        )
    return out
