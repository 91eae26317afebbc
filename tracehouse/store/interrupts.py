"""Interrupts a person answers from the dashboard, for orchestrator runs that live in another process.

The orchestrator keeps its state in the user's own SQLite file, which the server cannot read; what the server sees is
the trace. A paused step's span says what it waits for (`tracehouse.interrupt.id/kind/status/schema`, and the question
when content capture is on), and the step that consumed the answer after a resume says `answered`. So an interrupt is
pending when its trace has a `pending` span for it, no `answered` one, and no answer stored here yet. An answer given
here waits in `interrupt_answers` (migration 7) until the run's owner resumes it with `--server`, which reads it back
through `GET /api/interrupts?trace_id=...`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tracehouse.sdk import semconv as sc
from tracehouse.store.client import Store, as_utc

ANSWER_COLUMNS = ("project_id", "trace_id", "interrupt_id", "answer", "answered_at")
MAX_ANSWER_BYTES = 16_384
LOOKBACK_DAYS = 30  # how far back the spans of a pending interrupt are looked for


class InterruptNotPending(LookupError):
    """No pending interrupt of this project has that id (in that run)."""


class BadAnswer(ValueError):
    """The answer is not JSON, or is larger than MAX_ANSWER_BYTES."""


@dataclass(frozen=True)
class InterruptRecord:
    """One interrupt as the trace shows it: where it is, what it asks, and the answer given here (if any)."""

    trace_id: str
    interrupt_id: str
    kind: str
    question: str | None  # None when the run did not capture content
    schema: dict[str, Any] | None
    agent: str
    span_id: str
    asked_at: datetime
    answer: Any = None
    answered_at: datetime | None = None

    @property
    def status(self) -> str:
        return "pending" if self.answered_at is None else "answered"


def parse_answer(raw: str) -> Any:
    """The answer a person typed, as JSON; a bare word ("approve", "happened") is taken as a string."""
    if len(raw.encode()) > MAX_ANSWER_BYTES:
        raise BadAnswer(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
    text = raw.strip()
    if not text:
        raise BadAnswer("the answer is empty")
    try:
        return json.loads(text)
    except ValueError:
        if text.replace("_", "").replace("-", "").isalnum():
            return text
        raise BadAnswer("the answer must be JSON (or one word such as approve, deny, happened, rerun)") from None


def list_interrupts(
    store: Store,
    project_id: str,
    *,
    trace_id: str | None = None,
    now: datetime | None = None,
    limit: int = 200,
) -> list[InterruptRecord]:
    """Interrupts still waiting for their run to consume an answer: pending, or answered here but not resumed yet.
    Newest first; the spans of the last LOOKBACK_DAYS days are read (the orchestrator marks its spans by id)."""
    since = as_utc(now or datetime.now(UTC)) - timedelta(days=LOOKBACK_DAYS)
    params: dict[str, Any] = {
        "p": project_id,
        "since": since,
        "limit": limit,
        "id_key": sc.INTERRUPT_ID,
        "status_key": sc.INTERRUPT_STATUS,
        "kind_key": sc.INTERRUPT_KIND,
        "q_key": sc.INTERRUPT_QUESTION,
        "schema_key": sc.INTERRUPT_SCHEMA,
    }
    where = [
        "project_id = {p:String}",
        "start_time >= {since:DateTime64(3, 'UTC')}",
        "attributes[{status_key:String}] IN ('pending', 'answered')",
    ]
    if trace_id is not None:
        where.append("trace_id = {t:String}")
        params["t"] = trace_id
    rows = store.rows(
        f"""
        SELECT trace_id, interrupt_id, kind, question, schema, agent, span_id, asked_at,
               a.answer AS answer, a.answered_at AS answered_at, a.trace_id != '' AS has_answer
        FROM
        (
            SELECT trace_id,
                   attributes[{{id_key:String}}] AS interrupt_id,
                   argMaxIf(attributes[{{kind_key:String}}], end_time, pending) AS kind,
                   argMaxIf(attributes[{{q_key:String}}], end_time, pending) AS question,
                   argMaxIf(attributes[{{schema_key:String}}], end_time, pending) AS schema,
                   argMaxIf(agent, end_time, pending) AS agent,
                   argMaxIf(span_id, end_time, pending) AS span_id,
                   maxIf(end_time, pending) AS asked_at,
                   countIf(NOT pending) AS consumed
            FROM
            (
                SELECT trace_id, span_id, agent, end_time, attributes,
                       attributes[{{status_key:String}}] = 'pending' AS pending
                FROM {{db}}.steps FINAL
                WHERE {" AND ".join(where)}
            )
            GROUP BY trace_id, interrupt_id
            HAVING consumed = 0 AND countIf(pending) > 0
        ) AS i
        LEFT JOIN
        (
            SELECT trace_id, interrupt_id, answer, answered_at
            FROM {{db}}.interrupt_answers FINAL
            WHERE project_id = {{p:String}}
        ) AS a ON a.trace_id = i.trace_id AND a.interrupt_id = i.interrupt_id
        ORDER BY asked_at DESC, trace_id, interrupt_id
        LIMIT {{limit:UInt32}}
        """,
        params,
    )
    return [_record(r) for r in rows]


def _record(r: dict[str, Any]) -> InterruptRecord:
    try:
        schema = json.loads(r["schema"]) if r["schema"] else None
    except ValueError:
        schema = None
    answered = bool(r["has_answer"])
    return InterruptRecord(
        trace_id=r["trace_id"],
        interrupt_id=r["interrupt_id"],
        kind=r["kind"] or "question",
        question=r["question"] or None,
        schema=schema if isinstance(schema, dict) else None,
        agent=r["agent"],
        span_id=r["span_id"],
        asked_at=as_utc(r["asked_at"]),
        answer=json.loads(r["answer"]) if answered else None,
        answered_at=as_utc(r["answered_at"]) if answered else None,
    )


def answer_interrupt(
    store: Store, project_id: str, interrupt_id: str, answer: Any, *, trace_id: str | None = None
) -> InterruptRecord:
    """Store a person's answer to a pending interrupt of this project (a later answer replaces an earlier one until
    the run is resumed). The interrupt must be listed for the project: an id of another project's run is unknown."""
    text = json.dumps(answer, sort_keys=True)
    if len(text.encode()) > MAX_ANSWER_BYTES:
        raise BadAnswer(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
    found = [i for i in list_interrupts(store, project_id, trace_id=trace_id) if i.interrupt_id == interrupt_id]
    if not found:
        raise InterruptNotPending(f"no pending interrupt {interrupt_id}")
    if len(found) > 1:
        raise InterruptNotPending(f"interrupt {interrupt_id} is pending in {len(found)} runs: give the run's trace id")
    target = found[0]
    now = datetime.now(UTC)
    row = [project_id, target.trace_id, target.interrupt_id, text, now]
    store.insert("interrupt_answers", [[v] for v in row], ANSWER_COLUMNS)
    return InterruptRecord(**{**target.__dict__, "answer": json.loads(text), "answered_at": now})
