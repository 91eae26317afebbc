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
from typing import TYPE_CHECKING, NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tracehouse import output
from tracehouse.errors import EXIT_USAGE, BadInput, TracehouseError, TracehouseGroup
from tracehouse.evals.suite import load_suite, parse_when
from tracehouse.settings import ClientSettings, client_options, direct_dsn_option
from tracehouse.store import Store

if TYPE_CHECKING:
    from tracehouse.client import Client
    from tracehouse.evals.sources import ScoreSink, TraceSource

EXIT_THRESHOLD = 1


def _fail(message: str) -> NoReturn:
    raise BadInput(message)


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """A file that cannot be read or written is bad usage too (exit 2, one line), like every TracehouseError here."""
    try:
        yield
    except (OSError, ValueError) as exc:
        if isinstance(exc, TracehouseError):
            raise
        raise BadInput(str(exc) or type(exc).__name__) from None


@click.group("eval", cls=TracehouseGroup, error_exit_code=EXIT_USAGE)
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
@client_options()
@direct_dsn_option
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
    client: ClientSettings,
    dsn: str | None,
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
    from tracehouse.client import Client
    from tracehouse.evals.report import print_summary, write_junit
    from tracehouse.evals.runner import run_suite
    from tracehouse.evals.sources import ApiSink, ApiSource, StoreSink, StoreSource

    if dsn and client.url:
        raise BadInput("give --server or --dsn, not both")
    if out is not None and out.suffix.lower() not in (".csv", ".parquet"):
        raise BadInput("--out: must end in .csv or .parquet")
    console = Console(stderr=True)
    suite = load_suite(suite_file)
    for key, when in (("since", since), ("until", until)):
        if when is not None:
            try:
                parse_when(when)
            except ValueError as exc:
                raise BadInput(f"--{key}: {exc}") from None
    overrides = {
        k: v for k, v in {"since": since, "until": until, "sample": sample, "limit": limit}.items() if v is not None
    }
    suite.select = suite.select.model_copy(update=overrides)
    shutdown: Callable[[], None] = lambda: None  # noqa: E731
    store: Store | None = None
    api: Client | None = None
    if dsn:
        if dsn.startswith("chdb://"):
            raise BadInput("--dsn: an embedded store belongs to its server; use --server URL (or a ClickHouse DSN)")
        store = Store(dsn)
        proj = client.project or suite.select.project or "default"
        source: TraceSource = StoreSource(store, proj, link_base or "")
        sink: ScoreSink | None = None if no_write else StoreSink(store, proj)
    else:
        api = Client(client)
        api.check_project()
        source, sink = ApiSource(api), None if no_write else ApiSink(api)
        if trace_evals and any(s.type == "llm_judge" for s in suite.scorers):
            shutdown = _trace_judges(api.url, client.key)
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
        if api is not None:
            api.close()
        if store is not None:
            store.close()
    print_summary(result, output.console())
    with _one_line_errors():
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
