"""`/api/interrupts`: orchestrator runs paused for a person (read from their traces), and the answer a person gives
here, which the run's owner picks up with `tracehouse runs resume --server`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from tracehouse.dashboard import views
from tracehouse.dashboard.web import ApiRoute
from tracehouse.store.interrupts import MAX_ANSWER_BYTES, BadAnswer, InterruptNotPending, answer_interrupt
from tracehouse.web.deps import Project, StoreDep

router = APIRouter(prefix="/api", tags=["interrupts"], route_class=ApiRoute)

ID_PATTERN = r"^[0-9a-f]{32}$"


class InterruptOut(BaseModel):
    trace_id: str
    interrupt_id: str
    kind: str
    status: str = Field(description="pending, or answered here and waiting for the run to be resumed")
    question: str | None = Field(description="null when the run does not capture content")
    answer_schema: dict[str, Any] | None = Field(description="the JSON schema an answer must fit, if any")
    agent: str
    span_id: str
    asked_at: datetime
    answer: Any = None
    answered_at: datetime | None = None


class InterruptListOut(BaseModel):
    interrupts: list[InterruptOut]


class AnswerIn(BaseModel):
    answer: Any = Field(description="any JSON value: an object fitting the schema, true/false, approve, happened...")
    trace_id: str | None = Field(None, pattern=ID_PATTERN, description="the run, when the id is pending in several")


@router.get("/interrupts", response_model=InterruptListOut)
def api_interrupts(
    project: Project, store: StoreDep, trace_id: str | None = Query(None, pattern=ID_PATTERN)
) -> dict[str, Any]:
    return {"interrupts": views.interrupt_list(store, project, trace_id)}


@router.post("/interrupts/{interrupt_id}/answer", response_model=InterruptOut)
def api_answer_interrupt(
    project: Project,
    store: StoreDep,
    body: AnswerIn,
    interrupt_id: str = Path(pattern=ID_PATTERN),
) -> dict[str, Any]:
    try:
        record = answer_interrupt(store, project, interrupt_id, body.answer, trace_id=body.trace_id)
    except InterruptNotPending as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except BadAnswer as exc:
        raise HTTPException(status_code=413, detail=f"{exc} (at most {MAX_ANSWER_BYTES} bytes)") from None
    return views.interrupt_json(record)
