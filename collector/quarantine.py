"""Spool records the writer could not encode or insert after N tries, set aside so they never block later batches.

A quarantined record is two files in `<spool dir>/quarantine/`: `<seq>.rec`, the record in the spool's own layout
(so it can be appended back unchanged), and `<seq>.json`, why it was set aside. `tracehouse spool list|show|replay|
drop` reads them; the writer counts them in `tracehouse_spool_quarantined_records` and `/readyz` names them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tracehouse.collector.spool import Record, decode_records, encode_record
from tracehouse.errors import NotFound


class QuarantineError(NotFound, LookupError):
    """No quarantined record has that sequence number."""


@dataclass(frozen=True, slots=True)
class QuarantinedRecord:
    record: Record
    reason: str
    quarantined_at: str  # ISO 8601, UTC


def _write_synced(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Quarantine:
    """The quarantine directory of one spool."""

    def __init__(self, spool_dir: Path) -> None:
        self.directory = spool_dir / "quarantine"

    def _paths(self, seq: int) -> tuple[Path, Path]:
        stem = self.directory / f"{seq:020d}"
        return stem.with_suffix(".rec"), stem.with_suffix(".json")

    def put(self, record: Record, reason: str) -> None:
        """Set `record` aside durably (the caller advances the checkpoint past it only after this returns)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        rec_path, why_path = self._paths(record.seq)
        why = {"reason": reason[-2000:], "quarantined_at": datetime.now(UTC).isoformat(timespec="seconds")}
        _write_synced(why_path, json.dumps(why).encode())
        _write_synced(rec_path, encode_record(record))
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def seqs(self) -> list[int]:
        if not self.directory.is_dir():
            return []
        return sorted(int(p.stem) for p in self.directory.glob("*.rec") if p.stem.isdigit())

    def count(self) -> int:
        return len(self.seqs())

    def get(self, seq: int) -> QuarantinedRecord:
        rec_path, why_path = self._paths(seq)
        try:
            data = rec_path.read_bytes()
        except FileNotFoundError:
            raise QuarantineError(f"no quarantined record {seq} in {self.directory}") from None
        records = [r for r, _ in decode_records(data)]
        if len(records) != 1:
            raise QuarantineError(f"quarantined record {seq} is damaged ({rec_path})")
        try:
            why = json.loads(why_path.read_text())
        except (OSError, ValueError):
            why = {}
        return QuarantinedRecord(records[0], str(why.get("reason", "")), str(why.get("quarantined_at", "")))

    def all(self) -> list[QuarantinedRecord]:
        return [self.get(seq) for seq in self.seqs()]

    def drop(self, seq: int) -> None:
        rec_path, why_path = self._paths(seq)
        if not rec_path.exists():
            raise QuarantineError(f"no quarantined record {seq} in {self.directory}")
        rec_path.unlink()
        why_path.unlink(missing_ok=True)
