"""The durable spool: accepted OTLP batches are appended to fsync'd segment files before the collector answers,
and the writer drains them into ClickHouse. Nothing acknowledged to a client is lost on a crash or a store outage.

Layout of one record: a fixed header (magic, payload length, CRC-32 of the payload, sequence number, source key,
project length), the project id, then the payload (a serialised ExportTraceServiceRequest). A torn tail left by a crash
fails its length or CRC check and is cut off when the spool is opened; every whole record before it is kept.

The writer's progress lives in `checkpoint` (the last sequence written to the store) and `intent` (the batch it is
inserting now, so a replay re-forms exactly the same batch and ClickHouse's insert deduplication drops it).
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_MAGIC = 0x54485332  # "THS2"
_HEADER = struct.Struct("<IIIQIH")  # magic, payload length, crc32, sequence, source key, project length
_SEGMENT_PREFIX = "seg-"
_SEGMENT_SUFFIX = ".log"


class SpoolFull(RuntimeError):
    """The spool holds as much as it may; the caller should answer 'retry later'."""


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    project_id: str
    payload: bytes
    source: int = 0  # which sending process the batch came from (keeps one source's batches on one encoder)


@dataclass(frozen=True, slots=True)
class Intent:
    first_seq: int
    last_seq: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class Spool:
    """Append-only, segment-rolling, fsync'd log of accepted batches, with the writer's checkpoint beside it."""

    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int = 64 * 1024 * 1024) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._new_data = threading.Condition(self._lock)
        self._checkpoint_path = directory / "checkpoint"
        self._intent_path = directory / "intent"
        self.checkpoint = int(self._checkpoint_path.read_text()) if self._checkpoint_path.exists() else 0
        self._segments: list[tuple[int, Path]] = []  # (first seq, path), oldest first
        self._next_seq = self.checkpoint + 1
        self._cursor: tuple[Path | None, int, int] = (None, 0, -1)  # (segment, byte offset, seq read up to)
        self._recover()
        self._active = self._open_active()

    # -- opening ---------------------------------------------------------------------------------------------------
    def _recover(self) -> None:
        """Index the segments, cut a torn tail, and find the next sequence number."""
        paths = sorted(self.directory.glob(f"{_SEGMENT_PREFIX}*{_SEGMENT_SUFFIX}"))
        for path in paths:
            first = int(path.name[len(_SEGMENT_PREFIX) : -len(_SEGMENT_SUFFIX)])
            last_seq, good_bytes = first - 1, 0
            for record, end in self._scan(path):
                last_seq, good_bytes = record.seq, end
            if good_bytes < path.stat().st_size:
                with path.open("r+b") as f:
                    f.truncate(good_bytes)
                    f.flush()
                    os.fsync(f.fileno())
            self._segments.append((first, path))
            self._next_seq = max(self._next_seq, last_seq + 1)

    def _open_active(self) -> BinaryIO:
        if self._segments and self._segments[-1][1].stat().st_size < self.segment_bytes:
            path = self._segments[-1][1]
        else:
            path = self.directory / f"{_SEGMENT_PREFIX}{self._next_seq:020d}{_SEGMENT_SUFFIX}"
            self._segments.append((self._next_seq, path))
        f = path.open("ab")
        _fsync_dir(self.directory)
        return f

    @staticmethod
    def _scan(path: Path, start_seq: int = 0, offset: int = 0) -> Iterator[tuple[Record, int]]:
        """Whole, valid records of one segment from `offset` (and the byte offset after each); stops at a torn
        tail."""
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
        pos = 0
        while pos + _HEADER.size <= len(data):
            magic, length, crc, seq, source, plen = _HEADER.unpack_from(data, pos)
            end = pos + _HEADER.size + plen + length
            if magic != _MAGIC or end > len(data):
                return
            project = data[pos + _HEADER.size : pos + _HEADER.size + plen]
            payload = data[pos + _HEADER.size + plen : end]
            if zlib.crc32(payload) != crc:
                return
            if seq >= start_seq:
                yield Record(seq, project.decode("utf-8"), payload, source), offset + end
            pos = end

    # -- appending -------------------------------------------------------------------------------------------------
    def append(self, project_id: str, payload: bytes, source: int = 0) -> int:
        """Write one batch durably (fsync) and return its sequence number; SpoolFull when over the limit."""
        project = project_id.encode("utf-8")
        with self._lock:
            if self.pending_bytes() + len(payload) > self.max_bytes:
                raise SpoolFull(f"spool holds {self.pending_bytes()} bytes (limit {self.max_bytes})")
            seq = self._next_seq
            header = _HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload), seq, source & 0xFFFFFFFF, len(project))
            self._active.write(header + project + payload)
            self._active.flush()
            os.fsync(self._active.fileno())
            self._next_seq += 1
            if self._active.tell() >= self.segment_bytes:
                self._active.close()
                self._active = self._open_active()
            self._new_data.notify_all()
            return seq

    # -- draining --------------------------------------------------------------------------------------------------
    def wait(self, timeout: float) -> None:
        """Block until something new is appended (or the timeout passes)."""
        with self._lock:
            if self._next_seq - 1 <= self.checkpoint:
                self._new_data.wait(timeout)

    def read(self, after_seq: int, max_records: int, max_bytes: int) -> list[Record]:
        """Records with seq > after_seq, oldest first, bounded in count and bytes (at least one if any)."""
        with self._lock:
            self._active.flush()
            segments = list(self._segments)
        out: list[Record] = []
        size = 0
        for i, (_, path) in enumerate(segments):
            following = segments[i + 1][0] if i + 1 < len(segments) else None
            if following is not None and following <= after_seq + 1:
                continue  # this whole segment is older than what we want
            # Resume where the last read stopped instead of rescanning the segment from its start.
            cpath, coffset, cseq = self._cursor
            offset = coffset if cpath == path and cseq == after_seq else 0
            for record, end in self._scan(path, after_seq + 1, offset):
                if out and (len(out) >= max_records or size + len(record.payload) > max_bytes):
                    return out
                out.append(record)
                size += len(record.payload)
                self._cursor = (path, end, record.seq)
        return out

    def intent(self) -> Intent | None:
        if not self._intent_path.exists():
            return None
        first, last = self._intent_path.read_text().split()
        return Intent(int(first), int(last))

    def begin(self, first_seq: int, last_seq: int) -> None:
        """Record the batch about to be inserted, so a crash replays exactly that batch."""
        _write_atomic(self._intent_path, f"{first_seq} {last_seq}")

    def commit(self, last_seq: int) -> None:
        """The store holds everything up to last_seq: advance the checkpoint and drop spent segments."""
        _write_atomic(self._checkpoint_path, str(last_seq))
        self._intent_path.unlink(missing_ok=True)
        with self._lock:
            self.checkpoint = last_seq
            while len(self._segments) > 1 and self._segments[1][0] <= last_seq + 1:
                _, path = self._segments.pop(0)
                path.unlink(missing_ok=True)

    # -- state -----------------------------------------------------------------------------------------------------
    def pending_bytes(self) -> int:
        """Bytes on disk in segments not yet fully written to the store (an upper bound of what is pending)."""
        total = 0
        for _, path in self._segments:
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    def close(self) -> None:
        with self._lock:
            self._active.close()
