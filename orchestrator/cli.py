"""The orchestrator's commands in the main CLI: `tracehouse demo`, and `tracehouse runs interrupts|answer` to list
and answer what paused runs are waiting for (the run continues when its process calls `resume`)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from ..sdk.local import local_key
from .demo import DEFAULT_ENDPOINT, run_demo
from .errors import OrchestratorError
from .remote import pull_answers
from .state import Interrupt, InterruptNotFound, SQLiteStateStore, answer_interrupt
from .tracing import run_id


# The shared client flags (`tracehouse.settings.client_options`), spelled out here: the demo runs on the plain
# install, where that module cannot be imported. tests/test_cli.py checks they stay the same.
@click.command("demo")
@click.option(
    "--server",
    "server",
    envvar="TRACEHOUSE_URL",
    default=None,
    help=f"The tracehouse server (TRACEHOUSE_URL) [{DEFAULT_ENDPOINT}].",
)
@click.option("--endpoint", "alias_endpoint", default=None, hidden=True)
@click.option(
    "--api-key",
    envvar="TRACEHOUSE_API_KEY",
    default=None,
    help="Project API key (TRACEHOUSE_API_KEY) [the local server's: <data-dir>/default-key].",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The local server's data directory: its first key and admin token (TRACEHOUSE_DATA_DIR).",
)
@click.option(
    "--eval/--no-eval",
    "run_eval",
    default=True,
    show_default=True,
    help="Score the demo's traces with the example eval suite (needs the server extra).",
)
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help="Read the traces back from the server to be sure it stored them (off for a plain OTLP receiver).",
)
def demo(
    server: str | None,
    alias_endpoint: str | None,
    api_key: str | None,
    data_dir: Path | None,
    run_eval: bool,
    check: bool,
) -> None:
    """Run example multi-agent workflows (fake model, no network) and send their traces to tracehouse."""
    endpoint = server or alias_endpoint or DEFAULT_ENDPOINT
    api_key = api_key or local_key(data_dir)
    report = run_demo(endpoint, api_key, echo=click.echo)
    if not report.runs:
        raise click.ClickException("no demo workflow ran")
    if check:
        problem = stored(endpoint, api_key, [r.trace_id for r in report.runs])
        if problem:
            raise click.ClickException(problem)
    if run_eval:
        _score(endpoint, api_key, [r.trace_id for r in report.runs])


def stored(endpoint: str, api_key: str | None, trace_ids: list[str], timeout_s: float = 30.0) -> str:
    """ "" once the server serves every trace; else one line saying what went wrong and what to do."""
    base = endpoint.rstrip("/").removesuffix("/v1/traces")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = time.monotonic() + timeout_s
    missing = list(trace_ids)
    while missing and time.monotonic() < deadline:
        still = []
        for trace_id in missing:
            request = urllib.request.Request(f"{base}/api/traces/{trace_id}", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=5):
                    continue
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 403):
                    return (
                        f"the server at {base} refused the demo's traces ({exc.code}): give a project key with "
                        "--api-key or TRACEHOUSE_API_KEY, or --data-dir of the server (its first key is there)"
                    )
                still.append(trace_id)
            except (urllib.error.URLError, OSError) as exc:
                return f"no tracehouse server answers at {base} ({exc}): start one with `tracehouse serve`"
        missing = still
        if missing:
            time.sleep(0.5)
    if missing:
        return f"the server at {base} did not store {len(missing)} of {len(trace_ids)} demo traces in {timeout_s:g}s"
    return ""


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


DB_OPTION = click.option(
    "--db",
    "db",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The orchestrator's SQLite state store (SQLiteStateStore(path)).",
)


@click.group("runs")
def runs_group() -> None:
    """Orchestrator runs in a state store: what paused runs wait for, and answering it."""


@runs_group.command("interrupts")
@DB_OPTION
@click.option("--run", "trace_id", default=None, help="Only this run's interrupts.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
def list_interrupts(db: Path, trace_id: str | None, as_json: bool) -> None:
    """List pending interrupts: questions, tool approvals, arbitrations, contracts, in-doubt effects."""
    found = _with_store(db, lambda store: store.pending_interrupts(run_id(trace_id)))
    if as_json:
        rows = [
            {"trace_id": i.trace_id, "interrupt_id": i.interrupt_id, "kind": i.kind, "payload": i.payload}
            for i in found
        ]
        click.echo(json.dumps({"interrupts": rows}, indent=2, default=str))
        return
    if not found:
        click.echo("no pending interrupts")
        return
    for i in found:
        click.echo(f"{i.trace_id}  {i.interrupt_id[:12]}  {i.kind:<15}  {_summary(i)}")


@runs_group.command("answer")
@DB_OPTION
@click.argument("trace_id")
@click.argument("interrupt_id")
@click.argument("answer")
def answer(db: Path, trace_id: str, interrupt_id: str, answer: str) -> None:
    """Answer INTERRUPT_ID (a prefix is enough) of run TRACE_ID (or the key it was started with) with ANSWER:
    JSON (`true`, `{"approved": false, "reason": "..."}`), or plain text (`approve`, `deny`, `happened`, `rerun`,
    `agent_b`)."""
    value = _parse_answer(answer)
    done = _with_store(db, lambda store: answer_interrupt(store, run_id(trace_id), interrupt_id, value))
    click.echo(f"answered {done.kind} interrupt {done.interrupt_id[:12]} of run {trace_id}: resume the run to continue")


@runs_group.command("pull")
@DB_OPTION
@click.argument("trace_id")
@click.option("--server", required=True, help="The tracehouse server whose dashboard holds the answers.")
@click.option("--api-key", envvar="TRACEHOUSE_API_KEY", default=None, help="The project's key [$TRACEHOUSE_API_KEY].")
def pull(db: Path, trace_id: str, server: str, api_key: str | None) -> None:
    """Take the answers people gave in the dashboard to run TRACE_ID's pending interrupts (then resume the run, or
    call `Orchestrator.resume(run, server=...)`, which does both)."""
    try:
        taken = _with_store(db, lambda store: pull_answers(store, run_id(trace_id), server, api_key))
    except OrchestratorError as exc:
        raise click.ClickException(str(exc)) from None
    if not taken:
        click.echo(f"no answer on {server} for a pending interrupt of run {trace_id}")
        return
    click.echo(f"took {len(taken)} answer(s) for run {trace_id}: {', '.join(i[:12] for i in taken)}; resume the run")


def _with_store(db: Path, action: Any) -> Any:
    if not db.exists():
        raise click.ClickException(f"no state store at {db}")
    store = SQLiteStateStore(db)
    try:
        return action(store)
    except InterruptNotFound as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


def _parse_answer(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _summary(i: Interrupt) -> str:
    p = i.payload if isinstance(i.payload, dict) else {}
    if i.kind == "question":
        return str(p.get("question", ""))[:80]
    if i.kind == "approval":
        return f"{p.get('tool')}({json.dumps(p.get('args'))[:60]})  [approve | deny]"
    if i.kind == "effect_in_doubt":
        return f"{p.get('tool')}: did it happen?  [happened | rerun]"
    return json.dumps(p, default=str)[:80]
