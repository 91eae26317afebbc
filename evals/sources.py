"""Where a suite run reads traces and writes scores: the store directly (embedded in-process, or a ClickHouse DSN),
or a running `tracehouse serve` through its JSON API (the only way in when the server owns an embedded store).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

import httpx

from tracehouse.domain.model import Event, Link, Status, Step, StepType
from tracehouse.evals.model import TraceData
from tracehouse.evals.suite import Selection
from tracehouse.store import Store, TraceFilter, TraceSummary, get_trace_steps, list_traces
from tracehouse.store.client import as_utc
from tracehouse.store.findings import findings_as_dicts
from tracehouse.store.scores import EvalRun, Score, insert_scores, upsert_eval_run
from tracehouse.store.traces import MAX_PAGE


class SourceError(RuntimeError):
    """The store or server could not be read or written; one line saying why."""


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


def _dt(value: str) -> datetime:
    return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


def summary_from_json(data: dict[str, Any]) -> TraceSummary:
    names = {f.name for f in dataclasses.fields(TraceSummary)}
    fields = {k: v for k, v in data.items() if k in names}
    fields["start_time"], fields["end_time"] = _dt(data["start_time"]), _dt(data["end_time"])
    return TraceSummary(**fields)


_STEP_FIELDS = {f.name for f in dataclasses.fields(Step)}


def step_from_json(data: dict[str, Any]) -> Step:
    """A Step from the JSON the trace API returns (`step_json`)."""
    fields = {k: v for k, v in data.items() if k in _STEP_FIELDS}
    fields["status"] = Status(data["status"]) if data.get("status") in Status._value2member_map_ else Status.UNSET
    kind = data.get("step_type") or ""
    fields["step_type"] = StepType(kind) if kind in StepType._value2member_map_ else StepType.OTHER
    fields["events"] = [
        Event(
            time_ns=int(_dt(e["time"]).timestamp() * 1e9)
            if isinstance(e.get("time"), str)
            else int(e.get("time_ns", 0)),
            name=e.get("name", ""),
            attributes=dict(e.get("attributes") or {}),
        )
        for e in data.get("events") or []
    ]
    fields["links"] = [Link(trace_id=link["trace_id"], span_id=link["span_id"]) for link in data.get("links") or []]
    return Step(**fields)


class ApiClient:
    """A small client for the server's JSON API (traces, scores, eval runs), authenticated by an API key."""

    def __init__(self, url: str, api_key: str | None, timeout: float = 30.0, http: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = http or httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self._findings_api = True

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            response = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise SourceError(f"cannot reach {self.url}: {type(exc).__name__}: {exc}") from None
        if response.status_code == 401:
            raise SourceError(f"{self.url} refused the API key (401): pass --api-key or set TRACEHOUSE_API_KEY")
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise SourceError(f"{method} {path}: HTTP {response.status_code}: {str(detail)[:300]}")
        return response.json()

    def traces(self, flt: TraceFilter) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"limit": flt.limit}
        for key in ("agent", "service", "status", "q"):
            if getattr(flt, key):
                params[key] = getattr(flt, key)
        if flt.since:
            params["since"] = flt.since.isoformat()
        if flt.until:
            params["until"] = flt.until.isoformat()
        while True:
            page = self._call("GET", "/api/traces", params=params)
            yield from page["traces"]
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    def trace(self, trace_id: str) -> dict[str, Any]:
        """One trace with every step: the API pages a big trace's steps, so this follows `next_cursor`."""
        path, limit = f"/api/traces/{trace_id}", 10000
        data: dict[str, Any] = self._call("GET", path, params={"limit": limit})
        while data.get("next_cursor"):
            page = self._call("GET", path, params={"limit": limit, "cursor": data["next_cursor"]})
            data["steps"].extend(page["steps"])
            data["next_cursor"] = page.get("next_cursor")
        return data

    def findings(self, trace_id: str) -> list[dict[str, Any]]:
        """The detectors' findings on a trace, when the server has a findings API ([] otherwise)."""
        if not self._findings_api:
            return []
        try:
            response = self.http.get("/api/findings", params={"trace_id": trace_id})
        except httpx.HTTPError:
            return []
        if response.status_code in (404, 405):
            self._findings_api = False
            return []
        if response.status_code != 200:
            return []
        body = response.json()
        items = body.get("findings", []) if isinstance(body, dict) else []
        return [f for f in items if isinstance(f, dict) and f.get("trace_id", trace_id) == trace_id]

    def post_scores(self, scores: Sequence[dict[str, Any]]) -> None:
        for i in range(0, len(scores), 1000):
            self._call("POST", "/api/scores", json=list(scores[i : i + 1000]))

    def post_run(self, run: dict[str, Any]) -> None:
        self._call("POST", "/api/eval-runs", json=run)

    def close(self) -> None:
        self.http.close()


class ApiSource:
    """Reads traces from a running server (the project is the API key's)."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def select(self, sel: Selection, now: datetime) -> list[TraceSummary]:
        if sel.trace_ids:
            found = [summary_from_json(self.client.trace(t)["summary"]) for t in sel.trace_ids]
            return [t for t in found if keep(sel, t)][: sel.limit]
        out: list[TraceSummary] = []
        for data in self.client.traces(_filter(sel, now, MAX_PAGE)):
            summary = summary_from_json(data)
            if keep(sel, summary):
                out.append(summary)
                if len(out) >= sel.limit:
                    break
        return out

    def load(self, summary: TraceSummary) -> TraceData:
        data = self.client.trace(summary.trace_id)
        steps = [step_from_json(s) for s in data["steps"]]
        return TraceData(summary=summary, steps=steps, findings=self.client.findings(summary.trace_id))

    def link(self, trace_id: str) -> str:
        return f"{self.client.url}/traces/{trace_id}"


class ApiSink:
    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def write_scores(self, scores: Sequence[Score]) -> None:
        self.client.post_scores([s.to_json() for s in scores])

    def write_run(self, run: EvalRun) -> None:
        self.client.post_run(run.to_json())
