"""Turning spooled OTLP batches into one ClickHouse Native block of `steps` rows, in a worker process.

Decoding, normalising and serialising are the collector's CPU-heavy Python work; in a process of their own they run
on the second core while the server process answers requests and ClickHouse (which releases the GIL) inserts.
The trace rules run on each trace's steps of the whole batch (a trace may arrive in several requests); what
spans more than one batch is settled by the trace finaliser.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import multiprocessing.connection
import signal
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracehouse.collector.normalise import Limits, attribute_by_trace, normalise_request
from tracehouse.sdk.pricing import PriceTable, load_prices
from tracehouse.store.steps import STEP_COLUMNS, step_columns


@dataclass(frozen=True, slots=True)
class RawRecord:
    seq: int
    project_id: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Encoded:
    block: bytes  # Native-format rows for STEP_COLUMNS, no INSERT prefix
    steps: int
    dropped_attributes: int


class EncodeError(RuntimeError):
    """The worker failed on a batch; the message carries its traceback."""


class BatchEncoder:
    """records -> Native block, a pure function of the records."""

    def __init__(self, column_types: Sequence[str], prices: PriceTable, limits: Limits) -> None:
        from clickhouse_connect.datatypes.registry import get_from_name
        from clickhouse_connect.driver.insert import InsertContext

        self._types = [get_from_name(t) for t in column_types]
        # Created without data: handing rows to InsertContext makes it import pandas (~2 s of CPU per process) to
        # ask whether they are a DataFrame; the columns' own writers need only the context.
        self._context = InsertContext("steps", list(STEP_COLUMNS), self._types)
        self._headers = [
            _leb128_str(n) + _leb128_str(t.insert_name) for n, t in zip(STEP_COLUMNS, self._types, strict=True)
        ]
        self._prices = prices
        self._limits = limits

    def _native(self, columns: list[list[Any]]) -> bytes:
        """One Native block (as `NativeTransform.build_insert` writes each of its blocks): column and row counts,
        then per column its name, type and data."""
        out = bytearray(_leb128(len(columns)) + _leb128(len(columns[0])))
        for name, header, ch_type, column in zip(STEP_COLUMNS, self._headers, self._types, columns, strict=True):
            out += header
            self._context.start_column(name)
            ch_type.write_column(column, out, self._context)
        return bytes(out)

    def encode(self, records: Sequence[RawRecord], version: int) -> Encoded:
        steps = []
        dropped = 0
        for record in records:
            request = ExportTraceServiceRequest.FromString(record.payload)
            result = normalise_request(
                request, record.project_id, self._prices, self._limits, record.payload, apply_rules=False
            )
            steps.extend(result.steps)
            dropped += result.dropped_attributes
        steps = attribute_by_trace(steps)  # once over the batch: a trace sent in several requests is whole here
        if not steps:
            return Encoded(b"", 0, dropped)
        return Encoded(self._native(step_columns(steps, version)), len(steps), dropped)


def _leb128(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _leb128_str(text: str) -> bytes:
    data = text.encode()
    return _leb128(len(data)) + data


def _worker(
    conn: multiprocessing.connection.Connection, column_types: list[str], prices_path: str | None, limits: Limits
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the server decides when to stop
    encoder = BatchEncoder(column_types, load_prices(prices_path), limits)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the server went away (even by kill -9): nothing is lost, the spool holds it
            return
        if message is None:
            return
        records, version = message
        try:
            answer: Encoded | EncodeError = encoder.encode(records, version)
        except Exception:  # sent back, so the server logs it and counts it against the batch
            answer = EncodeError(traceback.format_exc(limit=5))
        try:
            conn.send(answer)
        except (BrokenPipeError, EOFError, OSError):  # the server died while this batch was encoded: quietly exit
            return


class EncoderProcess:
    """A spawned worker running BatchEncoder; one batch in flight at a time, restarted if it dies."""

    def __init__(self, column_types: Sequence[str], prices_path: Path | None, limits: Limits) -> None:
        self._args = (list(column_types), str(prices_path) if prices_path else None, limits)
        self._ctx = mp.get_context("spawn")  # the server has threads: never fork it
        self._process: mp.process.BaseProcess | None = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._busy = False

    def _ensure(self) -> multiprocessing.connection.Connection:
        if self._process is None or not self._process.is_alive() or self._conn is None:
            self.close()
            parent, child = self._ctx.Pipe()
            self._process = self._ctx.Process(
                target=_worker, args=(child, *self._args), name="tracehouse-encoder", daemon=True
            )
            self._process.start()
            child.close()
            self._conn = parent
            self._busy = False
        return self._conn

    def submit(self, records: Sequence[RawRecord], version: int) -> None:
        """Hand over one batch. A batch still in flight is abandoned first, so no answer is ever left unread; a
        worker that died shows up as an EncodeError from `result()`."""
        self.abandon()
        conn = self._ensure()
        self._busy = True
        try:
            conn.send((list(records), version))
        except OSError:
            self.close()

    def abandon(self) -> None:
        """Stop a worker that still holds a batch (its answer would otherwise sit in the pipe forever)."""
        if self._busy and self._process is not None:
            self._process.kill()
            self._process.join(timeout=5)
            self._process = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        self._busy = False

    def result(self, timeout: float = 300.0) -> Encoded:
        conn = self._conn
        if not self._busy:
            raise EncodeError("no batch in flight")
        if conn is None:
            self._busy = False
            raise EncodeError("encoder process died")
        try:
            if not conn.poll(timeout):
                self.abandon()  # a late answer must not be read as the next batch's
                raise EncodeError(f"encoder gave no answer within {timeout:.0f}s")
            answer = conn.recv()
        except (EOFError, OSError) as exc:
            self.close()
            raise EncodeError(f"encoder process died: {exc}") from None
        finally:
            self._busy = False
        if isinstance(answer, EncodeError):
            raise answer
        encoded: Encoded = answer
        return encoded

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, BrokenPipeError):
                self._conn.send(None)
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
            self._process = None
