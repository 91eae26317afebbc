"""Spend over time for the dashboard's models / cost page: cost, tokens and calls per time bucket and model or agent,
and the model calls no price covered.

Reads `steps FINAL` (a span delivered twice counts once); ORDER BY (project_id, toStartOfHour(start_time), ...) lets
the window prune to its hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tracehouse.store.client import Store, as_utc

CostKey = Literal["model", "agent"]
_WINDOW = (
    "project_id = {p:String} AND start_time >= {since:DateTime64(9, 'UTC')}"
    " AND start_time < {until:DateTime64(9, 'UTC')}"
)
_PRICED_STEPS = "step_type IN ('llm', 'embedding')"


@dataclass
class CostPoint:
    bucket: datetime
    key: str
    cost_usd: float
    tokens: int
    calls: int


@dataclass
class UnpricedModel:
    """Model calls with no cost over the window (no price, or usage missing), and their tokens."""

    model: str
    provider: str
    calls: int
    tokens: int


@dataclass
class Costs:
    by_model: list[CostPoint]
    by_agent: list[CostPoint]
    unpriced: list[UnpricedModel]  # model calls with no cost (no price, or usage missing), most calls first


def costs(store: Store, project_id: str, since: datetime, until: datetime, *, bucket_seconds: int) -> Costs:
    """Spend per bucket by model and by agent, and the unpriced calls, over [since, until): one scan of the window
    grouped by (bucket, model, agent), folded here into the three views the page shows."""
    rows = store.rows(
        """
        SELECT toStartOfInterval(start_time, toIntervalSecond({b:UInt32})) AS bucket, request_model, agent,
               any(provider) AS provider,
               sum(ifNull(cost_usd, 0)) AS cost,
               sum(ifNull(input_tokens, 0) + ifNull(output_tokens, 0)) AS tokens,
               count() AS calls,
               countIf(cost_usd IS NULL) AS unpriced_calls,
               sumIf(ifNull(input_tokens, 0) + ifNull(output_tokens, 0), cost_usd IS NULL) AS unpriced_tokens
        FROM {db}.steps FINAL
        WHERE """
        + _WINDOW
        + " AND "
        + _PRICED_STEPS
        + """
        GROUP BY bucket, request_model, agent
        LIMIT 200000
        """,
        {"p": project_id, "since": since, "until": until, "b": bucket_seconds},
    )
    series: dict[CostKey, dict[tuple[datetime, str], CostPoint]] = {"model": {}, "agent": {}}
    unpriced: dict[str, UnpricedModel] = {}
    for r in rows:
        bucket = as_utc(r["bucket"])
        keys: tuple[tuple[CostKey, str], ...] = (("model", r["request_model"]), ("agent", r["agent"]))
        for by, key in keys:
            point = series[by].setdefault((bucket, key), CostPoint(bucket, key, 0.0, 0, 0))
            point.cost_usd += float(r["cost"])
            point.tokens += int(r["tokens"])
            point.calls += int(r["calls"])
        if r["unpriced_calls"]:
            model = unpriced.setdefault(r["request_model"], UnpricedModel(r["request_model"], r["provider"], 0, 0))
            model.calls += int(r["unpriced_calls"])
            model.tokens += int(r["unpriced_tokens"])
    return Costs(
        by_model=[series["model"][k] for k in sorted(series["model"])],
        by_agent=[series["agent"][k] for k in sorted(series["agent"])],
        unpriced=sorted(unpriced.values(), key=lambda u: (-u.calls, u.model))[:200],
    )
