"""The `tracehouse demo` command (registered in the main CLI)."""

from __future__ import annotations

import click

from .demo import DEFAULT_ENDPOINT, run_demo


@click.command("demo")
@click.option("--endpoint", default=DEFAULT_ENDPOINT, show_default=True,
              help="tracehouse server (OTLP/HTTP) that receives the demo traces.")
@click.option("--api-key", envvar="TRACEHOUSE_API_KEY", default=None, help="Project API key (or TRACEHOUSE_API_KEY).")
def demo(endpoint: str, api_key: str | None) -> None:
    """Run example multi-agent workflows (fake model, no network) and send their traces to tracehouse."""
    report = run_demo(endpoint, api_key, echo=click.echo)
    if not report.runs:
        raise click.ClickException("no demo workflow ran")
