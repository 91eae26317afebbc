"""Row versions of `steps`: which of two rows for one span is newer, across collectors, restarts and the finaliser.

`steps` is a ReplacingMergeTree(version): the row with the highest version of a span wins. A version is a time
(microseconds since the epoch) shifted left by 10 bits, so versions from any collector order by when the batch was
formed, and the low bits say who wrote it:

- bit 0 = 1: a correction written by the trace finaliser (it re-applies the domain rules to a whole stored trace);
- bits 1..9: the encoder worker that encoded this part of the batch, so two parts of one batch are two versions
  (the finaliser looks at traces written by more than one version: see `collector/finaliser.py`).

Microseconds << 10 stays below 2**63 until the year 2262, like ClickHouse's DateTime64(9).
"""

from __future__ import annotations

import time

_SHIFT = 10
_PART_MASK = (1 << (_SHIFT - 1)) - 1


def batch_version(formed_at_ns: int, part: int = 0) -> int:
    """The version of the rows of part `part` of a batch formed at `formed_at_ns` (fixed when the batch is formed)."""
    return ((formed_at_ns // 1000) << _SHIFT) | ((part & _PART_MASK) << 1)


def correction_version(now_ns: int | None = None) -> int:
    """The version of a finaliser correction written now: newer than every batch formed before it."""
    return (((time.time_ns() if now_ns is None else now_ns) // 1000) << _SHIFT) | 1


def is_correction(version: int) -> bool:
    return bool(version & 1)


def version_time_ns(version: int) -> int:
    """When the batch (or correction) behind `version` was formed."""
    return (version >> _SHIFT) * 1000
