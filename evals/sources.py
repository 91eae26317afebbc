"""Where a suite run reads traces and writes scores: the store directly (embedded in-process, or a ClickHouse DSN),
or a running `tracehouse serve` through its JSON API (the only way in when the server owns an embedded store).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from tracehouse.evals.model import TraceData
from tracehouse.evals.suite import Selection
from tracehouse.store import Store, TraceFilter, TraceSummary, get_trace_steps, list_traces
from tracehouse.store.findings import findings_as_dicts
from tracehouse.store.scores import EvalRun, Score, insert_scores, upsert_eval_run
from tracehouse.store.traces import MAX_PAGE

if TYPE_CHECKING:
    from tracehouse.client import Client


def sampled(trace_id: str, rate: float, seed: str = "") -> bool:
    """Deterministic sampling: the same trace id, rate and seed always give the same answer."""
    if rate >= 1:
        return True
    digest = hashlib.sha256(f"{seed}:{trace_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def _filter(sel: Selection, now: datetime, limit: int) -> TraceFilter:
    since, until = sel.window(now)
    return TraceFilter(
        since=since,
        until=until,
        agent=sel.agent,
        service=sel.service,
        status=sel.status,
        q=sel.q or (sel.workflow if isinstance(sel.workflow, str) else None),
        trace_ids=tuple(sel.trace_ids) if sel.trace_ids else None,
        limit=limit,
    )


def keep(sel: Selection, summary: TraceSummary) -> bool:
    """The parts of a selection the trace list cannot apply: exact workflow name and sampling."""
    if not sel.workflow_matches(summary.root_name, summary.workflow):
        return False
    return sampled(summary.trace_id, sel.sample, sel.seed)


class TraceSource(Protocol):
    def select(self, sel: Selection, now: datetime) -> list[TraceSummary]: ...
    def load(self, summary: TraceSummary) -> TraceData: ...
    def link(self, trace_id: str) -> str: ...


class ScoreSink(Protocol):
    def write_scores(self, scores: Sequence[Score]) -> None: ...
    def write_run(self, run: EvalRun) -> None: ...


class StoreSource:
    """Reads traces from a `Store` for one project."""

    def __init__(self, store: Store, project_id: str, link_base: str = "") -> None:
        self.store = store
        self.project_id = project_id
        self.link_base = link_base.rstrip("/")

    def select(self, sel: Selection, now: datetime) -> list[TraceSummary]:
        flt = _filter(sel, now, MAX_PAGE)
        out: list[TraceSummary] = []
        while len(out) < sel.limit:
            page = list_traces(self.store, self.project_id, flt)
            out.extend(t for t in page.traces if keep(sel, t))
            if page.next_cursor is None:
                break
            flt = dataclasses.replace(flt, cursor=page.next_cursor)
        return out[: sel.limit]

    def load(self, summary: TraceSummary) -> TraceData:
        steps = get_trace_steps(
            self.store, self.project_id, summary.trace_id, around=(summary.start_time, summary.end_time)
        )
        return TraceData(
            summary=summary, steps=steps, findings=findings_as_dicts(self.store, self.project_id, summary.trace_id)
        )

    def link(self, trace_id: str) -> str:
        return f"{self.link_base}/traces/{trace_id}" if self.link_base else trace_id


class StoreSink:
    def __init__(self, store: Store, project_id: str) -> None:
        self.store = store
        self.project_id = project_id

    def write_scores(self, scores: Sequence[Score]) -> None:
        insert_scores(self.store, [dataclasses.replace(s, project_id=self.project_id) for s in scores])

    def write_run(self, run: EvalRun) -> None:
        upsert_eval_run(self.store, dataclasses.replace(run, project_id=self.project_id))


# -- through a running server ---------------------------------------------------------------------------------------


class ApiSource:
    """Reads traces from a running server (the project is the API key's)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def select(self, sel: Selection, now: datetime) -> list[TraceSummary]:
        if sel.trace_ids:
            found = [self.client.trace(t).summary for t in sel.trace_ids]
            return [t for t in found if keep(sel, t)][: sel.limit]
        out: list[TraceSummary] = []
        for summary in self.client.traces(_filter(sel, now, MAX_PAGE)):
            if keep(sel, summary):
                out.append(summary)
                if len(out) >= sel.limit:
                    break
        return out

    def load(self, summary: TraceSummary) -> TraceData:
        steps = self.client.trace(summary.trace_id).steps
        findings = [f.to_json() for f in self.client.findings(summary.trace_id)]
        return TraceData(summary=summary, steps=steps, findings=findings)

    def link(self, trace_id: str) -> str:
        return f"{self.client.url}/traces/{trace_id}"


class ApiSink:
    def __init__(self, client: Client) -> None:
        self.client = client

    def write_scores(self, scores: Sequence[Score]) -> None:
        self.client.post_scores(scores)

    def write_run(self, run: EvalRun) -> None:
        self.client.post_run(run)
