"""The `tracehouse` command: version, settings errors as one line with exit 2, keys, schema."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracehouse", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_version_and_help() -> None:
    assert run("--version").stdout.startswith("tracehouse, version ")
    out = run("--help").stdout
    for command in ("serve", "keys", "schema", "demo", "eval", "alerts", "detect"):
        assert command in out


def test_bad_settings_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for args, env, fragment in [
        (["serve", "--port", "70000"], {}, "port"),
        (["serve", "--host", "0.0.0.0", "--no-auth"], {}, "no_auth"),
        (["serve"], {"TRACEHOUSE_RETENTION_DAYS": "many"}, "retention_days"),
        (["serve", "--dsn", "mysql://x"], {}, "dsn"),
        (["serve", "--config", str(tmp_path / "missing.toml")], {}, "config"),
    ]:
        proc = run(*args, env=env)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in proc.stderr


def test_config_file_is_below_env_and_flags(tmp_path: Path) -> None:
    from tracehouse.settings import load_settings

    config = tmp_path / "tracehouse.toml"
    config.write_text("port = 5000\ngrpc_port = 5001\nretention_days = 7\n")
    os.environ["TRACEHOUSE_GRPC_PORT"] = "6001"
    try:
        settings = load_settings(config, port=7000)
    finally:
        del os.environ["TRACEHOUSE_GRPC_PORT"]
    assert (settings.port, settings.grpc_port, settings.retention_days) == (7000, 6001, 7)


def test_keys_through_the_running_server_and_directly_when_stopped(make_server: Any, tmp_path: Path) -> None:
    data_dir = tmp_path / "keys"
    server = make_server(data_dir=data_dir)
    common = ["--data-dir", str(data_dir)]
    env = {"TRACEHOUSE_PORT": str(server.port)}
    created = run("keys", "create", "--project", "team-a", "--name", "ci", *common, env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.split()[0]
    assert key.startswith("th_")
    r = httpx.get(f"{server.url}/api/traces", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    listed = run("keys", "list", *common, env=env).stdout
    assert "team-a" in listed and "default" in listed and key not in listed  # only prefixes are shown
    revoked = run("keys", "revoke", key[:10], *common, env=env)
    assert revoked.returncode == 0, revoked.stderr
    refused = False
    for _ in range(50):  # the server's key cache refreshes within seconds
        refused = httpx.get(f"{server.url}/api/traces", headers={"Authorization": f"Bearer {key}"}).status_code == 401
        if refused:
            break
        time.sleep(0.2)
    assert refused
    server.stop()
    again = run("keys", "list", *common, env=env)  # no server now: the CLI opens the store itself
    assert again.returncode == 0 and "revoked" in again.stdout
    bad = run("keys", "revoke", "th_nope", *common, env=env)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1


def test_schema_prints_single_node_and_cluster_ddl() -> None:
    single = run("schema").stdout
    assert "CREATE TABLE IF NOT EXISTS tracehouse.steps" in single and "ReplacingMergeTree(version)" in single
    cluster = run("schema", "--cluster", "prod").stdout
    assert "ON CLUSTER 'prod'" in cluster and "Distributed" in cluster and "ReplicatedReplacingMergeTree" in cluster


def test_serve_flags_are_made_from_the_settings_declaration() -> None:
    from click.testing import CliRunner

    from tracehouse.cli import main
    from tracehouse.serve_cli import SERVE_FLAGS
    from tracehouse.settings import Settings

    result = CliRunner().invoke(main, ["serve", "--help"], terminal_width=400)
    assert result.exit_code == 0
    for name in SERVE_FLAGS:
        flag = "--" + name.replace("_", "-").removesuffix("s" if name == "online_suites" else "")
        assert flag in result.output, flag
        assert (Settings.model_fields[name].description or "")[:30] in result.output, name


def test_a_command_the_light_install_cannot_run_is_listed_and_says_what_to_install(monkeypatch: Any) -> None:
    from click.testing import CliRunner

    from tracehouse.cli import LazyGroup, main

    monkeypatch.setitem(LazyGroup.lazy, "serve", "tracehouse_not_installed.serve_cli:serve")
    listing = CliRunner().invoke(main, ["--help"])
    assert listing.exit_code == 0 and "serve" in listing.output
    ran = CliRunner().invoke(main, ["serve", "--port", "1"])
    assert ran.exit_code == 2
    assert "needs the server extra: pip install 'tracehouse[server]'" in ran.output


def test_demo_finds_the_local_servers_key_and_fails_loudly_when_the_server_refuses(make_server: Any) -> None:
    """The README's path: `make serve`, then `tracehouse demo` with no key in the environment."""
    server = make_server()
    env = {k: v for k, v in os.environ.items() if k != "TRACEHOUSE_API_KEY"}
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracehouse",
            "demo",
            "--server",
            server.url,
            "--data-dir",
            str(server.data_dir),
            "--no-eval",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    refused = run("demo", "--server", server.url, "--api-key", "th_not_a_key", "--no-eval")
    assert refused.returncode == 1
    assert "refused the demo's traces (401)" in refused.stderr
    assert "Traceback" not in refused.stderr
