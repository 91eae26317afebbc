"""A lease in the store: which replica runs the cluster-wide jobs (alert evaluation, detectors, the finaliser).

ClickHouse has no compare-and-set, so a lease is taken in terms. Each claim is a row (name, term, owner); the holder
of a term is its *earliest* claim, and the current holder is the holder of the highest term while its `expires_at`
is in the future. A replica that finds the lease free or expired claims term + 1, waits `settle_s` for concurrent
claims to land, and reads back: only the earliest claimant sees itself as the holder, so two replicas racing for
one term agree on the winner. The holder renews by rewriting its own row of the term (same key, later
`updated_at`: the ReplacingMergeTree keeps the newest). Every time is the store's clock (`now64()`), so the
replicas' clocks may disagree without two of them believing they hold the lease.

Two holders at once need a claim whose insert takes longer than `settle_s`, or a holder that keeps working past
its expiry; the runner (`tracehouse.jobs`) stops starting jobs `settle_s` before the expiry it last saw.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from tracehouse.store.client import Store, as_utc

_COLUMNS = "name, term, owner, claimed_at, expires_at, updated_at"


@dataclass(frozen=True)
class LeaseState:
    """The holder of the highest term, and whether its lease is still running (by the store's clock)."""

    term: int
    owner: str
    expires_at: datetime
    live: bool


def current_lease(store: Store, name: str) -> LeaseState | None:
    """The lease's current term and holder, or None if it was never taken. ORDER BY (name, term, owner) makes this a
    scan of one lease's few rows."""
    rows = store.rows(
        "SELECT term, owner, expires_at, expires_at > now64(3) AS live FROM {db}.leases FINAL"
        " WHERE name = {n:String} ORDER BY term DESC, claimed_at, owner LIMIT 1",
        {"n": name},
    )
    if not rows:
        return None
    r = rows[0]
    return LeaseState(term=int(r["term"]), owner=r["owner"], expires_at=as_utc(r["expires_at"]), live=bool(r["live"]))


def claim_term(store: Store, name: str, term: int, owner: str, ttl_s: float) -> None:
    """Claim `term` now, running for `ttl_s` from the store's now."""
    store.command(
        f"INSERT INTO {{db}}.leases ({_COLUMNS}) SELECT {{n:String}}, {{t:UInt64}}, {{o:String}}, now64(6),"
        " now64(3) + toIntervalMillisecond({ttl:UInt64}), now64(6)",
        {"n": name, "t": term, "o": owner, "ttl": int(ttl_s * 1000)},
    )


def extend_term(store: Store, name: str, term: int, owner: str, ttl_s: float) -> None:
    """Move the expiry of `owner`'s claim of `term` to `ttl_s` from now (0 releases it); the claim time is kept."""
    store.command(
        f"INSERT INTO {{db}}.leases ({_COLUMNS}) SELECT name, term, owner, claimed_at,"
        " now64(3) + toIntervalMillisecond({ttl:UInt64}), now64(6) FROM {db}.leases FINAL"
        " WHERE name = {n:String} AND term = {t:UInt64} AND owner = {o:String}",
        {"n": name, "t": term, "o": owner, "ttl": int(ttl_s * 1000)},
    )


def default_owner() -> str:
    """host:pid:random, so two runners in one process (or a restarted pod with the same name) differ."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """One replica's handle on a named lease: `acquire()` claims or renews it and says whether this owner holds it.

    >>> lease = Lease(store, "jobs", ttl_s=15)    # doctest: +SKIP
    >>> lease.acquire() and lease.valid()         # doctest: +SKIP
    True
    """

    def __init__(
        self, store: Store, name: str = "jobs", *, owner: str | None = None, ttl_s: float = 15.0, settle_s: float = 0.5
    ) -> None:
        if ttl_s <= 2 * settle_s:
            raise ValueError("lease: ttl_s must be more than twice settle_s")
        self.store = store
        self.name = name
        self.owner = owner or default_owner()
        self.ttl_s = ttl_s
        self.settle_s = settle_s
        self.term: int | None = None  # the term this owner holds, or None
        self._valid_until = 0.0  # monotonic: stop starting work after this

    def acquire(self) -> bool:
        """Renew the lease if this owner holds it, else claim it if it is free or expired; True when held now."""
        started = time.monotonic()
        state = current_lease(self.store, self.name)
        if state is not None and state.owner == self.owner and state.live:
            extend_term(self.store, self.name, state.term, self.owner, self.ttl_s)
        elif state is None or not state.live:
            claim_term(self.store, self.name, (state.term if state else 0) + 1, self.owner, self.ttl_s)
            time.sleep(self.settle_s)  # let a concurrent claim of the same term land before deciding
        else:
            return self._lost()
        after = current_lease(self.store, self.name)
        if after is None or after.owner != self.owner or not after.live:
            return self._lost()
        self.term = after.term
        self._valid_until = started + self.ttl_s - self.settle_s
        return True

    def valid(self) -> bool:
        """Held, with time left before the expiry this owner last wrote (less the settle margin)."""
        return self.term is not None and time.monotonic() < self._valid_until

    def release(self) -> None:
        """Give the lease up now (a clean shutdown): the next replica takes over at its next attempt."""
        if self.term is not None:
            extend_term(self.store, self.name, self.term, self.owner, 0)
        self._lost()

    def _lost(self) -> bool:
        self.term = None
        self._valid_until = 0.0
        return False
