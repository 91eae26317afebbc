"""The run's single source of truth: a state schema with per-key reducers, and the durable store of steps/checkpoints.

A step's journal row, its state writes and its checkpoint commit in one SQLite transaction, so a crash leaves either
the whole step or none of it. Resume replays the journal (event sourcing): recorded steps return their recorded
output and re-apply their recorded writes, so nothing that finished runs twice.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import StateConflict, UnknownStateKey

Reducer = Callable[[Any, Any], Any]
ReducerName = Literal["replace", "append", "extend", "merge_dict", "sum"]


def _append(old: Any, new: Any) -> Any:
    return [*(old or []), new]


def _extend(old: Any, new: Any) -> Any:
    return [*(old or []), *new]


def _merge_dict(old: Any, new: Any) -> Any:
    return {**(old or {}), **new}


def _sum(old: Any, new: Any) -> Any:
    return (old or 0) + new


_REDUCERS: dict[str, Reducer | None] = {
    "replace": None,
    "append": _append,
    "extend": _extend,
    "merge_dict": _merge_dict,
    "sum": _sum,
}


@dataclass(frozen=True)
class Key:
    """How one key merges: `reducer` None/"replace" allows one writer per superstep; `pinned` is never summarised."""

    reducer: ReducerName | Reducer | None = None
    pinned: bool = False
    default: Any = None

    def reduce_fn(self) -> Reducer | None:
        if self.reducer is None or callable(self.reducer):
            return self.reducer
        return _REDUCERS[self.reducer]


@dataclass(frozen=True)
class StateSchema:
    """Per-key merge rules. `strict` schemas reject unknown keys; open ones treat them as reducer-less."""

    keys: Mapping[str, Key] = field(default_factory=dict)
    strict: bool = False

    def spec(self, key: str) -> Key:
        found = self.keys.get(key)
        if found is None:
            if self.strict:
                raise UnknownStateKey(f"state key {key!r} is not in the schema (known: {', '.join(sorted(self.keys))})")
            return Key()
        return found

    def pinned(self) -> list[str]:
        return [k for k, spec in self.keys.items() if spec.pinned]

    def initial(self, inputs: Mapping[str, Any] | None) -> dict[str, Any]:
        state = {k: copy.deepcopy(spec.default) for k, spec in self.keys.items() if spec.default is not None}
        state.update(inputs or {})
        return state

    def describe(self) -> dict[str, Any]:
        return {
            k: {
                "reducer": (getattr(v.reducer, "__name__", "custom") if callable(v.reducer) else v.reducer),
                "pinned": v.pinned,
            }
            for k, v in sorted(self.keys.items())
        }


Write = tuple[str, Any]


def apply_writes(schema: StateSchema, state: dict[str, Any], writes: Iterable[Write]) -> None:
    """Apply one writer's writes in order (a reducer-less key is replaced)."""
    for key, value in writes:
        fn = schema.spec(key).reduce_fn()
        state[key] = value if fn is None else fn(state.get(key), value)


def merge_superstep(schema: StateSchema, writers: list[tuple[str, list[Write]]]) -> list[Write]:
    """Combine the writes of parallel writers (in branch order) into one list; a shared reducer-less key conflicts."""
    owners: dict[str, list[str]] = {}
    for writer, writes in writers:
        for key in dict.fromkeys(k for k, _ in writes):
            owners.setdefault(key, []).append(writer)
    for key, who in owners.items():
        if len(who) > 1 and schema.spec(key).reduce_fn() is None:
            raise StateConflict(key, who)
    merged: list[Write] = []
    for _, writes in writers:
        merged.extend(writes)
    return merged


# --- records -----------------------------------------------------------------------------------------------------

StepStatus = Literal["running", "succeeded", "failed", "in_doubt", "partial"]  # partial: kept, never replayed


@dataclass
class StepRecord:
    """One journalled unit (agent step, model call, tool call, hand-off, merge) of one branch of a run."""

    trace_id: str
    branch: str
    step_key: str
    seq: int
    name: str
    kind: str
    status: StepStatus
    attempt: int = 1
    writes: list[Write] = field(default_factory=list)
    output: Any = None
    usage: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    span_id: str | None = None


@dataclass(frozen=True)
class Checkpoint:
    """The materialised top-level state after a step, with the journal position it reflects."""

    checkpoint_id: str
    trace_id: str
    branch: str
    seq: int
    parent_id: str | None
    step_key: str
    state: dict[str, Any]
    meta: dict[str, Any]


@dataclass(frozen=True)
class RunRecord:
    """Identity of a run: the graph that made it and where its workflow span lives."""

    trace_id: str
    workflow: str
    fingerprint: str
    status: str
    initial_state: dict[str, Any]
    root_span_id: str | None
    error: str | None
    created: float | None = None  # when the run started (epoch seconds): a crashed segment's root span begins here


@dataclass(frozen=True)
class BranchRecord:
    """A fork: a branch inherits its parent's journal up to `fork_seq`, then applies `edits` to state."""

    trace_id: str
    branch: str
    parent_branch: str | None
    fork_seq: int
    edits: dict[str, Any]


@dataclass(frozen=True)
class Interrupt:
    """A persisted pause waiting for a person: `kind` is question (`ctx.interrupt`), approval (a tool that needs
    one), arbitration, contract or effect_in_doubt."""

    trace_id: str
    interrupt_id: str
    kind: str
    payload: Any
    answer: Any
    status: Literal["pending", "answered"]


class StateStore(ABC):
    """Where runs live. SQLite is the default; a server-side store implements the same methods."""

    @abstractmethod
    def create_run(self, run: RunRecord) -> None: ...

    @abstractmethod
    def get_run(self, trace_id: str) -> RunRecord | None: ...

    @abstractmethod
    def set_run_status(self, trace_id: str, status: str, error: str | None = None) -> None: ...

    @abstractmethod
    def set_root_span(self, trace_id: str, span_id: str) -> None: ...

    @abstractmethod
    def commit_step(self, record: StepRecord, checkpoint: Checkpoint | None) -> None:
        """Write the journal row and (optionally) the checkpoint atomically."""

    @abstractmethod
    def load_steps(self, trace_id: str, branch: str) -> dict[str, StepRecord]:
        """Succeeded records visible on `branch` (its own plus its ancestors' up to each fork point)."""

    @abstractmethod
    def max_seq(self, trace_id: str, branch: str) -> int: ...

    @abstractmethod
    def history(self, trace_id: str, branch: str = "main") -> list[Checkpoint]: ...

    @abstractmethod
    def checkpoint(self, checkpoint_id: str) -> Checkpoint | None: ...

    @abstractmethod
    def create_branch(self, branch: BranchRecord, checkpoint: Checkpoint) -> None: ...

    @abstractmethod
    def get_branch(self, trace_id: str, branch: str) -> BranchRecord | None: ...

    @abstractmethod
    def effect(self, effect_key: str) -> tuple[str, Any] | None:
        """(status, result) of a side effect: status is `intent` or `done`."""

    @abstractmethod
    def record_intent(self, trace_id: str, effect_key: str, step_key: str) -> None: ...

    @abstractmethod
    def record_effect_result(self, effect_key: str, result: Any) -> None: ...

    @abstractmethod
    def put_interrupt(self, interrupt: Interrupt) -> None: ...

    @abstractmethod
    def answer_interrupt(self, trace_id: str, interrupt_id: str, answer: Any) -> None: ...

    @abstractmethod
    def interrupts(self, trace_id: str) -> list[Interrupt]: ...

    @abstractmethod
    def pending_interrupts(self, trace_id: str | None = None) -> list[Interrupt]:
        """Interrupts waiting for a person, of one run or of every run in the store (what the CLI lists)."""

    @abstractmethod
    def reopen_interrupt(self, trace_id: str, interrupt_id: str, payload: Any) -> None:
        """Back to pending with a new payload (an answer that did not fit what was asked)."""

    @abstractmethod
    def close(self) -> None:
        """Release the store's connections."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    trace_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL,
    initial_state TEXT NOT NULL, root_span_id TEXT, error TEXT, created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS branches (
    trace_id TEXT NOT NULL, branch TEXT NOT NULL, parent_branch TEXT, fork_seq INTEGER NOT NULL, edits TEXT NOT NULL,
    PRIMARY KEY (trace_id, branch));
-- the journal; replay reads a whole branch ordered by seq (primary key prefix)
CREATE TABLE IF NOT EXISTS steps (
    trace_id TEXT NOT NULL, branch TEXT NOT NULL, step_key TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL,
    kind TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL, writes TEXT NOT NULL, output TEXT,
    usage TEXT NOT NULL, error TEXT, span_id TEXT, PRIMARY KEY (trace_id, branch, step_key));
CREATE TABLE IF NOT EXISTS checkpoints (
    checkpoint_id TEXT PRIMARY KEY, trace_id TEXT NOT NULL, branch TEXT NOT NULL, seq INTEGER NOT NULL,
    parent_id TEXT, step_key TEXT NOT NULL, state TEXT NOT NULL, meta TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS checkpoints_by_branch ON checkpoints (trace_id, branch, seq);
CREATE TABLE IF NOT EXISTS effects (
    effect_key TEXT PRIMARY KEY, trace_id TEXT NOT NULL, step_key TEXT NOT NULL, status TEXT NOT NULL, result TEXT);
CREATE TABLE IF NOT EXISTS interrupts (
    trace_id TEXT NOT NULL, interrupt_id TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL, answer TEXT,
    status TEXT NOT NULL, PRIMARY KEY (trace_id, interrupt_id));
"""


_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=repr).encode  # one encoder, built once


class SQLiteStateStore(StateStore):
    """One SQLite file (or ":memory:"), WAL journal. `synchronous="NORMAL"` survives a process crash (kill -9);
    use "FULL" to also survive power loss at the price of an fsync per step."""

    def __init__(self, path: str | Path = ":memory:", *, synchronous: str = "NORMAL") -> None:
        self.path = str(path)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        with self._lock:
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._conn.executescript(_SCHEMA)

    # -- runs --
    def create_run(self, run: RunRecord) -> None:
        now = time.time()
        with self._lock:
            self._conn.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    run.trace_id,
                    run.workflow,
                    run.fingerprint,
                    run.status,
                    _dumps(run.initial_state),
                    run.root_span_id,
                    run.error,
                    now,
                    now,
                ),
            )

    def get_run(self, trace_id: str) -> RunRecord | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT trace_id, workflow, fingerprint, status, initial_state, root_span_id, error, created "
                "FROM runs WHERE trace_id = ?",
                (trace_id,),
            ).fetchone()
        if row is None:
            return None
        return RunRecord(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6], row[7])

    def set_run_status(self, trace_id: str, status: str, error: str | None = None) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE runs SET status = ?, error = ?, updated = ? WHERE trace_id = ?",
                (status, error, time.time(), trace_id),
            )

    def set_root_span(self, trace_id: str, span_id: str) -> None:
        with self._lock:
            self._conn.execute("UPDATE runs SET root_span_id = ? WHERE trace_id = ?", (span_id, trace_id))

    # -- journal + checkpoints --
    def commit_step(self, record: StepRecord, checkpoint: Checkpoint | None) -> None:
        with self._lock:
            if checkpoint is None:  # one statement is its own transaction (autocommit): no BEGIN/COMMIT round trip
                self._insert_step(record)
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._insert_step(record)
                if checkpoint is not None:
                    self._insert_checkpoint(checkpoint)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _insert_step(self, r: StepRecord) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO steps VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                r.trace_id,
                r.branch,
                r.step_key,
                r.seq,
                r.name,
                r.kind,
                r.status,
                r.attempt,
                _dumps(r.writes),
                _dumps(r.output),
                _dumps(r.usage),
                r.error,
                r.span_id,
            ),
        )

    def _insert_checkpoint(self, c: Checkpoint) -> None:
        self._conn.execute(
            "INSERT INTO checkpoints VALUES (?,?,?,?,?,?,?,?)",
            (c.checkpoint_id, c.trace_id, c.branch, c.seq, c.parent_id, c.step_key, _dumps(c.state), _dumps(c.meta)),
        )

    def load_steps(self, trace_id: str, branch: str) -> dict[str, StepRecord]:
        chain: list[tuple[str, int | None]] = []
        current: str | None = branch
        limit: int | None = None
        while current is not None:
            chain.append((current, limit))
            info = self.get_branch(trace_id, current)
            if info is None:
                break
            current, limit = info.parent_branch, info.fork_seq
        out: dict[str, StepRecord] = {}
        for name, upto in reversed(chain):
            for rec in self._branch_rows(trace_id, name, upto):
                out[rec.step_key] = rec
        return out

    def _branch_rows(self, trace_id: str, branch: str, upto: int | None) -> list[StepRecord]:
        sql = (
            "SELECT trace_id, branch, step_key, seq, name, kind, status, attempt, writes, output, usage, error, "
            "span_id FROM steps WHERE trace_id = ? AND branch = ? AND status = 'succeeded'"
        )
        params: list[Any] = [trace_id, branch]
        if upto is not None:
            sql += " AND seq <= ?"
            params.append(upto)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY seq", params).fetchall()
        return [
            StepRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                [tuple(w) for w in json.loads(r[8])],
                json.loads(r[9]) if r[9] is not None else None,
                json.loads(r[10]),
                r[11],
                r[12],
            )
            for r in rows
        ]

    def max_seq(self, trace_id: str, branch: str) -> int:
        with self._lock:
            row = self._conn.execute(
                "SELECT MAX(seq) FROM steps WHERE trace_id = ? AND branch = ?", (trace_id, branch)
            ).fetchone()
            cp = self._conn.execute(
                "SELECT MAX(seq) FROM checkpoints WHERE trace_id = ? AND branch = ?", (trace_id, branch)
            ).fetchone()
        return max(row[0] or 0, cp[0] or 0)

    def _checkpoints(self, where: str, params: tuple[Any, ...]) -> list[Checkpoint]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT checkpoint_id, trace_id, branch, seq, parent_id, step_key, state, meta FROM checkpoints "
                f"WHERE {where} ORDER BY seq",
                params,
            ).fetchall()
        return [Checkpoint(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), json.loads(r[7])) for r in rows]

    def history(self, trace_id: str, branch: str = "main") -> list[Checkpoint]:
        return self._checkpoints("trace_id = ? AND branch = ?", (trace_id, branch))

    def checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        found = self._checkpoints("checkpoint_id = ?", (checkpoint_id,))
        return found[0] if found else None

    def create_branch(self, branch: BranchRecord, checkpoint: Checkpoint) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "INSERT INTO branches VALUES (?,?,?,?,?)",
                    (branch.trace_id, branch.branch, branch.parent_branch, branch.fork_seq, _dumps(branch.edits)),
                )
                self._insert_checkpoint(checkpoint)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def get_branch(self, trace_id: str, branch: str) -> BranchRecord | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT parent_branch, fork_seq, edits FROM branches WHERE trace_id = ? AND branch = ?",
                (trace_id, branch),
            ).fetchone()
        return None if row is None else BranchRecord(trace_id, branch, row[0], row[1], json.loads(row[2]))

    # -- side effects --
    def effect(self, effect_key: str) -> tuple[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT status, result FROM effects WHERE effect_key = ?", (effect_key,)
            ).fetchone()
        if row is None:
            return None
        return row[0], (json.loads(row[1]) if row[1] is not None else None)

    def record_intent(self, trace_id: str, effect_key: str, step_key: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO effects VALUES (?,?,?,'intent',NULL)", (effect_key, trace_id, step_key)
            )

    def record_effect_result(self, effect_key: str, result: Any) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE effects SET status = 'done', result = ? WHERE effect_key = ?", (_dumps(result), effect_key)
            )

    # -- interrupts --
    def put_interrupt(self, interrupt: Interrupt) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO interrupts VALUES (?,?,?,?,?,?)",
                (
                    interrupt.trace_id,
                    interrupt.interrupt_id,
                    interrupt.kind,
                    _dumps(interrupt.payload),
                    _dumps(interrupt.answer),
                    interrupt.status,
                ),
            )

    def answer_interrupt(self, trace_id: str, interrupt_id: str, answer: Any) -> None:
        with self._lock:
            cur = self._conn.execute(
                "UPDATE interrupts SET answer = ?, status = 'answered' WHERE trace_id = ? AND interrupt_id = ?",
                (_dumps(answer), trace_id, interrupt_id),
            )
        if cur.rowcount == 0:
            raise KeyError(f"no interrupt {interrupt_id} in run {trace_id}")

    def interrupts(self, trace_id: str) -> list[Interrupt]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT interrupt_id, kind, payload, answer, status FROM interrupts WHERE trace_id = ?", (trace_id,)
            ).fetchall()
        return [
            Interrupt(trace_id, r[0], r[1], json.loads(r[2]), json.loads(r[3]) if r[3] else None, r[4]) for r in rows
        ]

    def pending_interrupts(self, trace_id: str | None = None) -> list[Interrupt]:
        sql = "SELECT trace_id, interrupt_id, kind, payload FROM interrupts WHERE status = 'pending'"
        params: tuple[Any, ...] = ()
        if trace_id is not None:
            sql += " AND trace_id = ?"
            params = (trace_id,)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY trace_id, interrupt_id", params).fetchall()
        return [Interrupt(r[0], r[1], r[2], json.loads(r[3]), None, "pending") for r in rows]

    def reopen_interrupt(self, trace_id: str, interrupt_id: str, payload: Any) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE interrupts SET payload = ?, answer = NULL, status = 'pending' "
                "WHERE trace_id = ? AND interrupt_id = ?",
                (_dumps(payload), trace_id, interrupt_id),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def answer_interrupt(store: StateStore, trace_id: str, interrupt_id: str, answer: Any) -> Interrupt:
    """Answer the pending interrupt of `trace_id` whose id is `interrupt_id` or starts with it (ids are 32 hex
    characters; people type a prefix). A one-line error names what is wrong."""
    pending = [i for i in store.pending_interrupts(trace_id) if i.interrupt_id.startswith(interrupt_id)]
    if not pending:
        raise InterruptNotFound(f"run {trace_id} has no pending interrupt {interrupt_id!r}")
    if len(pending) > 1:
        raise InterruptNotFound(f"interrupt prefix {interrupt_id!r} matches {len(pending)} pending interrupts")
    store.answer_interrupt(trace_id, pending[0].interrupt_id, answer)
    return pending[0]


class InterruptNotFound(KeyError):
    """No pending interrupt (or more than one) matches what was given."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "no such interrupt"
