"""Query parameters of the trace list, shared by the traces page and `/api/traces` so both take the same filters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import Query

from tracehouse.dashboard.web import RANGE_PATTERN, RANGES, make_window
from tracehouse.store import BadFilter, TraceFilter

SortKey = Literal["start_time", "duration", "cost", "spans", "errors"]
# a status the store filters by; any other value in the URL filters nothing
_STATUSES: dict[str | None, Literal["ok", "error"]] = {"ok": "ok", "error": "error"}


@dataclass(frozen=True)
class TraceQuery:
    """The trace list's filters as the URL carries them, plus the store filter they become."""

    filter: TraceFilter
    range: str  # preset name, "custom" (since/until given) or "all"
    has_finding: bool
    score_below: float | None
    linked_to: str | None  # a trace id: that trace and every trace joined to it by span links
    params: dict[str, str]  # the non-default URL parameters, to rebuild links (sort, next page)

    def url(self, **changes: str | None) -> str:
        """The query string of this view with some parameters changed (None removes one); the cursor always resets
        unless given."""
        merged = {k: v for k, v in self.params.items() if k != "cursor"}
        for k, v in changes.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = v
        return "?" + urlencode(merged) if merged else "?"


def _build(
    since: datetime | None,
    until: datetime | None,
    range_: str | None,
    default_range: str | None,
    agent: str | None,
    model: str | None,
    status: str | None,
    service: str | None,
    q: str | None,
    has_finding: bool,
    score_below: float | None,
    sort: SortKey,
    order: str,
    limit: int,
    cursor: str | None,
    linked_to: str | None = None,
) -> TraceQuery:
    lo, hi, name = since, until, "custom"
    if since is None and until is None:
        name = range_ or default_range or "all"
        if name != "all":
            window = make_window(None, None, name)
            lo, hi = window.since, window.until
    elif range_ is not None:
        name = "custom"
    flt = TraceFilter(
        since=lo,
        until=hi,
        agent=agent or None,
        model=model or None,
        status=_STATUSES.get(status),
        service=service or None,
        q=q or None,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        cursor=cursor or None,
    )
    raw = {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "range": range_,
        "agent": agent,
        "model": model,
        "status": status,
        "service": service,
        "q": q,
        "has_finding": "true" if has_finding else None,
        "score_below": None if score_below is None else f"{score_below:g}",
        "sort": None if sort == "start_time" else sort,
        "order": None if order == "desc" else order,
        "limit": None if limit == 50 else str(limit),
        "cursor": cursor,
        "linked_to": linked_to,
    }
    params = {k: v for k, v in raw.items() if v}
    return TraceQuery(
        filter=flt,
        range=name,
        has_finding=has_finding,
        score_below=score_below,
        linked_to=linked_to or None,
        params=params,
    )


def _number(name: str, raw: str | None) -> float | None:
    """An optional number from a form field, where an empty field means "not given"."""
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadFilter(f"{name}: not a number ({raw[:40]!r})") from None
    if value != value or abs(value) > 1e12:
        raise BadFilter(f"{name}: must be a finite number")
    return value


def _dependency(default_range: str | None) -> Callable[..., TraceQuery]:
    def dep(
        since: Annotated[datetime | None, Query(description="traces starting at or after (RFC 3339)")] = None,
        until: Annotated[datetime | None, Query(description="traces starting before (RFC 3339)")] = None,
        range: str | None = Query(
            None,
            pattern=RANGE_PATTERN,
            description="preset window instead of since/until: " + ", ".join(RANGES) + ", all",
        ),
        agent: str | None = Query(None, max_length=200, description="an agent involved in the trace"),
        model: str | None = Query(None, max_length=200, description="a request model used in the trace"),
        status: Literal["ok", "error", ""] | None = Query(None, description="error: traces with a failed step"),
        service: str | None = Query(None, max_length=200),
        q: str | None = Query(None, max_length=200, description="free text: root name, workflow, agent, trace id"),
        has_finding: bool = Query(False, description="only traces with a loop / duplicate-work / retry-storm finding"),
        score_below: str | None = Query(None, max_length=40, description="only traces whose mean score is below"),
        sort: SortKey = "start_time",
        order: Literal["asc", "desc"] = "desc",
        limit: int = Query(50, ge=1, le=500),
        cursor: str | None = Query(None, max_length=500, description="next_cursor of the previous page"),
        linked_to: str | None = Query(
            None, pattern=r"^[0-9a-f]{32}$", description="one run spread over traces: this trace and those linked to it"
        ),
    ) -> TraceQuery:
        return _build(
            since,
            until,
            range,
            default_range,
            agent,
            model,
            status or None,
            service,
            q,
            has_finding,
            _number("score_below", score_below),
            sort,
            order,
            limit,
            cursor,
            linked_to,
        )

    return dep


page_trace_query = _dependency("24h")
api_trace_query = _dependency(None)
