"""The store: the ClickHouse schema and the query functions every reader (dashboard, evals) goes through.

Every function takes the project id explicitly; nothing here can read across projects by accident.
"""

from tracehouse.store.client import DSN, BadDSN, Store, StoreError, StoreUnavailable
from tracehouse.store.stats import GroupStats, SeriesPoint, group_stats, time_series
from tracehouse.store.steps import get_trace_steps, insert_steps
from tracehouse.store.traces import (
    BadFilter,
    TraceFilter,
    TracePage,
    TraceSummary,
    get_trace_summary,
    linked_counts,
    linked_trace_ids,
    list_traces,
)

__all__ = [
    "DSN",
    "BadDSN",
    "BadFilter",
    "GroupStats",
    "SeriesPoint",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TraceFilter",
    "TracePage",
    "TraceSummary",
    "get_trace_steps",
    "get_trace_summary",
    "group_stats",
    "insert_steps",
    "linked_counts",
    "linked_trace_ids",
    "list_traces",
    "time_series",
]
