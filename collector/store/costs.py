"""Spend over time for the dashboard's models / cost page: cost, tokens and calls per time bucket and model or agent,
and the model calls no price covered.

Reads `steps FINAL` (a span delivered twice counts once); ORDER BY (project_id, toStartOfHour(start_time), ...) lets
the window prune to its hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from tracehouse.collector.store.client import Store

CostKey = Literal["model", "agent"]
_KEY_COLUMN = {"model": "request_model", "agent": "agent"}
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
    model: str
    provider: str
    calls: int
    tokens: int


def cost_series(
    store: Store, project_id: str, since: datetime, until: datetime, *, by: CostKey, bucket_seconds: int
) -> list[CostPoint]:
    """Cost, tokens and model calls per bucket and model (or agent) over [since, until)."""
    col = _KEY_COLUMN[by]
    rows = store.rows(
        f"""
        SELECT toStartOfInterval(start_time, toIntervalSecond({{b:UInt32}})) AS bucket, {col} AS key,
               sum(ifNull(cost_usd, 0)) AS cost,
               sum(ifNull(input_tokens, 0) + ifNull(output_tokens, 0)) AS tokens,
               count() AS calls
        FROM {{db}}.steps FINAL
        WHERE {_WINDOW} AND {_PRICED_STEPS}
        GROUP BY bucket, key
        ORDER BY bucket, key
        LIMIT 50000
        """,
        {"p": project_id, "since": since, "until": until, "b": bucket_seconds},
    )
    return [
        CostPoint(bucket=r["bucket"] if r["bucket"].tzinfo else r["bucket"].replace(tzinfo=UTC), key=r["key"],
                  cost_usd=float(r["cost"]), tokens=int(r["tokens"]), calls=int(r["calls"]))
        for r in rows
    ]  # fmt: skip


def unpriced_models(store: Store, project_id: str, since: datetime, until: datetime) -> list[UnpricedModel]:
    """Model calls in the window with no cost (no price for the model, or usage missing), per model."""
    rows: list[dict[str, Any]] = store.rows(
        f"""
        SELECT request_model AS model, any(provider) AS provider, count() AS calls,
               sum(ifNull(input_tokens, 0) + ifNull(output_tokens, 0)) AS tokens
        FROM {{db}}.steps FINAL
        WHERE {_WINDOW} AND {_PRICED_STEPS} AND cost_usd IS NULL
        GROUP BY model
        ORDER BY calls DESC
        LIMIT 200
        """,
        {"p": project_id, "since": since, "until": until},
    )
    return [UnpricedModel(model=r["model"], provider=r["provider"], calls=int(r["calls"]), tokens=int(r["tokens"]))
            for r in rows]  # fmt: skip
