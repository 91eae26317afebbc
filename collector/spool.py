"""The durable spool: accepted OTLP batches are appended to fsync'd segment files before the collector answers,
and the writer drains them into ClickHouse. Nothing acknowledged to a client is lost on a crash or a store outage.

Layout of one record: a fixed header (magic, payload length, CRC-32 of the payload, sequence number, source key,
project length), the project id, then the payload (a serialised ExportTraceServiceRequest). A torn tail left by a crash
fails its length or CRC check and is cut off when the spool is opened; every whole record before it is kept.

The writer's progress lives in `checkpoint` (the last sequence written to the store) and `intent` (the batch it is
inserting now and when it was formed, so a replay re-forms exactly the same batch with the same version and token,
and ClickHouse's insert deduplication drops it).

A spool has an identity: a random `id` written when the directory is created. The writer's insert token names it, so
two spools (two replicas, or one whose volume was recreated) never produce equal tokens for different data. One
process owns a spool at a time (an exclusive lock on `lock`), so `tracehouse spool replay` cannot race a server.

An append lands whole or not at all: it is written unbuffered and fsync'd, and on any error (a full disk) the file is
cut back to its length before the append, and the caller answers "retry later". Appends also stop, with the same
answer, while the file system has less than `min_free_bytes` free, so the store and the checkpoint keep room to work.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tracehouse.errors import TracehouseError

log = logging.getLogger(__name__)

_MAGIC = 0x54485332  # "THS2"
_HEADER = struct.Struct("<IIIQIH")  # magic, payload length, crc32, sequence, source key, project length
_SEGMENT_PREFIX = "seg-"
_SEGMENT_SUFFIX = ".log"


class SpoolFull(RuntimeError):
    """The spool holds as much as it may (or the disk is nearly full); the caller should answer 'retry later'."""


class SpoolWriteFailed(SpoolFull):
    """An append failed (disk full, I/O error) and was rolled back; the caller should answer 'retry later'."""


class SpoolLocked(TracehouseError, RuntimeError):
    """Another process has this spool open."""


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
    formed_at_ns: int  # fixes the rows' version, so a replay writes the same version under the same token


def encode_record(record: Record) -> bytes:
    """One record in the on-disk layout (header, project, payload)."""
    project = record.project_id.encode("utf-8")
    payload = record.payload
    header = _HEADER.pack(
        _MAGIC, len(payload), zlib.crc32(payload), record.seq, record.source & 0xFFFFFFFF, len(project)
    )
    return header + project + payload


def decode_records(data: bytes) -> Iterator[tuple[Record, int]]:
    """Whole, valid records at the start of `data` (and the byte offset after each); stops at a torn tail."""
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
        yield Record(seq, project.decode("utf-8"), payload, source), end
        pos = end


def check_unlocked(directory: Path) -> None:
    """SpoolLocked when another process has the spool in `directory` open (a second server on one data dir)."""
    if directory.is_dir():
        os.close(Spool._take_lock(directory))


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

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        segment_bytes: int = 64 * 1024 * 1024,
        min_free_bytes: int = 0,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.min_free_bytes = min_free_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = self._take_lock(directory)
        self.id = self._identity(directory)
        self.append_error = ""  # why the last append failed; "" once one succeeds
        self._torn_at: int | None = None  # a failed append could not be cut back: its start, to cut before appending
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
    @staticmethod
    def _take_lock(directory: Path) -> int:
        fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SpoolLocked(f"spool {directory} is open in another process (a running server?)") from None
        return fd

    @staticmethod
    def _identity(directory: Path) -> str:
        """The spool's random id, made once when the spool is created (or first opened by this version)."""
        path = directory / "id"
        if path.exists():
            return path.read_text().strip()
        spool_id = secrets.token_hex(8)
        _write_atomic(path, spool_id)
        return spool_id

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

    def _open_active(self) -> int:
        """The file descriptor appends go to: the newest segment, or a new one when that one is full."""
        if self._segments and self._segments[-1][1].stat().st_size < self.segment_bytes:
            path = self._segments[-1][1]
            return os.open(path, os.O_WRONLY | os.O_APPEND)
        path = self.directory / f"{_SEGMENT_PREFIX}{self._next_seq:020d}{_SEGMENT_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            _fsync_dir(self.directory)
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        self._segments.append((self._next_seq, path))
        return fd

    @staticmethod
    def _scan(path: Path, start_seq: int = 0, offset: int = 0) -> Iterator[tuple[Record, int]]:
        """Whole, valid records of one segment from `offset` (and the byte offset after each); stops at a torn
        tail."""
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
        for record, end in decode_records(data):
            if record.seq >= start_seq:
                yield record, offset + end

    # -- appending -------------------------------------------------------------------------------------------------
    def append(self, project_id: str, payload: bytes, source: int = 0) -> int:
        """Write one batch durably (fsync) and return its sequence number.

        SpoolFull when over the size limit or the disk's reserve; SpoolWriteFailed when the write failed, after the
        segment was cut back to its length before this append (so no torn record sits before later ones).
        """
        with self._lock:
            pending = self.pending_bytes()
            if pending + len(payload) > self.max_bytes:
                raise SpoolFull(f"spool holds {pending} bytes (limit {self.max_bytes})")
            free = self.free_bytes()
            if free - len(payload) < self.min_free_bytes:
                raise SpoolFull(f"{free} bytes free on the spool's disk (reserve {self.min_free_bytes})")
            seq = self._next_seq
            self._write_whole(encode_record(Record(seq, project_id, payload, source)))
            self._next_seq += 1
            if os.fstat(self._active).st_size >= self.segment_bytes:
                self._roll()
            self._new_data.notify_all()
            return seq

    def _write_whole(self, data: bytes) -> None:
        fd = self._active
        if self._torn_at is not None:
            self._roll_back(self._torn_at)
            if self._torn_at is not None:
                raise SpoolWriteFailed(self.append_error)
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as exc:
            self._roll_back(start)
            self.append_error = f"append failed: {os.strerror(exc.errno or errno.EIO)}"
            raise SpoolWriteFailed(self.append_error) from None
        self.append_error = ""

    def _roll_back(self, length: int) -> None:
        """Cut the active segment back to `length`. If even that fails, appends stay refused until a later truncate
        succeeds (or the next open cuts the torn tail), so no record is ever written behind a torn one."""
        try:
            os.ftruncate(self._active, length)
            os.fsync(self._active)
            self._torn_at = None
        except OSError as exc:
            self._torn_at = length
            log.error("could not roll back a failed spool append: %s", exc)

    def _roll(self) -> None:
        """Start a new segment; if that fails (disk full), keep appending to this one and try again next time."""
        try:
            fd = self._open_active()
        except OSError as exc:
            log.warning("could not start a new spool segment: %s", exc)
            return
        os.close(self._active)
        self._active = fd

    # -- draining --------------------------------------------------------------------------------------------------
    def wait(self, timeout: float) -> None:
        """Block until something new is appended (or the timeout passes)."""
        with self._lock:
            if self._next_seq - 1 <= self.checkpoint:
                self._new_data.wait(timeout)

    def read(self, after_seq: int, max_records: int, max_bytes: int) -> list[Record]:
        """Records with seq > after_seq, oldest first, bounded in count and bytes (at least one if any)."""
        with self._lock:
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
        fields = [int(f) for f in self._intent_path.read_text().split()]
        # An intent written before batches had a formed-at time: its token cannot match the new scheme anyway.
        return Intent(fields[0], fields[1], fields[2] if len(fields) > 2 else time.time_ns())

    def begin(self, intent: Intent) -> None:
        """Record the batch about to be inserted, so a crash replays exactly that batch, with the same version."""
        _write_atomic(self._intent_path, f"{intent.first_seq} {intent.last_seq} {intent.formed_at_ns}")

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

    def problems(self) -> tuple[bool, list[str]]:
        """(whether appends can land now, the reasons they cannot) for /readyz."""
        problems = [self.append_error] if self.append_error else []
        free = self.free_bytes()
        if free <= self.min_free_bytes:
            problems.append(f"spool disk nearly full ({free} bytes free, reserve {self.min_free_bytes})")
        return not problems, problems

    def free_bytes(self) -> int:
        """Bytes the spool's file system still has for unprivileged writers."""
        stat = os.statvfs(self.directory)
        return stat.f_bavail * stat.f_frsize

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    def close(self) -> None:
        with self._lock:
            os.close(self._active)
            os.close(self._lock_file)
