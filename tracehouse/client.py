"""The one HTTP client of a running `tracehouse serve`, for every command that talks to one (eval, alerts, detect,
keys): typed records out, and one error style — a `ClientError` whose message says what to do.

    client = Client(load_client_settings(url="http://127.0.0.1:4318"))
    for summary in client.traces(TraceFilter(limit=10)): ...

Key administration goes through `AdminClient`: it carries the admin token of `<data-dir>/admin` instead of an API
key, and is only made once the server has proved it wrote that file (`tracehouse/keys_cli.py`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel

from tracehouse.admin import ADMIN_HEADER, CreatedKey, KeyOut, Keys, Proof
from tracehouse.domain.model import Event, Link, Status, Step, StepType
from tracehouse.errors import BadInput, ClientError
from tracehouse.evals.alerting.api_models import AlertsCheck, AlertsOverview
from tracehouse.evals.api_models import EvalRunAccepted, ScoresAccepted
from tracehouse.evals.detect.api import DetectReport, Findings
from tracehouse.settings import ClientSettings
from tracehouse.store.findings import Finding
from tracehouse.store.scores import EvalRun, Score
from tracehouse.store.traces import TraceFilter, TraceSummary

M = TypeVar("M", bound=BaseModel)

TRACE_PAGE = 10_000  # steps per page of one trace (the API's largest)
SCORES_PER_POST = 1000


class ProjectOut(BaseModel):
    """The project the presented key belongs to."""

    project: str


@dataclasses.dataclass(frozen=True)
class TraceDetail:
    """One trace: its summary and every step."""

    summary: TraceSummary
    steps: list[Step]


class _Http:
    """Requests with one error style: unreachable, refused or a bad answer is a `ClientError` saying what to do."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float, http: httpx.Client | None) -> None:
        self.url = url.rstrip("/")
        self.http = http or httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def call(self, method: str, path: str, model: type[M], **kw: Any) -> M:
        try:
            return model.model_validate(self.request(method, path, **kw).json())
        except ValueError as exc:  # not JSON, or JSON of another shape
            raise ClientError(f"{self.url}{path} did not answer as tracehouse does ({type(exc).__name__})") from None

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ClientError(
                f"cannot reach {self.url}: {exc or type(exc).__name__} (is `tracehouse serve` running? --server or "
                "TRACEHOUSE_URL says where)"
            ) from None
        if response.status_code == 401:
            raise ClientError(
                f"{self.url} refused the API key (401): pass --api-key or set TRACEHOUSE_API_KEY (a local server's "
                "key is found in --data-dir)",
                401,
            )
        if response.status_code >= 400:
            raise ClientError(
                f"{method} {path}: HTTP {response.status_code}: {_detail(response)[:300]}", response.status_code
            )
        return response

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip().splitlines()[0] if response.text.strip() else response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("error") or body.get("detail") or body)
    return str(body)


class Client(_Http):
    """The server's JSON API as one project's key sees it."""

    def __init__(self, settings: ClientSettings, *, timeout: float = 120.0, http: httpx.Client | None = None) -> None:
        key = settings.key
        super().__init__(settings.server_url, {"Authorization": f"Bearer {key}"} if key else {}, timeout, http)
        self.settings = settings
        self._findings_api = True

    def project(self) -> str:
        return self.call("GET", "/api/project", ProjectOut).project

    def check_project(self) -> None:
        """A `--project` given with a server must be the key's (the server answers for the key's project only)."""
        wanted = self.settings.project
        if wanted is not None and (actual := self.project()) != wanted:
            raise BadInput(f"--project {wanted}: the API key belongs to project {actual!r}")

    # -- traces ------------------------------------------------------------------------------------------------------

    def traces(self, flt: TraceFilter) -> Iterator[TraceSummary]:
        """Every trace the filter selects, following the list's pages."""
        params: dict[str, Any] = {"limit": flt.limit}
        for name in ("agent", "service", "status", "q"):
            if getattr(flt, name):
                params[name] = getattr(flt, name)
        for name in ("since", "until"):
            if getattr(flt, name):
                params[name] = getattr(flt, name).isoformat()
        while True:
            page = self.request("GET", "/api/traces", params=params).json()
            yield from (summary_from_json(t) for t in page["traces"])
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    def trace(self, trace_id: str) -> TraceDetail:
        """One trace with every step (the API pages a big trace's steps; this follows them)."""
        path = f"/api/traces/{trace_id}"
        data = self.request("GET", path, params={"limit": TRACE_PAGE}).json()
        steps = list(data["steps"])
        cursor = data.get("next_cursor")
        while cursor:
            page = self.request("GET", path, params={"limit": TRACE_PAGE, "cursor": cursor}).json()
            steps.extend(page["steps"])
            cursor = page.get("next_cursor")
        return TraceDetail(summary_from_json(data["summary"]), [step_from_json(s) for s in steps])

    def findings(self, trace_id: str) -> list[Finding]:
        """The detectors' findings on a trace; [] from a server without the findings API (asked once)."""
        if not self._findings_api:
            return []
        try:
            found = self.call("GET", "/api/findings", Findings, params={"trace_id": trace_id}).findings
        except ClientError as exc:
            if exc.status not in (404, 405):
                raise
            self._findings_api = False
            return []
        return [f for f in found if f.trace_id == trace_id]

    # -- scores ------------------------------------------------------------------------------------------------------

    def post_scores(self, scores: Sequence[Score]) -> int:
        accepted = 0
        for i in range(0, len(scores), SCORES_PER_POST):
            body = [s.to_json() for s in scores[i : i + SCORES_PER_POST]]
            accepted += self.call("POST", "/api/scores", ScoresAccepted, json=body).accepted
        return accepted

    def post_run(self, run: EvalRun) -> str:
        return self.call("POST", "/api/eval-runs", EvalRunAccepted, json=run.to_json()).eval_run_id

    # -- detectors and alerts ----------------------------------------------------------------------------------------

    def detect(self, since: datetime, until: datetime, *, cross_trace: bool = False) -> DetectReport:
        body = {"since": since.isoformat(), "until": until.isoformat(), "cross_trace": cross_trace}
        return self.call("POST", "/api/detect/run", DetectReport, json=body)

    def alerts(self) -> AlertsOverview:
        return self.call("GET", "/api/alerts", AlertsOverview)

    def check_alerts(self) -> AlertsCheck:
        return self.call("POST", "/api/alerts/check", AlertsCheck)


class AdminClient(_Http):
    """The server's key administration (`/api/admin`), with the admin token of its data directory."""

    def __init__(self, url: str, token: str, *, timeout: float = 10.0, http: httpx.Client | None = None) -> None:
        super().__init__(url, {ADMIN_HEADER: token}, timeout, http)

    def proof(self, challenge: str) -> str:
        return self.call("GET", "/api/admin/proof", Proof, params={"challenge": challenge}).proof

    def keys(self) -> list[KeyOut]:
        return self.call("GET", "/api/admin/keys", Keys).keys

    def create_key(self, project: str, name: str) -> CreatedKey:
        return self.call("POST", "/api/admin/keys", CreatedKey, json={"project": project, "name": name})

    def revoke_key(self, prefix: str) -> KeyOut:
        return self.call("DELETE", f"/api/admin/keys/{prefix}", KeyOut)


# -- the wire form of the records --------------------------------------------------------------------------------------


def _dt(value: str) -> datetime:
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


_SUMMARY_FIELDS = {f.name for f in dataclasses.fields(TraceSummary)}
_STEP_FIELDS = {f.name for f in dataclasses.fields(Step)}


def summary_from_json(data: dict[str, Any]) -> TraceSummary:
    fields = {k: v for k, v in data.items() if k in _SUMMARY_FIELDS}
    fields["start_time"], fields["end_time"] = _dt(data["start_time"]), _dt(data["end_time"])
    return TraceSummary(**fields)


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
