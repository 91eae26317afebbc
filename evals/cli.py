"""`tracehouse eval …`: run a suite as a CI gate, run an experiment over a dataset, compare two experiments.

Exit codes: 0 passed, 1 a threshold failed, 2 bad usage (bad suite file, unreachable server, bad flag) — always
one line on stderr, never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tracehouse.evals.datasets import DatasetError
from tracehouse.evals.registry import ScorerError
from tracehouse.evals.suite import SuiteError, load_suite, parse_when
from tracehouse.store import BadFilter, Store, StoreError

DEFAULT_URL = "http://127.0.0.1:4318"
EXIT_THRESHOLD = 1
EXIT_USAGE = 2
_USAGE_ERRORS = (SuiteError, DatasetError, ScorerError, BadFilter, StoreError, OSError, ValueError)


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"error: {message}".splitlines()[0], err=True)
    sys.exit(code)


@contextmanager
def _one_line_errors() -> Iterator[None]:
    from tracehouse.evals.sources import SourceError

    try:
        yield
    except (SourceError, *_USAGE_ERRORS) as exc:
        _fail(str(exc) or type(exc).__name__)


@click.group("eval")
def eval_group() -> None:
    """Run eval suites against stored traces, run experiments over datasets, compare them."""


def _trace_judges(url: str, api_key: str | None) -> Callable[[], None]:
    """Send the eval's own spans (judge calls) to the server; returns the flush-and-shutdown function."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return lambda: None  # the application configured tracing itself
    provider = TracerProvider(resource=Resource.create({"service.name": "tracehouse-eval"}))
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers=headers)))
    trace.set_tracer_provider(provider)
    return provider.shutdown


@eval_group.command("run")
@click.argument("suite_file", metavar="SUITE", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--server",
    "server_url",
    envvar="TRACEHOUSE_URL",
    default=None,
    help=f"tracehouse server to read traces from and write scores to (default {DEFAULT_URL}).",
)
@click.option(
    "--api-key", envvar="TRACEHOUSE_API_KEY", default=None, help="API key for --server (or TRACEHOUSE_API_KEY)."
)
@click.option(
    "--dsn",
    envvar="TRACEHOUSE_DSN",
    default=None,
    help="Read and write ClickHouse directly (http(s)://user:pass@host:8123/db) instead of a server.",
)
@click.option("--project", default=None, help="Project with --dsn (default: the suite's select.project or 'default').")
@click.option("--since", default=None, help="Override select.since (30m, 24h, 7d or ISO-8601).")
@click.option("--until", default=None, help="Override select.until.")
@click.option("--sample", type=click.FloatRange(0, 1, min_open=True), default=None, help="Override select.sample.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Override select.limit.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True, help="Traces scored at once.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write JUnit XML here.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write every score to a .csv or .parquet file.",
)
@click.option("--no-write", is_flag=True, help="Do not write scores or the run record back.")
@click.option("--link-base", default=None, help="Dashboard URL for trace links (default: the server URL).")
@click.option(
    "--trace-evals/--no-trace-evals",
    default=True,
    show_default=True,
    help="Send the judge's own calls to the server as traces (server mode).",
)
def run_command(
    suite_file: Path,
    server_url: str | None,
    api_key: str | None,
    dsn: str | None,
    project: str | None,
    since: str | None,
    until: str | None,
    sample: float | None,
    limit: int | None,
    concurrency: int,
    junit: Path | None,
    out: Path | None,
    no_write: bool,
    link_base: str | None,
    trace_evals: bool,
) -> None:
    """Run SUITE against stored traces; exit 1 when a threshold fails (a CI gate)."""
    from tracehouse.evals.report import print_summary, write_junit
    from tracehouse.evals.runner import run_suite
    from tracehouse.evals.sources import ApiClient, ApiSink, ApiSource, StoreSink, StoreSource

    if dsn and server_url:
        _fail("give --server or --dsn, not both")
    if out is not None and out.suffix.lower() not in (".csv", ".parquet"):
        _fail("--out: must end in .csv or .parquet")
    console = Console(stderr=True)
    with _one_line_errors():
        suite = load_suite(suite_file)
        overrides = {
            k: v for k, v in {"since": since, "until": until, "sample": sample, "limit": limit}.items() if v is not None
        }
        for key, when in (("since", since), ("until", until)):
            if when is not None:
                try:
                    parse_when(when)
                except ValueError as exc:
                    _fail(f"--{key}: {exc}")
        suite.select = suite.select.model_copy(update=overrides)
        shutdown: Callable[[], None] = lambda: None  # noqa: E731
        store: Store | None = None
        client: ApiClient | None = None
        if dsn:
            if dsn.startswith("chdb://"):
                _fail("--dsn: an embedded store belongs to its server; use --server URL (or a ClickHouse http(s) DSN)")
            store = Store(dsn)
            proj = project or suite.select.project or "default"
            source: Any = StoreSource(store, proj, link_base or "")
            sink: Any = None if no_write else StoreSink(store, proj)
        else:
            client = ApiClient(server_url or DEFAULT_URL, api_key)
            source = ApiSource(client)
            sink = None if no_write else ApiSink(client)
            if trace_evals and any(s.type == "llm_judge" for s in suite.scorers):
                shutdown = _trace_judges(client.url, api_key)
        try:
            with Progress(
                TextColumn("scoring"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                disable=not console.is_terminal,
            ) as bar:
                task = bar.add_task("traces", total=None)
                result = run_suite(
                    suite,
                    source,
                    sink,
                    concurrency=concurrency,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        finally:
            shutdown()
            if client is not None:
                client.close()
            if store is not None:
                store.close()
        print_summary(result, Console(width=None if sys.stdout.isatty() else 140))
        if junit is not None:
            write_junit(result, junit)
        if out is not None:
            frame = result.frame()
            frame.to_parquet(out, index=False) if out.suffix.lower() == ".parquet" else frame.to_csv(out, index=False)
    if not result.passed:
        sys.exit(EXIT_THRESHOLD)


@eval_group.command("experiment")
@click.option("--dataset", "dataset_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workflow", "workflow_ref", required=True, help="module:function called with each case's input.")
@click.option(
    "--suite",
    "suite_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Suite file whose scorers score each run (its selection is ignored).",
)
@click.option("--name", required=True, help="Experiment name.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help=".parquet or .csv result.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True)
def experiment_command(
    dataset_path: Path, workflow_ref: str, suite_file: Path, name: str, out: Path, concurrency: int
) -> None:
    """Run a workflow over a dataset, trace and score each case, save the results."""
    from tracehouse.evals.datasets import load_dataset
    from tracehouse.evals.experiments import import_workflow, run_experiment

    if out.suffix.lower() not in (".csv", ".parquet"):
        _fail("--out: must end in .csv or .parquet")
    with _one_line_errors():
        suite = load_suite(suite_file)
        workflow = import_workflow(workflow_ref)
        experiment = run_experiment(name, load_dataset(dataset_path), workflow, suite.scorers, concurrency=concurrency)
        experiment.save(out)
    console = Console()
    console.print(experiment.summary().to_string(index=False))
    console.print(f"saved {len(experiment.results)} cases to {out}")


@eval_group.command("compare")
@click.argument("a", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("b", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the per-case comparison to .csv or .parquet.",
)
@click.option("--show", type=click.IntRange(0), default=10, show_default=True, help="Changed cases to list.")
def compare_command(a: Path, b: Path, out: Path | None, show: int) -> None:
    """Compare two saved experiments (A = baseline, B = candidate): per scorer and per case."""
    from tracehouse.evals.experiments import Experiment, compare

    with _one_line_errors():
        comparison = compare(Experiment.load(a), Experiment.load(b))
        if out is not None:
            if out.suffix.lower() not in (".csv", ".parquet"):
                _fail("--out: must end in .csv or .parquet")
            cases = comparison.cases
            cases.to_parquet(out, index=False) if out.suffix.lower() == ".parquet" else cases.to_csv(out, index=False)
    console = Console()
    console.print(comparison.summary.to_string(index=False))
    changed = comparison.cases[comparison.cases["change"] != "same"].head(show)
    if not changed.empty:
        console.print(changed.to_string(index=False))
    console.print(f"better {comparison.better}, worse {comparison.worse}, same {comparison.same}")


def main() -> None:  # pragma: no cover - `python -m tracehouse.evals.cli` for running without the main CLI
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    eval_group()


if __name__ == "__main__":  # pragma: no cover
    main()
