"""Interrupts: a question persisted with a checkpoint, the run paused until a person answers (questions, tool
approvals, arbitration and contract escalations); an answer that does not fit is asked again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from opentelemetry import trace as otel_trace
from pydantic import BaseModel, ValidationError

from tracehouse import sdk
from tracehouse.sdk import semconv as sc

from .._support import roundtrip
from ..errors import HumanInputRequired, ToolDenied
from ..events import Interrupted
from ..journal import Frame, RunCore
from ..state import Checkpoint, Interrupt, StepRecord
from ..tracing import interrupt_attrs


class InterruptUnit(RunCore):
    """Pauses for a person, and the answers that resume them."""

    def ask(self, frame: Frame, question: str, schema: type[BaseModel] | None) -> Any:
        """`ctx.interrupt`: the person's answer (validated as `schema`), or pause the run until there is one."""
        key, _ = frame.next_key("interrupt")
        payload = {"question": question, "schema": None if schema is None else schema.model_json_schema()}
        answer = self._interrupt(key, "question", payload, otel_trace.get_current_span())
        if schema is None:
            return answer
        try:
            return schema.model_validate(answer)
        except ValidationError as exc:
            self._reask(key, "question", {**payload, "invalid_answer": answer, "error": str(exc)[:500]}, exc)

    def approve(self, frame: Frame, tool: str, args: Mapping[str, Any]) -> None:
        """A tool that needs approval: return when a person approved this call, raise ToolDenied when they declined,
        pause the run until they answer."""
        key, _ = frame.next_key(f"approval:{tool}")
        payload = {"tool": tool, "args": dict(args)}
        answer = self._interrupt(key, "approval", payload, otel_trace.get_current_span())
        verdict = approval_of(answer)
        if verdict is None:
            self._reask(
                key,
                "approval",
                {
                    **payload,
                    "invalid_answer": answer,
                    "error": 'answer "approve", "deny" or {"approved": bool, "reason": str}',
                },
            )
        elif not verdict[0]:
            raise ToolDenied(tool, verdict[1])

    def _reask(self, key: str, kind: str, payload: Any, cause: BaseException | None = None) -> NoReturn:
        """The answer did not fit: the interrupt is pending again, saying why, and the run pauses."""
        self.cfg.store.reopen_interrupt(self.trace_id, key, roundtrip(payload))
        otel_trace.get_current_span().set_attributes(interrupt_attrs(key, kind, payload))
        raise HumanInputRequired(
            key, payload, f"the answer to interrupt {key} did not fit ({kind}): asked again"
        ) from cause

    def _interrupt(self, key: str, kind: str, payload: Any, span: sdk.StepSpan | Any) -> Any:
        """The human's answer to interrupt `key`, or persist it (with a checkpoint) and pause the run."""
        for found in self.cfg.store.interrupts(self.trace_id):
            if found.interrupt_id == key and found.status == "answered":
                span.set_attributes(interrupt_attrs(key, kind, payload, "answered"))
                return found.answer
        self.cfg.store.put_interrupt(Interrupt(self.trace_id, key, kind, roundtrip(payload), None, "pending"))
        span.add_event(sc.EVENT_ESCALATION, {sc.INTERRUPT_ID: key, "tracehouse.escalation.kind": kind})
        span.set_attributes(interrupt_attrs(key, kind, payload))
        with self._commit_lock:
            self._seq += 1
            cp = Checkpoint(
                f"{self.trace_id[:16]}-{self.branch}-{self._seq:06d}",
                self.trace_id,
                self.branch,
                self._seq,
                self.last_checkpoint,
                key,
                self.top.state,
                {"top": True, "kind": "interrupt", "interrupt": key, "payload": roundtrip(payload)},
            )
            self.cfg.store.commit_step(
                StepRecord(self.trace_id, self.branch, key, self._seq, kind, "interrupt", "in_doubt"), cp
            )
            self.last_checkpoint = cp.checkpoint_id
        self.emit(Interrupted(key, kind, roundtrip(payload)))
        raise HumanInputRequired(key, payload)


def approval_of(answer: Any) -> tuple[bool, str | None] | None:
    """(approved, reason) from a person's answer: true/false, approve/deny (yes/no), or {"approved", "reason"}."""
    if isinstance(answer, bool):
        return answer, None
    if isinstance(answer, str) and answer.strip().lower() in APPROVE_WORDS | DENY_WORDS:
        return answer.strip().lower() in APPROVE_WORDS, None
    if isinstance(answer, Mapping) and isinstance(answer.get("approved"), bool):
        reason = answer.get("reason")
        return answer["approved"], None if reason is None else str(reason)
    return None


def in_doubt_verdict(answer: Any) -> tuple[bool, Any] | None:
    """(happened, result) from a person's answer about an in-doubt effect: "happened", "rerun" or
    {"happened": bool, "result": ...}."""
    if isinstance(answer, str) and answer.strip().lower() in ("happened", "rerun"):
        return answer.strip().lower() == "happened", None
    if isinstance(answer, Mapping) and isinstance(answer.get("happened"), bool):
        return answer["happened"], answer.get("result")
    return None


APPROVE_WORDS = frozenset({"approve", "approved", "yes", "y"})


DENY_WORDS = frozenset({"deny", "denied", "no", "n"})
