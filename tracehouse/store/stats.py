"""Aggregates over steps in a time window — per agent, model, operation, service or provider — and their time series.

Reads `steps FINAL`, so a span delivered twice counts once. The hour bucket that leads the table's ORDER BY after
the project lets the window prune whole ranges of granules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from tracehouse.domain.rates import ERROR_RATE, RETRY_RATE, ratio
from tracehouse.store.client import Store, as_utc
from tracehouse.store.traces import BadFilter

GroupBy = Literal["agent", "model", "operation", "service", "provider", "step_type"]
GROUP_COLUMNS: dict[str, str] = {
    "agent": "agent",
    "model": "request_model",
    "operation": "operation",
    "service": "service",
    "provider": "provider",
    "step_type": "step_type",
}
# Which steps a group is made of: an agent's numbers are the steps attributed to it; a model's are model calls.
_GROUP_FILTER: dict[str, str] = {
    "agent": "agent != ''",
    "model": "request_model != '' AND step_type IN ('llm', 'embedding')",
    "operation": "operation != ''",
    "service": "1",
    "provider": "provider != '' AND step_type IN ('llm', 'embedding')",
    "step_type": "1",
}
MAX_SERIES_POINTS = 2000


@dataclass
class GroupStats:
    """One group's numbers over the window. `calls` and latency are over the group's own invocations (an agent's
    `invoke_agent` steps) when it has any, else over all its steps. The rates are `tracehouse.domain.rates`'s, over
    `call_steps` (its model, tool, retrieval and embedding calls): `errors` failed calls, `retries` retried ones."""

    key: str
    steps: int
    calls: int
    call_steps: int
    errors: int
    error_rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unpriced: int
    retries: int
    retry_rate: float


@dataclass
class SeriesPoint:
    bucket: datetime
    key: str
    calls: int
    errors: int  # failed calls (`tracehouse.domain.rates.ERROR_RATE`'s count)
    p95_ms: float
    tokens: int
    cost_usd: float


def _window(since: datetime, until: datetime) -> dict[str, Any]:
    since, until = as_utc(since), as_utc(until)
    if until <= since:
        raise BadFilter("until: must be after since")
    return {"since": since, "until": until}


def _where(group_by: str, project_id: str, key: str | None, params: dict[str, Any]) -> str:
    """The window, the project, the group's steps and (with `key`) one group; fills in its parameters."""
    if group_by not in GROUP_COLUMNS:
        raise BadFilter(f"group_by: must be one of {', '.join(GROUP_COLUMNS)}")
    params["p"] = project_id
    where = (
        "project_id = {p:String} AND start_time >= {since:DateTime64(9, 'UTC')}"
        " AND start_time < {until:DateTime64(9, 'UTC')} AND " + _GROUP_FILTER[group_by]
    )
    if key is not None:
        where += f" AND {GROUP_COLUMNS[group_by]} = {{key:String}}"
        params["key"] = key
    return where


_INVOCATION = "(step_type = 'agent' OR step_type = 'workflow')"


def group_stats(
    store: Store,
    project_id: str,
    since: datetime,
    until: datetime,
    group_by: GroupBy = "agent",
    *,
    key: str | None = None,
) -> list[GroupStats]:
    """Per-group count, error rate, p50/p95/p99 latency, tokens, cost, unpriced and retries over [since, until)."""
    params = _window(since, until)
    where = _where(group_by, project_id, key, params)
    col = GROUP_COLUMNS[group_by]
    rows = store.rows(
        f"""
        SELECT
            {col} AS key,
            count() AS steps,
            countIf({_INVOCATION}) AS invocations,
            if(invocations > 0, invocations, steps) AS calls,
            {ERROR_RATE.denominator_sql()} AS call_steps,
            {ERROR_RATE.numerator_sql()} AS errors,
            if(invocations > 0,
               quantilesIf(0.5, 0.95, 0.99)(duration_ns, {_INVOCATION}),
               quantiles(0.5, 0.95, 0.99)(duration_ns)) AS q,
            sum(ifNull(input_tokens, 0)) AS in_tok,
            sum(ifNull(output_tokens, 0)) AS out_tok,
            sum(ifNull(cost_usd, 0)) AS cost,
            countIf(cost_usd IS NULL AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)) AS unpriced,
            {RETRY_RATE.numerator_sql()} AS retries
        FROM {{db}}.steps FINAL
        WHERE {where}
        GROUP BY key
        ORDER BY cost DESC, steps DESC, key
        """,
        params,
    )
    return [
        GroupStats(
            key=r["key"],
            steps=int(r["steps"]),
            calls=int(r["calls"]),
            call_steps=int(r["call_steps"]),
            errors=int(r["errors"]),
            error_rate=ratio(int(r["errors"]), int(r["call_steps"])),
            p50_ms=float(r["q"][0]) / 1e6,
            p95_ms=float(r["q"][1]) / 1e6,
            p99_ms=float(r["q"][2]) / 1e6,
            input_tokens=int(r["in_tok"]),
            output_tokens=int(r["out_tok"]),
            cost_usd=float(r["cost"]),
            unpriced=int(r["unpriced"]),
            retries=int(r["retries"]),
            retry_rate=ratio(int(r["retries"]), int(r["call_steps"])),
        )
        for r in rows
    ]


def time_series(
    store: Store,
    project_id: str,
    since: datetime,
    until: datetime,
    group_by: GroupBy = "agent",
    *,
    bucket_seconds: int | None = None,
    key: str | None = None,
) -> list[SeriesPoint]:
    """The same numbers per time bucket (chosen to give ~60 points unless `bucket_seconds` is set)."""
    window = _window(since, until)
    span = (window["until"] - window["since"]).total_seconds()
    bucket = bucket_seconds or max(60, int(span // 60))
    if span / bucket > MAX_SERIES_POINTS:
        raise BadFilter(f"bucket_seconds: too small for the window (more than {MAX_SERIES_POINTS} points)")
    params: dict[str, Any] = {"bucket": bucket, **window}
    where = _where(group_by, project_id, key, params)
    col = GROUP_COLUMNS[group_by]
    rows = store.rows(
        f"""
        SELECT
            toStartOfInterval(start_time, toIntervalSecond({{bucket:UInt32}})) AS bucket,
            {col} AS key,
            count() AS calls,
            {ERROR_RATE.numerator_sql()} AS errors,
            quantile(0.95)(duration_ns) AS p95,
            sum(ifNull(input_tokens, 0) + ifNull(output_tokens, 0)) AS tokens,
            sum(ifNull(cost_usd, 0)) AS cost
        FROM {{db}}.steps FINAL
        WHERE {where}
        GROUP BY bucket, key
        ORDER BY bucket, key
        """,
        params,
    )
    return [
        SeriesPoint(
            bucket=as_utc(r["bucket"]),
            key=r["key"],
            calls=int(r["calls"]),
            errors=int(r["errors"]),
            p95_ms=float(r["p95"]) / 1e6,
            tokens=int(r["tokens"]),
            cost_usd=float(r["cost"]),
        )
        for r in rows
    ]
