"""The one runner of cluster-wide jobs: whichever replica holds the `jobs` lease in the store runs them, so alert
evaluation notifies once per firing and the detectors scan once, however many replicas serve ingest and the API.

A job is anything with a `name`, an `interval_s` and a `run_once()`; adding one is one line in `tracehouse/server.py`
(`runner.add(job)`). A job that keeps state in memory implements `take_over()` too: the runner calls it each time
this replica gains the lease, before the job's first run, so it reads the state the previous holder left in the
store (the alert engine reloads its alert states there).

Two threads: one renews the lease every third of its time to live (a slow job never delays a renewal), one runs
the due jobs one after another while the lease is valid.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from tracehouse.store.client import StoreError
from tracehouse.store.leases import Lease

log = logging.getLogger("tracehouse.jobs")


class Job(Protocol):
    """A cluster-wide job: `run_once()` every `interval_s` seconds, on the lease holder only."""

    @property
    def name(self) -> str: ...

    @property
    def interval_s(self) -> float: ...

    def run_once(self) -> None: ...


@runtime_checkable
class TakesOver(Protocol):
    """A job with state in memory: `take_over()` re-reads it from the store when this replica gains the lease."""

    def take_over(self) -> None: ...


class JobRunner:
    """Runs `jobs` while `lease` is held; `tick()` is one pass of the job thread (tests drive it directly)."""

    def __init__(self, lease: Lease, jobs: list[Job] | None = None) -> None:
        self.lease = lease
        self.jobs: list[Job] = list(jobs or [])
        self._next_run: dict[str, float] = {}
        self._term_taken_over: int | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.last_errors: dict[str, str] = {}
        self._store_failing = False

    def add(self, job: Job) -> None:
        self.jobs.append(job)

    @property
    def holds(self) -> bool:
        return self.lease.valid()

    def renew(self) -> bool:
        """Claim or renew the lease once; a store error counts as not holding it."""
        try:
            held = self.lease.acquire()
            self._store_failing = False
            return held
        except StoreError as exc:
            if not self._store_failing:  # once per outage
                log.warning("jobs lease: cannot reach the store (%s); not running jobs until it answers", exc)
            self._store_failing = True
            self.lease.term = None
            return False

    def tick(self) -> list[str]:
        """Run every due job if the lease is valid (taking over first when the term is new); the names run."""
        if not self.lease.valid():
            return []
        if self._term_taken_over != self.lease.term:
            for job in self.jobs:
                if isinstance(job, TakesOver):
                    self._guarded(job.name, job.take_over)
            self._term_taken_over = self.lease.term
            self._next_run.clear()  # a new holder runs everything now: the old holder's schedule died with it
        ran: list[str] = []
        for job in self.jobs:
            now = time.monotonic()
            if now < self._next_run.get(job.name, 0.0) or not self.lease.valid():
                continue
            self._next_run[job.name] = now + job.interval_s
            if self._guarded(job.name, job.run_once):
                ran.append(job.name)
        return ran

    def _guarded(self, name: str, call: Callable[[], None]) -> bool:
        try:
            call()
            self.last_errors.pop(name, None)
            return True
        except Exception as exc:  # a failing job must not stop the others; logged with its traceback
            self.last_errors[name] = f"{type(exc).__name__}: {exc}"
            log.exception("job %s failed", name)
            return False

    def start(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._renew_loop, name="tracehouse-lease", daemon=True),
            threading.Thread(target=self._job_loop, name="tracehouse-jobs", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads = []
        try:
            self.lease.release()  # a clean shutdown hands over at once instead of after the expiry
        except StoreError:
            log.warning("jobs lease: could not release it; another replica takes over when it expires")

    def _renew_loop(self) -> None:
        while not self._stop.is_set():
            self.renew()
            self._stop.wait(self.lease.ttl_s / 3)

    def _job_loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(0.2)
