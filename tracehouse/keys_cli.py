"""Key administration for the CLI: through the running server's admin API when one owns the data directory, else
straight to the store (an embedded store belongs to the one process that opened it). The admin token goes only to
a server that proved it wrote `<data-dir>/admin` (see `tracehouse/admin.py`): the URL in that file, or `--server`."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import click
import httpx

from tracehouse.admin import ADMIN_FILE, AdminEndpoint, CreatedKey, KeyOut, proof, read_admin_file, record_json
from tracehouse.client import AdminClient
from tracehouse.errors import BadInput, NotFound, TracehouseError, TracehouseGroup
from tracehouse.output import echo_json, json_option, table
from tracehouse.settings import ClientSettings, Settings, client_options, load_settings
from tracehouse.store import DSN, Store
from tracehouse.store.keys import KeyRing

F = TypeVar("F", bound=Callable[..., Any])


class KeyAdminError(TracehouseError):
    """A key operation the server or the store refused, or a server that did not prove itself; one line."""


class KeyAdmin(Protocol):
    def create(self, project: str, name: str) -> CreatedKey: ...
    def list(self) -> list[KeyOut]: ...
    def revoke(self, prefix: str) -> KeyOut: ...


class _Direct:
    def __init__(self, store: Store) -> None:
        self.keyring = KeyRing(store)

    def create(self, project: str, name: str) -> CreatedKey:
        try:
            key, record = self.keyring.create(project, name)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        return CreatedKey(key=key, **record_json(record))

    def list(self) -> list[KeyOut]:
        return [KeyOut(**record_json(r)) for r in self.keyring.list()]

    def revoke(self, prefix: str) -> KeyOut:
        try:
            return KeyOut(**record_json(self.keyring.revoke(prefix)))
        except KeyError as exc:
            raise NotFound(str(exc.args[0])) from None


class _OverHttp:
    def __init__(self, client: AdminClient) -> None:
        self.client = client

    def create(self, project: str, name: str) -> CreatedKey:
        return self.client.create_key(project, name)

    def list(self) -> list[KeyOut]:
        return self.client.keys()

    def revoke(self, prefix: str) -> KeyOut:
        return self.client.revoke_key(prefix)


def _server_at(url: str, token: str) -> bool:
    """True when the server that wrote the admin file answers at `url`; False when nothing listens there (a stale
    file: the server was killed). Anything else there is refused before the token is sent."""
    challenge = secrets.token_hex(16)
    try:
        response = httpx.get(f"{url}/api/admin/proof", params={"challenge": challenge}, timeout=5)
    except httpx.TransportError:
        return False
    try:
        answer = response.json().get("proof", "") if response.status_code == 200 else ""
    except ValueError:
        raise KeyAdminError(f"{url} did not answer as tracehouse; the admin token was not sent") from None
    if not isinstance(answer, str) or not hmac.compare_digest(answer, proof(token, challenge)):
        raise KeyAdminError(
            f"the process at {url} is not the server that wrote {ADMIN_FILE} in the data directory;"
            " the admin token was not sent"
        )
    return True


def key_admin(client: ClientSettings, settings: Settings) -> KeyAdmin:
    """Through the server that owns the data directory (at `--server`, or where its admin file says), else direct."""
    dsn = DSN.parse(settings.store_dsn, default_database=settings.database)
    endpoint: AdminEndpoint | None = read_admin_file(client.data_dir) if dsn.embedded else None
    if endpoint is None and client.url:
        raise KeyAdminError(
            f"no admin token in {client.data_dir / ADMIN_FILE}: keys are managed through the server that owns that "
            "data directory (pass its --data-dir) or, with it stopped, in its store"
        )
    if endpoint is not None:
        url = client.url.rstrip("/") if client.url else endpoint.url
        if _server_at(url, endpoint.token):
            return _OverHttp(AdminClient(url, endpoint.token))
        if client.url:
            raise KeyAdminError(f"no tracehouse server answers at {url}")
    try:
        store = Store(dsn)
        store.migrate(settings.retention_days)
    except TracehouseError as exc:
        raise KeyAdminError(f"{exc.message} (if a server owns this store, pass the same --data-dir)") from None
    return _Direct(store)


# -- the commands ----------------------------------------------------------------------------------------------------


@click.group("keys", cls=TracehouseGroup)
def keys_group() -> None:
    """Create, list and revoke API keys (each key belongs to one project).

    With a server running on the data directory, the commands go through it (the admin token and its URL are in
    <data-dir>/admin; `--server` names another URL for the same server); with none, they open the store themselves.
    """


def key_options(fn: F) -> F:
    """Which server or store: the shared client flags (no API key: the data directory's admin token is the
    credential), and the store's own settings for when no server runs."""
    fn = click.option("--dsn", help="ClickHouse DSN, when no server owns the store.")(fn)
    fn = click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file.")(fn)
    decorated: F = client_options("url", "project", "data_dir")(fn)
    return decorated


def _key_admin(client: ClientSettings, config: str | None, dsn: str | None) -> KeyAdmin:
    return key_admin(client, load_settings(config, data_dir=client.data_dir, dsn=dsn))


@keys_group.command("create")
@key_options
@click.option("--name", default="", help="A note to recognise the key by.")
def keys_create(client: ClientSettings, config: str | None, dsn: str | None, name: str) -> None:
    """Make a key for --project; it is printed once (only its hash is stored)."""
    if not client.project:
        raise BadInput("keys create: give the key's project with --project (or TRACEHOUSE_PROJECT)")
    result = _key_admin(client, config, dsn).create(client.project, name)
    click.echo(f"{result.key}\n(project {result.project}; shown once — store it now)")


@keys_group.command("list")
@key_options
@json_option
def keys_list(client: ClientSettings, config: str | None, dsn: str | None, as_json: bool) -> None:
    """List the keys (of --project, or every project): their first characters (what `keys revoke` takes), project,
    state, creation time and name."""
    found = [k for k in _key_admin(client, config, dsn).list() if client.project in (None, k.project)]
    if as_json:
        echo_json({"keys": found})
        return
    rows = [
        (k.prefix + "…", k.project, "revoked" if k.revoked else "active", k.created_at[:19].replace("T", " "), k.name)
        for k in found
    ]
    table(None, ("PREFIX", "PROJECT", "STATE", "CREATED (UTC)", "NAME"), rows)


@keys_group.command("revoke")
@key_options
@click.argument("prefix")
def keys_revoke(client: ClientSettings, config: str | None, dsn: str | None, prefix: str) -> None:
    """Revoke the key starting with PREFIX (as `keys list` shows it)."""
    record = _key_admin(client, config, dsn).revoke(prefix)
    click.echo(f"revoked {record.prefix}… of project {record.project}")
