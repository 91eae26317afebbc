"""Task deduplication by content hash: identical work (same agent, action, normalised inputs and reads) runs once.

The key is the SHA-256 of canonical JSON of an envelope that includes the run's scope, so a key never collides
across runs (burr#761). Inputs are normalised first: Unicode NFC, whitespace runs collapsed, declared volatile
fields (request ids, timestamps) removed. Concurrent identical submissions wait on the first one's future.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from tracehouse.sdk import content_hash

_WS = re.compile(r"\s+")


def normalise(value: Any, volatile: Iterable[str] = ()) -> Any:
    """NFC strings with collapsed whitespace, volatile keys dropped at every depth, tuples as lists."""
    drop = frozenset(volatile)
    return _norm(value, drop)


def _norm(value: Any, drop: frozenset[str]) -> Any:
    if isinstance(value, str):
        return _WS.sub(" ", unicodedata.normalize("NFC", value)).strip()
    if isinstance(value, Mapping):
        return {str(k): _norm(v, drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list | tuple):
        return [_norm(v, drop) for v in value]
    return value


def task_key(
    *,
    kind: str,
    agent: str,
    action: str,
    inputs: Any,
    reads: Mapping[str, Any] | None = None,
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
    scope: str,
    volatile: Iterable[str] = (),
) -> str:
    """sha256 of the canonical envelope (v1) of one unit of work."""
    envelope = {
        "v": 1,
        "kind": kind,
        "agent": agent,
        "action": action,
        "inputs": normalise(inputs, volatile),
        "reads": {k: content_hash(normalise(v, volatile)) for k, v in sorted((reads or {}).items())},
        "model": model,
        "params": dict(params or {}),
        "scope": scope,
    }
    return content_hash(envelope)


@dataclass(frozen=True)
class DedupResult:
    """What the first execution produced, and the span it ran in (dedup hits link to it)."""

    output: Any
    writes: list[tuple[str, Any]]
    span_context: Any


class Deduper:
    """In-flight futures plus a completed memo, per run (or shared across runs for pure steps)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[DedupResult]] = {}
        self._done: dict[str, DedupResult] = {}
        self.hits = 0

    def claim(self, key: str) -> tuple[bool, Future[DedupResult]]:
        """(True, future to fulfil) for the first caller; (False, future to wait on) for every later one."""
        with self._lock:
            done = self._done.get(key)
            if done is not None:
                self.hits += 1
                fut: Future[DedupResult] = Future()
                fut.set_result(done)
                return False, fut
            existing = self._inflight.get(key)
            if existing is not None:
                self.hits += 1
                return False, existing
            fut = Future()
            self._inflight[key] = fut
            return True, fut

    def complete(self, key: str, result: DedupResult) -> None:
        with self._lock:
            fut = self._inflight.pop(key, None)
            self._done[key] = result
        if fut is not None and not fut.done():
            fut.set_result(result)

    def fail(self, key: str, exc: BaseException) -> None:
        """The first execution failed: waiters see the error; a later submission runs again."""
        with self._lock:
            fut = self._inflight.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_exception(exc)
