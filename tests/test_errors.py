"""One error root, two mappings: a `TracehouseError` answers an HTTP request with its status and one-line message
(`tracehouse.web.errors`), and ends a command with one line on stderr and its exit code (`TracehouseGroup`)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tracehouse import errors
from tracehouse.collector.receiver.errors import Overloaded, Unauthorized
from tracehouse.dashboard.web import PageError
from tracehouse.errors import EXIT_FAILED, EXIT_USAGE, TracehouseError, TracehouseGroup
from tracehouse.evals.alerting.rules import RuleFileError
from tracehouse.evals.datasets import DatasetError
from tracehouse.evals.registry import ScorerError
from tracehouse.evals.suite import SuiteError
from tracehouse.settings import SettingsError
from tracehouse.store import BadFilter, StoreError, StoreUnavailable
from tracehouse.web.errors import install_error_handlers


def test_the_user_facing_errors_share_one_root_and_carry_their_answer() -> None:
    usage = (BadFilter, SettingsError, SuiteError, RuleFileError, DatasetError, ScorerError)
    for kind in usage:
        assert issubclass(kind, TracehouseError) and issubclass(kind, ValueError), kind  # old `except` still work
        assert (kind("x").http_status, kind("x").exit_code) == (400, EXIT_USAGE), kind
    assert (StoreError("x").http_status, StoreError("x").exit_code) == (500, EXIT_FAILED)
    unavailable = StoreUnavailable("clickhouse at 10.0.0.1 refused")
    assert (unavailable.http_status, unavailable.http_headers) == (503, {"Retry-After": "5"})
    assert (Overloaded("full", retry_after=7).http_status, Overloaded("full", 7).http_headers) == (
        503,
        {"Retry-After": "7"},
    )
    assert Unauthorized("no key").http_status == 401 and PageError(404, "no rule").http_status == 404
    assert errors.ClientError("refused", 404).exit_code == EXIT_FAILED
    assert errors.ClientError("cannot reach").exit_code == errors.ClientError("bad key", 401).exit_code == EXIT_USAGE
    assert BadFilter("cursor: not valid\nsecond line").message == "cursor: not valid"


@pytest.fixture
def app_client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    raised = {
        "filter": BadFilter("since: not a time"),
        "down": StoreUnavailable("clickhouse://secret@10.0.0.1 refused"),
        "fault": StoreError("Code: 62. Syntax error near 'SELECT secret'"),
        "page": PageError(404, "no rule named 'x'"),
        "full": Overloaded("the spool is full", retry_after=9),
    }

    @app.get("/raise/{name}")
    def boom(name: str) -> None:
        raise raised[name]

    @app.get("/typed")
    def typed(limit: int) -> dict[str, int]:
        return {"limit": limit}

    return TestClient(app, raise_server_exceptions=False)


def test_every_error_maps_to_its_http_answer_and_a_fault_keeps_its_detail_out(app_client: TestClient) -> None:
    answers = {name: app_client.get(f"/raise/{name}") for name in ("filter", "down", "fault", "page", "full")}
    assert (answers["filter"].status_code, answers["filter"].json()) == (400, {"error": "since: not a time"})
    assert answers["down"].status_code == 503 and answers["down"].headers["retry-after"] == "5"
    assert "secret" not in answers["down"].text and answers["down"].json()["error"].startswith("store unavailable")
    assert (answers["fault"].status_code, answers["fault"].json()) == (
        500,
        {"error": "the store could not answer this query"},
    )
    assert (answers["page"].status_code, answers["page"].json()) == (404, {"error": "no rule named 'x'"})
    assert answers["full"].status_code == 503 and answers["full"].headers["retry-after"] == "9"
    bad = app_client.get("/typed", params={"limit": "many"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("limit: ")


def _group(**kw: object) -> click.Group:
    @click.group(cls=TracehouseGroup, **kw)  # type: ignore[call-overload]
    def group() -> None:
        pass

    @group.command()
    @click.argument("kind")
    def fail(kind: str) -> None:
        if kind == "usage":
            raise SuiteError("suite.yaml: scorers[0].type: unknown\nsecond line")
        if kind == "failed":
            raise StoreUnavailable("cannot reach ClickHouse")
        raise RuntimeError("a bug")

    return group


def test_a_command_ends_with_one_line_and_the_errors_exit_code_never_a_traceback() -> None:
    runner = CliRunner()
    usage = runner.invoke(_group(), ["fail", "usage"])
    assert (usage.exit_code, usage.stderr) == (EXIT_USAGE, "error: suite.yaml: scorers[0].type: unknown\n")
    failed = runner.invoke(_group(), ["fail", "failed"])
    assert (failed.exit_code, failed.stderr) == (EXIT_FAILED, "error: cannot reach ClickHouse\n")
    gated = runner.invoke(_group(error_exit_code=EXIT_USAGE), ["fail", "failed"])  # exit 1 means "a gate failed"
    assert gated.exit_code == EXIT_USAGE
    bug = runner.invoke(_group(), ["fail", "bug"])  # not a TracehouseError: a bug is not dressed up as an answer
    assert isinstance(bug.exception, RuntimeError)
