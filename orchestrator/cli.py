"""The `tracehouse demo` command (registered in the main CLI)."""

from __future__ import annotations

import click

from .demo import DEFAULT_ENDPOINT, run_demo


@click.command("demo")
@click.option(
    "--endpoint",
    default=DEFAULT_ENDPOINT,
    show_default=True,
    help="tracehouse server (OTLP/HTTP) that receives the demo traces.",
)
@click.option("--api-key", envvar="TRACEHOUSE_API_KEY", default=None, help="Project API key (or TRACEHOUSE_API_KEY).")
@click.option(
    "--eval/--no-eval",
    "run_eval",
    default=True,
    show_default=True,
    help="Score the demo's traces with the example eval suite (needs the server extra).",
)
def demo(endpoint: str, api_key: str | None, run_eval: bool) -> None:
    """Run example multi-agent workflows (fake model, no network) and send their traces to tracehouse."""
    report = run_demo(endpoint, api_key, echo=click.echo)
    if not report.runs:
        raise click.ClickException("no demo workflow ran")
    if run_eval:
        _score(endpoint, api_key, [r.trace_id for r in report.runs])


def _score(endpoint: str, api_key: str | None, trace_ids: list[str]) -> None:
    try:  # evals read the store's types; a plain `pip install tracehouse` has no server extra
        from tracehouse.evals.demo_scoring import score_demo
    except ImportError:
        click.echo("(skipping the example eval suite: pip install 'tracehouse[server]' to run it)")
        return
    try:
        result = score_demo(endpoint, api_key, trace_ids)
    except Exception as exc:  # the demo's traces are sent; scoring is a bonus that must not turn into a traceback
        click.echo(f"(the example eval suite did not run: {str(exc).splitlines()[0] if str(exc) else exc!r})")
        return
    failed = {s.trace_id for s in result.scores if s.passed is False}
    click.echo(
        f"Eval suite {result.suite.name!r}: {result.traces - len(failed)} of {result.traces} traces passed "
        f"every scorer (the planted faults fail on purpose): {endpoint.rstrip('/')}/evals"
    )
