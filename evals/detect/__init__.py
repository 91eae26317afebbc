"""Detectors for the orchestration failures that cost most: loops, duplicate work and retry storms.

Pure functions over one trace's steps (`detect_loops`, `detect_duplicate_work`, `detect_retry_storms`), a window
detector over the store (`detect_retry_rate_spikes`), and `DetectionService`, which runs them in `tracehouse serve`.
"""

from tracehouse.evals.detect.duplicates import detect_cross_trace_duplicates, detect_duplicate_work
from tracehouse.evals.detect.loops import detect_loops
from tracehouse.evals.detect.model import DetectConfig, Finding, Kind, Severity, finding_id
from tracehouse.evals.detect.retries import detect_retry_storms
from tracehouse.evals.detect.service import (
    DetectionService,
    RunReport,
    detect_retry_rate_spikes,
    detect_trace,
    run_window,
    scan_traces,
)

__all__ = [
    "DetectConfig",
    "DetectionService",
    "Finding",
    "Kind",
    "RunReport",
    "Severity",
    "detect_cross_trace_duplicates",
    "detect_duplicate_work",
    "detect_loops",
    "detect_retry_rate_spikes",
    "detect_retry_storms",
    "detect_trace",
    "finding_id",
    "run_window",
    "scan_traces",
]
