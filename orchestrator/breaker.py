"""Circuit breakers per (provider, model) and per tool endpoint, shared process-wide.

Closed → Open on 5 consecutive failures, or on a failure rate ≥ 50 % (or slow-call rate ≥ 80 %) over the last 20
calls once 10 are recorded. Open lasts 30 s, doubling on each consecutive re-open up to 5 min (±20 % jitter,
`Retry-After` as a floor). Half-open admits 3 probes and closes only when all 3 succeed; any probe failure re-opens.
An open breaker refuses in microseconds, without touching the provider.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .clock import Clock, RealClock
from .errors import CircuitOpen

State = Literal["closed", "open", "half_open"]


@dataclass(frozen=True)
class BreakerConfig:
    window: int = 20
    min_calls: int = 10
    failure_rate: float = 0.5
    slow_rate: float = 0.8
    slow_call_s: float | None = None
    consecutive_failures: int = 5
    open_s: float = 30.0
    max_open_s: float = 300.0
    jitter: float = 0.2
    half_open_probes: int = 3


@dataclass(frozen=True)
class Transition:
    breaker: str
    from_state: State
    to_state: State
    at: float
    open_for_s: float | None
    reason: str


Listener = Callable[[Transition], None]


@dataclass
class CircuitBreaker:
    """One breaker. `before_call` admits or raises CircuitOpen; report each admitted call's outcome once."""

    name: str
    config: BreakerConfig = field(default_factory=BreakerConfig)
    clock: Clock = field(default_factory=RealClock)
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.state: State = "closed"
        self._outcomes: deque[tuple[bool, bool]] = deque(maxlen=self.config.window)  # (failed, slow)
        self._consecutive = 0
        self._opened_at = 0.0
        self._open_for = 0.0
        self._reopens = 0
        self._probes_admitted = 0
        self._probe_successes = 0
        self.listeners: list[Listener] = []
        self.transitions: list[Transition] = []

    def before_call(self) -> State:
        """Admit a call (returning the state it was admitted in) or raise CircuitOpen."""
        with self._lock:
            if self.state == "open":
                waited = self.clock.now() - self._opened_at
                if waited < self._open_for:
                    raise CircuitOpen(self.name, self._open_for - waited)
                self._move("half_open", None, "open interval elapsed")
            if self.state == "half_open":
                if self._probes_admitted >= self.config.half_open_probes:
                    raise CircuitOpen(self.name, 0.0)
                self._probes_admitted += 1
            return self.state

    def on_success(self, duration_s: float = 0.0) -> None:
        with self._lock:
            slow = self.config.slow_call_s is not None and duration_s > self.config.slow_call_s
            if self.state == "half_open":
                self._probe_successes += 1
                if self._probe_successes >= self.config.half_open_probes:
                    self._reopens = 0
                    self._outcomes.clear()
                    self._consecutive = 0
                    self._move("closed", None, f"{self._probe_successes} probes succeeded")
                return
            self._consecutive = 0
            self._outcomes.append((False, slow))
            self._maybe_open()

    def on_failure(self, retry_after_s: float | None = None) -> None:
        with self._lock:
            if self.state == "half_open":
                self._reopens += 1
                self._open(retry_after_s, "probe failed")
                return
            if self.state == "open":
                return
            self._consecutive += 1
            self._outcomes.append((True, False))
            if self._consecutive >= self.config.consecutive_failures:
                self._open(retry_after_s, f"{self._consecutive} consecutive failures")
            else:
                self._maybe_open(retry_after_s)

    def _maybe_open(self, retry_after_s: float | None = None) -> None:
        n = len(self._outcomes)
        if self.state != "closed" or n < self.config.min_calls:
            return
        failed = sum(1 for f, _ in self._outcomes if f) / n
        slow = sum(1 for _, s in self._outcomes if s) / n
        if failed >= self.config.failure_rate:
            self._open(retry_after_s, f"failure rate {failed:.0%} over {n} calls")
        elif slow >= self.config.slow_rate:
            self._open(retry_after_s, f"slow-call rate {slow:.0%} over {n} calls")

    def _open(self, retry_after_s: float | None, reason: str) -> None:
        base = min(self.config.open_s * (2**self._reopens), self.config.max_open_s)
        spread = self.rng.uniform(-self.config.jitter, self.config.jitter) if self.config.jitter else 0.0
        jittered = base * (1 + spread)
        self._open_for = max(jittered, retry_after_s or 0.0)
        self._opened_at = self.clock.now()
        self._move("open", self._open_for, reason)

    def _move(self, to: State, open_for: float | None, reason: str) -> None:
        t = Transition(self.name, self.state, to, self.clock.now(), open_for, reason)
        self.state = to
        self._probes_admitted = 0
        self._probe_successes = 0
        self.transitions.append(t)
        for listener in list(self.listeners):
            listener(t)


class BreakerRegistry:
    """Breakers by name, created on first use with one config and clock."""

    def __init__(self, config: BreakerConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or BreakerConfig()
        self.clock: Clock = clock or RealClock()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> CircuitBreaker:
        with self._lock:
            found = self._breakers.get(name)
            if found is None:
                found = CircuitBreaker(name, self.config, self.clock, random.Random(name))
                self._breakers[name] = found
            return found

    def __contains__(self, name: str) -> bool:
        return name in self._breakers


_PROCESS_BREAKERS = BreakerRegistry()


def process_breakers() -> BreakerRegistry:
    """The process-wide registry every orchestrator uses unless given its own."""
    return _PROCESS_BREAKERS


def model_breaker_name(provider: str, model: str) -> str:
    return f"model:{provider}/{model}"


def tool_breaker_name(tool: str) -> str:
    return f"tool:{tool}"
