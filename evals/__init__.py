"""tracehouse.evals: eval suites and scorers run against stored traces, datasets and experiments, online evals.

from tracehouse.evals import Suite, load_suite, run_suite, scorer, ScoreResult
"""

from tracehouse.evals.datasets import Case, Dataset, load_dataset
from tracehouse.evals.model import ScoreResult, TraceData
from tracehouse.evals.registry import ScorerError, get_scorer, scorer
from tracehouse.evals.runner import RunResult, run_suite, score_trace
from tracehouse.evals.suite import ScorerSpec, Selection, Suite, SuiteError, Target, load_suite
from tracehouse.store.scores import EvalRun, Score

__all__ = [
    "Case",
    "Dataset",
    "EvalRun",
    "RunResult",
    "Score",
    "ScoreResult",
    "ScorerError",
    "ScorerSpec",
    "Selection",
    "Suite",
    "SuiteError",
    "Target",
    "TraceData",
    "get_scorer",
    "load_dataset",
    "load_suite",
    "run_suite",
    "score_trace",
    "scorer",
]
