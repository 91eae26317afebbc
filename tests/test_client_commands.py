"""Every command that talks to a server shares one set of flags (`--server`, `--api-key`, `--project`, `--data-dir`;
TRACEHOUSE_URL / _API_KEY / _PROJECT / _DATA_DIR), one client and one error style: one line on stderr, the error's
exit code, never a traceback. Listing commands print a header row, never wrap at 80 columns when piped, and take
`--json`. Driven against one real `tracehouse serve` shared by the module."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import ServerProcess, free_port
from tracehouse.cli import main

CLIENT_COMMANDS = (
    ("eval", "run"),
    ("alerts", "check"),
    ("alerts", "list"),
    ("detect", "run"),
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("client") / "data"
    server = ServerProcess(data_dir=data, port=free_port(), grpc_port=free_port()).start()
    yield server
    server.stop()


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run(*args: str, env: dict[str, str] | None = None) -> Ran:
    """The CLI in process (as fast as a test should be), with none of the TRACEHOUSE_* variables of the test's own
    environment; `demo_runs_as_a_process` below keeps one real process."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("TRACEHOUSE_")}
    result = CliRunner().invoke(main, list(args), env={**unset, **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def one_line_error(proc: Ran, code: int, fragment: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def help_of(*command: str) -> str:
    result = CliRunner().invoke(main, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_client_command_takes_the_same_flags_and_the_demo_spells_them_the_same() -> None:
    from tracehouse.settings import CLIENT_FLAGS, ClientSettings

    for command in CLIENT_COMMANDS:
        text = help_of(*command)
        for name, flag in CLIENT_FLAGS.items():
            assert flag in text, (command, flag)
            assert (ClientSettings.model_fields[name].description or "")[:40] in text, (command, name)
        assert "--endpoint" not in text  # an old name is hidden
    for command in (("keys", "create"), ("keys", "list"), ("keys", "revoke")):
        text = help_of(*command)
        assert all(flag in text for flag in ("--server", "--project", "--data-dir")), command
    demo = help_of("demo")
    for name in ("url", "api_key", "data_dir"):
        assert CLIENT_FLAGS[name] in demo
        assert (ClientSettings.model_fields[name].description or "")[:40] in demo, name
    assert "--endpoint" not in demo


def test_the_server_key_and_project_come_from_the_environment_and_the_local_key_file(live: ServerProcess) -> None:
    env = {"TRACEHOUSE_URL": live.url, "TRACEHOUSE_DATA_DIR": str(live.data_dir)}
    found = run("detect", "run", "--json", env=env)  # no key given: the local server's default key is used
    assert found.returncode == 0, found.stderr
    report = json.loads(found.stdout)
    assert set(report) >= {"since", "until", "traces", "findings"}
    flags = ["--server", live.url, "--data-dir", str(live.data_dir), "--project", "default"]
    same = run("detect", "run", "--json", *flags)
    assert same.returncode == 0, same.stderr
    other = run("alerts", "list", "--project", "team-b", env=env)
    one_line_error(other, 2, "--project team-b: the API key belongs to project 'default'")
    env_project = run("alerts", "list", env={**env, "TRACEHOUSE_PROJECT": "team-b"})
    one_line_error(env_project, 2, "project 'default'")


def test_alerts_list_json_is_one_document_and_the_table_has_its_header(live: ServerProcess) -> None:
    common = ["--server", live.url, "--api-key", live.api_key]
    listed = run("alerts", "list", "--json", *common)
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert doc["rules"] and {"name", "state", "origin", "expression"} <= set(doc["rules"][0])
    table = run("alerts", "list", *common)
    assert table.returncode == 0, table.stderr
    header = next(line for line in table.stdout.splitlines() if line.strip().startswith("rule"))
    assert header.split()[:3] == ["rule", "state", "severity"]


def test_a_server_that_cannot_be_reached_or_refuses_the_key_is_one_line_with_exit_2(live: ServerProcess) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    for command in (["detect", "run"], ["alerts", "check"], ["alerts", "list"]):
        one_line_error(run(*command, "--server", nowhere, "--api-key", "th_x"), 2, f"cannot reach {nowhere}")
        one_line_error(run(*command, "--server", live.url, "--api-key", "th_wrong"), 2, "refused the API key (401)")
    one_line_error(run("detect", "run", "--server", "ftp://x"), 2, "--server:")
    one_line_error(run("detect", "run", "--server", live.url, "--since", "yesterday-ish"), 2, "--since")


def test_keys_list_has_a_header_row_json_and_never_wraps_when_piped(live: ServerProcess) -> None:
    common = ["--data-dir", str(live.data_dir)]
    long_name = "a key whose name is long enough to wrap any eighty column table " * 3
    created = run("keys", "create", "--project", "team-wide", "--name", long_name.strip(), *common)
    assert created.returncode == 0, created.stderr
    listed = run("keys", "list", *common)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["PREFIX", "PROJECT", "STATE", "CREATED", "(UTC)", "NAME"]
    [row] = [line for line in lines if "team-wide" in line]
    assert row.rstrip().endswith(long_name.strip())  # the whole row on one line, past column 80
    only = run("keys", "list", "--json", "--project", "team-wide", *common)
    assert only.returncode == 0, only.stderr
    keys = json.loads(only.stdout)["keys"]
    assert [(k["project"], k["name"], k["revoked"]) for k in keys] == [("team-wide", long_name.strip(), False)]
    assert re.fullmatch(r"th_\w+", keys[0]["prefix"])
    named = run("keys", "list", "--server", live.url, "--json", *common)  # the same server, named
    assert named.returncode == 0 and "team-wide" in named.stdout, named.stderr
    nobody = f"http://127.0.0.1:{free_port()}"
    one_line_error(run("keys", "list", "--server", nobody, *common), 1, f"no tracehouse server answers at {nobody}")
    missing = run("keys", "create", *common)
    one_line_error(missing, 2, "--project")
    unknown = run("keys", "revoke", "th_nope", *common)
    one_line_error(unknown, 1, "th_nope")


def test_the_start_up_banner_is_whole(live: ServerProcess) -> None:
    """No log line (the gRPC receiver's, the key line) lands inside the banner: it is printed once all is up."""
    log = live.log().splitlines()
    start = next(i for i, line in enumerate(log) if re.fullmatch(r"tracehouse \S+ listening", line))
    banner = log[start : start + 6]
    assert [line.split()[0] for line in banner[1:5]] == ["dashboard", "OTLP/HTTP", "OTLP/gRPC", "store"], banner
    assert banner[5].startswith("  default project key"), banner
    grpc_log = next(i for i, line in enumerate(log) if "OTLP/gRPC listening" in line)
    assert grpc_log < start


def test_the_old_flag_names_still_work(live: ServerProcess) -> None:
    """`demo --endpoint` (now `--server`) is kept, hidden, for one release; run as a process, as a user would."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRACEHOUSE_")}
    old = subprocess.run(
        [sys.executable, "-m", "tracehouse", "demo", "--endpoint", live.url, "--api-key", live.api_key, "--no-eval"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean,
    )
    assert old.returncode == 0, old.stderr
    assert f"{live.url}/traces/" in old.stdout


def test_json_documents_keep_every_field(live: Any) -> None:
    """`--json` answers are the server's records (pydantic models), dumped whole: a rule's `for` keeps its name."""
    listed = run("alerts", "list", "--json", "--server", live.url, "--api-key", live.api_key)
    rule = json.loads(listed.stdout)["rules"][0]
    assert "for" in rule and "for_" not in rule
