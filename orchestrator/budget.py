"""Global limits of a run and the ledger that enforces them at one choke point, before every call.

Cost is reserved for the worst case before a model call (prompt estimate × input price + max_tokens × output price)
and settled with real usage after, so parallel branches cannot overshoot the cap. Nested agents share the run's
ledger automatically: there is no way to call a model that does not pass through it.

What makes the cap hold: the prompt estimate is conservative (`tokens.py`) and, after each call, reconciled with the
provider's reported count (a model whose prompts were under-counted gets its later estimates scaled up); a model
without a price is refused under a cost cap unless allowed by name (it has no cost to reserve); a share of the cap
is held back for `finalize` steps; and if a provider still reports more than was reserved, the overspend is
reported (`overspend()`) so the run ends `budget_exceeded`, never `succeeded`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

from tracehouse.sdk.pricing import PriceTable, default_prices

from .errors import (
    BudgetExceeded,
    GraphConfigError,
    HandoffHopsExceeded,
    LimitExceeded,
    StepCapExceeded,
    UnpricedModel,
)

DOWNGRADE_AT = 0.8
FINALIZE_ONLY_AT = 0.95
# Reconciliation learns only from prompts big enough for a ratio to mean something (a provider's hidden preamble
# makes a 5-token prompt look like 50), and never scales an estimate more than 4x.
LEARN_FROM_TOKENS = 64
MAX_SCALE = 4.0
FINALIZE_SHARE = 0.1  # of the cost cap, held for finalize steps when the workflow has any and sets no reserve


@dataclass(frozen=True)
class Limits:
    """Caps for one run; None means no cap. `deadline_s` is the run's latency budget from its start.
    `finalize_reserve_usd` is the part of `max_cost_usd` only `finalize` steps may spend (default: 10 % of the cap
    when the workflow has a finalize step, else 0)."""

    max_cost_usd: float | None = None
    max_tokens: int | None = None
    max_model_calls: int | None = None
    max_tool_calls: int | None = None
    max_steps: int | None = None
    max_handoff_hops: int | None = None
    deadline_s: float | None = None
    finalize_reserve_usd: float | None = None

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
        # field by field, not through dataclasses.fields(): this runs several times on every step
        self.cost_usd += other.cost_usd
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.model_calls += other.model_calls
        self.tool_calls += other.tool_calls
        self.steps += other.steps
        self.hops += other.hops
        self.first_attempts += other.first_attempts
        self.retries += other.retries

    def as_dict(self) -> dict[str, float]:
        return {name: value for name in _USAGE_FIELDS if (value := getattr(self, name))}

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> Usage:
        out = cls(cost_usd=float(data.get("cost_usd", 0.0)))
        for f in fields(cls):
            if f.name != "cost_usd":
                setattr(out, f.name, int(data.get(f.name, 0)))
        return out


_USAGE_FIELDS = tuple(f.name for f in fields(Usage))


@dataclass
class Reservation:
    """Worst-case cost and tokens held for one model call until it settles or is released."""

    model: str
    cost_usd: float
    tokens: int
    prompt_tokens: int = 0
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
    allow_unpriced: frozenset[str] = frozenset()
    has_finalize: bool = False

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
        self.scale: dict[str, float] = {}  # per model: how much the provider's prompt count exceeded ours

    # -- cost --
    def estimate(self, model: str, prompt_tokens: int, max_tokens: int) -> float:
        """Worst-case USD of a call (0 for an unpriced model, which `reserve` refuses under a cost cap)."""
        price = self.prices.lookup(model)
        if price is None:
            return 0.0
        return (prompt_tokens * price.input + max_tokens * price.output) / 1_000_000

    def finalize_reserve(self) -> float:
        cap = self.limits.max_cost_usd
        if cap is None:
            return 0.0
        if self.limits.finalize_reserve_usd is not None:
            return min(self.limits.finalize_reserve_usd, cap)
        return cap * FINALIZE_SHARE if self.has_finalize else 0.0

    def priced(self, model: str) -> bool:
        return self.prices.lookup(model) is not None

    def fraction(self) -> float:
        """(spent + reserved) / cap, or 0 without a cost cap."""
        cap = self.limits.max_cost_usd
        with self._lock:
            if not cap:
                return 0.0 if cap is None else 1.0
            return (self.spent_usd + self.reserved_usd) / cap

    def reserve(self, model: str, prompt_tokens: int, max_tokens: int, *, finalize: bool = False) -> Reservation:
        """Count the model call and hold its worst case; raise BudgetExceeded/LimitExceeded if it cannot fit.
        Only a `finalize` call may use the finalize reserve."""
        lim = self.limits
        if lim.max_cost_usd is not None and not self.priced(model) and model not in self.allow_unpriced:
            raise UnpricedModel(model, lim.max_cost_usd)
        prompt_tokens = math.ceil(prompt_tokens * self.scale.get(model, 1.0))
        cost = self.estimate(model, prompt_tokens, max_tokens)
        tokens = prompt_tokens + max_tokens
        with self._lock:
            if lim.max_model_calls is not None and self.model_calls + 1 > lim.max_model_calls:
                raise LimitExceeded("model_calls", lim.max_model_calls, self.model_calls + 1)
            committed = self.spent_usd + self.reserved_usd
            held = 0.0 if finalize else self.finalize_reserve()
            if lim.max_cost_usd is not None and committed + cost > lim.max_cost_usd - held:
                raise BudgetExceeded(
                    "cost_usd",
                    lim.max_cost_usd,
                    committed + cost,
                    f"cost cap ${lim.max_cost_usd:.4f}: ${self.spent_usd:.4f} spent + ${self.reserved_usd:.4f} "
                    f"reserved, this {model} call may cost up to ${cost:.4f}"
                    + (f" (${held:.4f} is held for finalize steps)" if held else ""),
                )
            if lim.max_tokens is not None and self.tokens + self.reserved_tokens + tokens > lim.max_tokens:
                raise BudgetExceeded("tokens", lim.max_tokens, self.tokens + self.reserved_tokens + tokens)
            self.model_calls += 1
            self.reserved_usd += cost
            self.reserved_tokens += tokens
            return Reservation(model, cost, tokens, prompt_tokens)

    def settle(self, res: Reservation, usage: Usage, reported_prompt: int | None = None) -> None:
        """Replace the reservation by what the call really cost (first settle wins), and learn from the provider's
        prompt count: if it exceeds the reservation's, later estimates for that model are scaled up to match."""
        with self._lock:
            if res.settled:
                return
            res.settled = True
            self.reserved_usd = max(self.reserved_usd - res.cost_usd, 0.0)
            self.reserved_tokens = max(self.reserved_tokens - res.tokens, 0)
            self._add(usage)
            if reported_prompt and res.prompt_tokens >= LEARN_FROM_TOKENS and reported_prompt > res.prompt_tokens:
                ratio = self.scale.get(res.model, 1.0) * reported_prompt / res.prompt_tokens
                self.scale[res.model] = min(max(self.scale.get(res.model, 1.0), ratio), MAX_SCALE)

    def overspend(self) -> BudgetExceeded | None:
        """The error to end the run with when settled usage went past a cap (a provider reporting more than was
        reserved); None while within every cap."""
        lim = self.limits
        with self._lock:
            if lim.max_cost_usd is not None and self.spent_usd > lim.max_cost_usd:
                return BudgetExceeded(
                    "cost_usd",
                    lim.max_cost_usd,
                    self.spent_usd,
                    f"the provider reported usage costing ${self.spent_usd:.4f}, over the ${lim.max_cost_usd:.4f} "
                    "cap: the run stops here",
                )
            if lim.max_tokens is not None and self.tokens > lim.max_tokens:
                return BudgetExceeded("tokens", lim.max_tokens, self.tokens)
        return None

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
