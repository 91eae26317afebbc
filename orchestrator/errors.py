"""The orchestrator's exception hierarchy: each name says what went wrong and carries what a caller needs to act."""

from __future__ import annotations

from typing import Any


class OrchestratorError(Exception):
    """Base class of every error the orchestrator raises on purpose."""


class GraphConfigError(OrchestratorError):
    """A workflow that is wrong before it runs (unknown agent, uncapped cycle, negative budget...)."""


class TerminalError(OrchestratorError):
    """An error that ends the whole run, not only one branch: parallel steps re-raise it over branch errors."""


class LimitExceeded(TerminalError):
    """A global limit of the run was reached (`kind` is cost_usd, tokens, model_calls, tool_calls, steps, ...)."""

    def __init__(self, kind: str, limit: float, observed: float, message: str | None = None) -> None:
        self.kind = kind
        self.limit = limit
        self.observed = observed
        super().__init__(message or f"{kind} limit {limit:g} reached (observed {observed:g})")


class BudgetExceeded(LimitExceeded):
    """A cost or token reservation did not fit in what is left of the budget."""


class UnpricedModel(TerminalError):
    """A model with no price was asked for under a cost cap: its spend could not be counted, so the cap could not
    hold. Give its price or allow it by name."""

    def __init__(self, model: str, cap: float) -> None:
        self.model = model
        self.cap = cap
        super().__init__(
            f"model {model!r} has no price, so the ${cap:.4f} cost cap cannot hold: give its price "
            f"(Orchestrator(model_prices={{{model!r}: (input_usd_per_m, output_usd_per_m)}}) or $TRACEHOUSE_PRICES) "
            f"or allow it unpriced by name (Orchestrator(allow_unpriced=[{model!r}]))"
        )


class DeadlineExceeded(LimitExceeded):
    """The run's latency budget is spent, or a retry could not finish before the deadline."""


class StepCapExceeded(LimitExceeded):
    """The run or a state machine took more steps than its cap."""


class HandoffHopsExceeded(LimitExceeded):
    """More hand-offs than `max_handoff_hops` (a ping-pong is the usual cause)."""


class RetryBudgetExhausted(TerminalError):
    """A retry was needed but the run's retry budget has none left."""

    def __init__(self, message: str, *, retries_used: int, allowance: float) -> None:
        self.retries_used = retries_used
        self.allowance = allowance
        super().__init__(message)


class CircuitOpen(OrchestratorError):
    """The circuit breaker for a provider/model or tool is open: the call was refused without being made."""

    def __init__(self, breaker: str, retry_in_s: float) -> None:
        self.breaker = breaker
        self.retry_in_s = retry_in_s
        super().__init__(f"circuit {breaker} is open; next probe in {retry_in_s:.1f}s")


class StateConflict(OrchestratorError):
    """Two writers in one superstep wrote a key that has no reducer."""

    def __init__(self, key: str, writers: list[str]) -> None:
        self.key = key
        self.writers = writers
        super().__init__(f"state key {key!r} written by {', '.join(writers)} in one step and it has no reducer")


class UndeclaredWrite(OrchestratorError):
    """A step wrote a state key it did not declare in `writes`."""


class UnknownStateKey(OrchestratorError):
    """A write to a key the state schema does not know."""


class GraphFingerprintMismatch(OrchestratorError):
    """The stored run was made by a different graph (edges, step versions, contracts or shaping config changed)."""

    def __init__(self, trace_id: str, stored: str, current: str) -> None:
        self.trace_id = trace_id
        self.stored = stored
        self.current = current
        super().__init__(
            f"run {trace_id} was recorded with graph fingerprint {stored[:12]}, this graph is {current[:12]}: "
            "refusing to resume a changed graph (fork or start a new run)"
        )


class ContractViolation(OrchestratorError):
    """A hand-off contract was broken: bad payload, missing obligation or failed success predicate."""

    def __init__(self, edge: str, what: str, detail: str) -> None:
        self.edge = edge
        self.what = what
        self.detail = detail
        super().__init__(f"hand-off {edge}: {what}: {detail}")


class LoopDetected(TerminalError):
    """The loop guard saw the same work repeat (`pattern` names which detector fired)."""

    def __init__(self, pattern: str, agent: str, detail: str) -> None:
        self.pattern = pattern
        self.agent = agent
        self.detail = detail
        super().__init__(f"loop detected ({pattern}) at {agent}: {detail}")


class ContextOverflow(OrchestratorError):
    """The prompt does not fit the model's window even after one compaction and truncation."""

    def __init__(self, tokens: int, window: int) -> None:
        self.tokens = tokens
        self.window = window
        super().__init__(f"prompt of ~{tokens} tokens does not fit a {window}-token window after compaction")


class HumanInputRequired(TerminalError):
    """The run is paused on a persisted interrupt; resume it with the human's answer. A pause, not a failure: the
    run's status is `interrupted` and no span is marked as an error."""

    def __init__(self, interrupt_id: str, payload: Any, message: str | None = None) -> None:
        self.interrupt_id = interrupt_id
        self.payload = payload
        super().__init__(message or f"waiting for a human decision on interrupt {interrupt_id}")


class EffectInDoubt(HumanInputRequired):
    """A non-idempotent side effect started before a crash and has no recorded result: it is not re-run. A person
    answers the interrupt with "happened" (optionally `{"happened": true, "result": ...}`) or "rerun"."""

    def __init__(self, effect_key: str, step: str, interrupt_id: str = "") -> None:
        self.effect_key = effect_key
        self.step = step
        super().__init__(
            interrupt_id,
            {"tool": step, "effect_key": effect_key},
            f"side effect {effect_key[:12]} of step {step} may or may not have happened before the crash; "
            "it is not idempotent, so it was not re-run: a person answers whether it happened",
        )


class ToolDenied(OrchestratorError):
    """A person declined a tool call that needs approval (the model is told; code calling the tool sees this)."""

    def __init__(self, tool: str, reason: str | None) -> None:
        self.tool = tool
        self.reason = reason
        super().__init__(f"a person declined the call to {tool}" + (f": {reason}" if reason else ""))


class OutputInvalid(OrchestratorError):
    """The model's answer does not validate against the requested output type (after the re-asks it was allowed)."""

    def __init__(self, type_name: str, detail: str) -> None:
        self.type_name = type_name
        self.detail = detail
        super().__init__(f"answer is not a valid {type_name}: {detail}")


class ProviderError(OrchestratorError):
    """A model provider or tool endpoint failed; `retryable` follows the breaker's classification."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after_s: float | None = None,
        error_type: str | None = None,
    ) -> None:
        self.retryable = retryable
        self.status = status
        self.retry_after_s = retry_after_s
        self.error_type = error_type or (f"http_{status}" if status else type(self).__name__)
        super().__init__(message)


class ProviderTimeout(ProviderError):
    """The call did not answer within its timeout (retryable)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True, error_type="timeout")


BUDGET_KINDS = frozenset({"cost_usd", "tokens", "model_calls", "tool_calls"})


def is_budget_stop(exc: BaseException | None) -> bool:
    """A run ended by one of its budgets (spend, tokens, call counts) — status `budget_exceeded`, not `failed`."""
    return isinstance(exc, LimitExceeded) and exc.kind in BUDGET_KINDS


def is_retryable(exc: BaseException) -> bool:
    """Same classification the breaker uses: timeouts, connection errors, 5xx, 429 — not validation or our limits."""
    if isinstance(exc, ProviderError):
        return exc.retryable
    return isinstance(exc, TimeoutError | ConnectionError)
