"""How the `detect` and `alerts` commands reach tracehouse: the running server's JSON API (the embedded store is
owned by `tracehouse serve`), or a ClickHouse server directly with `--dsn`."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import httpx

from tracehouse.evals.suite import parse_when

DEFAULT_URL = "http://127.0.0.1:4318"


class CommandError(click.ClickException):
    """One line on stderr, exit code 2."""

    exit_code = 2

    def format_message(self) -> str:
        return self.message.splitlines()[0] if self.message else "failed"


def api_key(given: str | None, data_dir: str | None) -> str | None:
    """The key from the flag / TRACEHOUSE_API_KEY, else the server's default key file in its data directory."""
    if given:
        return given
    if data_dir:
        key_file = Path(data_dir) / "default-key"
        if key_file.is_file():
            return key_file.read_text().strip() or None
    return None


def call(method: str, url: str, path: str, key: str | None, json: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.request(method, url.rstrip("/") + path, json=json, headers=headers, timeout=120.0)
    except httpx.HTTPError as exc:
        raise CommandError(f"cannot reach tracehouse at {url}: {exc} (is `tracehouse serve` running?)") from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail") or response.json().get("error") or response.text
        except ValueError:
            detail = response.text
        raise CommandError(f"{url}{path}: HTTP {response.status_code}: {str(detail)[:300]}")
    body: dict[str, Any] = response.json()
    return body


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """`1h`, `30m`, `2d` back from now, or an ISO 8601 time."""
    try:
        return parse_when(value, now)
    except ValueError as exc:
        raise CommandError(f"--since: {exc}, got {value!r}") from None


def server_options(fn: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--server",
                "server_url",
                envvar="TRACEHOUSE_URL",
                default=DEFAULT_URL,
                show_default=True,
                help="The running tracehouse server (TRACEHOUSE_URL).",
            ),
            click.option(
                "--api-key",
                "key",
                envvar="TRACEHOUSE_API_KEY",
                default=None,
                help="API key (TRACEHOUSE_API_KEY; default: <data-dir>/default-key).",
            ),
            click.option(
                "--data-dir",
                envvar="TRACEHOUSE_DATA_DIR",
                default=None,
                help="Server data directory, to find its default key.",
            ),
            click.option(
                "--dsn",
                envvar="TRACEHOUSE_DSN",
                default=None,
                help="Use ClickHouse directly (http(s)://user:pass@host:8123/db) instead of the API.",
            ),
            click.option(
                "--project",
                default=os.environ.get("TRACEHOUSE_PROJECT", "default"),
                show_default=True,
                help="Project to act on with --dsn (the API uses the key's project).",
            ),
        ]
    ):
        fn = option(fn)
    return fn
