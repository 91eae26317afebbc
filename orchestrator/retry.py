"""Retries live in one layer, the orchestrator: a per-call attempt cap, a per-run retry budget and full-jitter backoff.

Budget: retries allowed = `min_retries + ratio × first attempts so far` (Finagle/Envoy-like, defaults 3 and 0.2);
first attempts never consume it. A retry never starts when the breaker is open, when it could not finish before the
deadline, or when the ledger cannot reserve its cost.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How one call retries: at most `max_attempts` in total; sleep uniform in 0..min(cap, base·2^n), ≥ Retry-After."""

    max_attempts: int = 3
    base_s: float = 0.5
    cap_s: float = 20.0

    def backoff(self, retry_index: int, rng: random.Random, retry_after_s: float | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * (2**retry_index))
        return max(rng.uniform(0.0, ceiling), retry_after_s or 0.0)


NO_RETRY = RetryPolicy(max_attempts=1)


@dataclass(frozen=True)
class RetryBudgetConfig:
    min_retries: int = 3
    ratio: float = 0.2


class RetryBudget:
    """The run's retry allowance; nested agents share it because they share the run."""

    def __init__(self, config: RetryBudgetConfig | None = None) -> None:
        self.config = config or RetryBudgetConfig()
        self._lock = threading.Lock()
        self.first_attempts = 0
        self.retries = 0
        self.denied = 0

    def allowance(self) -> float:
        return self.config.min_retries + self.config.ratio * self.first_attempts

    def record_first_attempt(self) -> None:
        with self._lock:
            self.first_attempts += 1

    def try_acquire(self) -> bool:
        with self._lock:
            if self.retries + 1 > self.allowance():
                self.denied += 1
                return False
            self.retries += 1
            return True

    def remaining(self) -> float:
        with self._lock:
            return max(self.allowance() - self.retries, 0.0)

    def replay(self, first_attempts: int, retries: int) -> None:
        with self._lock:
            self.first_attempts += first_attempts
            self.retries += retries
