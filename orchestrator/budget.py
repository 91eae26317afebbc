"""Global limits of a run and the ledger that enforces them at one choke point, before every call.

Cost is reserved for the worst case before a model call (prompt estimate × input price + max_tokens × output price)
and settled with real usage after, so parallel branches cannot overshoot the cap. Nested agents share the run's
ledger automatically: there is no way to call a model that does not pass through it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

from tracehouse.sdk.pricing import PriceTable, default_prices

from .errors import BudgetExceeded, GraphConfigError, HandoffHopsExceeded, LimitExceeded, StepCapExceeded

DOWNGRADE_AT = 0.8
FINALIZE_ONLY_AT = 0.95


@dataclass(frozen=True)
class Limits:
    """Caps for one run; None means no cap. `deadline_s` is the run's latency budget from its start."""

    max_cost_usd: float | None = None
    max_tokens: int | None = None
    max_model_calls: int | None = None
    max_tool_calls: int | None = None
    max_steps: int | None = None
    max_handoff_hops: int | None = None
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and (not isinstance(value, int | float) or value < 0 or math.isnan(value)):
                raise GraphConfigError(f"limit {f.name} must be a number >= 0, got {value!r}")


@dataclass(frozen=True)
class Role:
    """A model ladder for one role: tier 0 first; `downgradable` roles move down a tier past 80 % of the budget."""

    name: str
    ladder: Sequence[str]
    downgradable: bool = False

    def __post_init__(self) -> None:
        if not self.ladder:
            raise GraphConfigError(f"role {self.name!r} needs at least one model in its ladder")


@dataclass
class Usage:
    """What a step (and everything under it) consumed."""

    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    model_calls: int = 0
    tool_calls: int = 0
    steps: int = 0
    hops: int = 0
    first_attempts: int = 0
    retries: int = 0

    def add(self, other: Usage) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> Usage:
        out = cls(cost_usd=float(data.get("cost_usd", 0.0)))
        for f in fields(cls):
            if f.name != "cost_usd":
                setattr(out, f.name, int(data.get(f.name, 0)))
        return out


@dataclass
class Reservation:
    """Worst-case cost and tokens held for one model call until it settles or is released."""

    model: str
    cost_usd: float
    tokens: int
    settled: bool = False


@dataclass
class LedgerSnapshot:
    spent_usd: float
    reserved_usd: float
    tokens: int
    model_calls: int
    tool_calls: int
    steps: int
    hops: int


@dataclass
class Ledger:
    """The per-run account of spend and counters; thread-safe; one per run, shared by every nested agent."""

    limits: Limits
    prices: PriceTable = field(default_factory=default_prices)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self.reserved_tokens = 0
        self.tokens = 0
        self.model_calls = 0
        self.tool_calls = 0
        self.steps = 0
        self.hops = 0
        self.settled = Usage()

    # -- cost --
    def estimate(self, model: str, prompt_tokens: int, max_tokens: int) -> float:
        price = self.prices.lookup(model)
        if price is None:
            return 0.0
        return (prompt_tokens * price.input + max_tokens * price.output) / 1_000_000

    def fraction(self) -> float:
        """(spent + reserved) / cap, or 0 without a cost cap."""
        cap = self.limits.max_cost_usd
        with self._lock:
            if not cap:
                return 0.0 if cap is None else 1.0
            return (self.spent_usd + self.reserved_usd) / cap

    def reserve(self, model: str, prompt_tokens: int, max_tokens: int) -> Reservation:
        """Count the model call and hold its worst case; raise BudgetExceeded/LimitExceeded if it cannot fit."""
        cost = self.estimate(model, prompt_tokens, max_tokens)
        tokens = prompt_tokens + max_tokens
        lim = self.limits
        with self._lock:
            if lim.max_model_calls is not None and self.model_calls + 1 > lim.max_model_calls:
                raise LimitExceeded("model_calls", lim.max_model_calls, self.model_calls + 1)
            committed = self.spent_usd + self.reserved_usd
            if lim.max_cost_usd is not None and committed + cost > lim.max_cost_usd:
                raise BudgetExceeded(
                    "cost_usd",
                    lim.max_cost_usd,
                    committed + cost,
                    f"cost cap ${lim.max_cost_usd:.4f}: ${self.spent_usd:.4f} spent + ${self.reserved_usd:.4f} "
                    f"reserved, this {model} call may cost up to ${cost:.4f}",
                )
            if lim.max_tokens is not None and self.tokens + self.reserved_tokens + tokens > lim.max_tokens:
                raise BudgetExceeded("tokens", lim.max_tokens, self.tokens + self.reserved_tokens + tokens)
            self.model_calls += 1
            self.reserved_usd += cost
            self.reserved_tokens += tokens
            return Reservation(model, cost, tokens)

    def settle(self, res: Reservation, usage: Usage) -> None:
        """Replace the reservation by what the call really cost (first settle wins)."""
        with self._lock:
            if res.settled:
                return
            res.settled = True
            self.reserved_usd = max(self.reserved_usd - res.cost_usd, 0.0)
            self.reserved_tokens = max(self.reserved_tokens - res.tokens, 0)
            self._add(usage)

    def release(self, res: Reservation) -> None:
        """Give back a reservation whose call produced no usage (failed before the provider answered)."""
        self.settle(res, Usage())

    def replay(self, usage: Usage) -> None:
        """Re-count usage recorded by a journalled step (resume rebuilds the ledger this way)."""
        with self._lock:
            self.model_calls += usage.model_calls
            self.tool_calls += usage.tool_calls
            self.steps += usage.steps
            self.hops += usage.hops
            self._add(usage)

    def _add(self, usage: Usage) -> None:
        self.spent_usd += usage.cost_usd
        self.tokens += usage.input_tokens + usage.output_tokens
        self.settled.add(usage)

    # -- counters --
    def count_tool_call(self) -> None:
        with self._lock:
            if self.limits.max_tool_calls is not None and self.tool_calls + 1 > self.limits.max_tool_calls:
                raise LimitExceeded("tool_calls", self.limits.max_tool_calls, self.tool_calls + 1)
            self.tool_calls += 1

    def count_step(self) -> None:
        with self._lock:
            if self.limits.max_steps is not None and self.steps + 1 > self.limits.max_steps:
                raise StepCapExceeded("steps", self.limits.max_steps, self.steps + 1)
            self.steps += 1

    def count_hop(self) -> None:
        with self._lock:
            if self.limits.max_handoff_hops is not None and self.hops + 1 > self.limits.max_handoff_hops:
                raise HandoffHopsExceeded("handoff_hops", self.limits.max_handoff_hops, self.hops + 1)
            self.hops += 1

    def snapshot(self) -> LedgerSnapshot:
        with self._lock:
            return LedgerSnapshot(
                self.spent_usd, self.reserved_usd, self.tokens, self.model_calls, self.tool_calls, self.steps, self.hops
            )


@dataclass(frozen=True)
class ModelChoice:
    """The model a call will use, and why."""

    requested: str
    chosen: str
    tier: int
    switched: bool
    fraction: float


def choose_model(role: Role | None, requested: str, fraction: float) -> ModelChoice:
    """Tier 0 below 80 % of the budget; a tier down for downgradable roles from there; pinned roles keep theirs."""
    if role is None or not role.downgradable or fraction < DOWNGRADE_AT or len(role.ladder) < 2:
        return ModelChoice(requested, requested, 0, False, fraction)
    ladder = list(role.ladder)
    tier = ladder.index(requested) if requested in ladder else 0
    chosen_tier = min(tier + 1, len(ladder) - 1)
    return ModelChoice(requested, ladder[chosen_tier], chosen_tier, chosen_tier != tier, fraction)
