"""Key administration for the CLI: straight to the store when this process may open it, else through the running
server's admin API (an embedded store belongs to the one process that opened it). The admin token goes only to
the URL the server wrote next to it in `<data-dir>/admin`, and only once the process there proved it is that server
(see `tracehouse/admin.py`)."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import httpx

from tracehouse.admin import ADMIN_FILE, ADMIN_HEADER, AdminEndpoint, proof, read_admin_file, record_json
from tracehouse.settings import Settings
from tracehouse.store import DSN, Store, StoreError
from tracehouse.store.keys import KeyRing


class KeyAdminError(RuntimeError):
    """A key operation the store or the server refused; the message is the one line the CLI prints."""


class _Direct:
    def __init__(self, store: Store) -> None:
        self.keyring = KeyRing(store)

    def create(self, project: str, name: str) -> dict[str, Any]:
        try:
            key, record = self.keyring.create(project, name)
        except ValueError as exc:
            raise KeyAdminError(str(exc)) from None
        return {"key": key, **record_json(record)}

    def list(self) -> list[dict[str, Any]]:
        return [record_json(r) for r in self.keyring.list()]

    def revoke(self, prefix: str) -> dict[str, Any]:
        try:
            return record_json(self.keyring.revoke(prefix))
        except KeyError as exc:
            raise KeyAdminError(str(exc.args[0])) from None


class _OverHttp:
    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(base_url=url, headers={ADMIN_HEADER: token}, timeout=10)

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        response = self.client.request(method, path, **kw)
        if response.status_code >= 400:
            raise KeyAdminError(response.json().get("error", response.text))
        return response.json()

    def create(self, project: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/api/admin/keys", json={"project": project, "name": name})
        return result

    def list(self) -> list[dict[str, Any]]:
        keys: list[dict[str, Any]] = self._call("GET", "/api/admin/keys")["keys"]
        return keys

    def revoke(self, prefix: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/api/admin/keys/{prefix}")
        return result


def _server_at(endpoint: AdminEndpoint) -> bool:
    """True when the server that wrote the admin file answers at its URL; False when nothing listens there (a stale
    file: the server was killed). Anything else there is refused before the token is sent."""
    challenge = secrets.token_hex(16)
    try:
        response = httpx.get(f"{endpoint.url}/api/admin/proof", params={"challenge": challenge}, timeout=5)
    except httpx.TransportError:
        return False
    answer = response.json().get("proof", "") if response.status_code == 200 else ""
    if not isinstance(answer, str) or not hmac.compare_digest(answer, proof(endpoint.token, challenge)):
        raise KeyAdminError(
            f"the process at {endpoint.url} is not the server that wrote {ADMIN_FILE} in the data directory;"
            " the admin token was not sent"
        )
    return True


def key_admin(settings: Settings) -> Any:
    from tracehouse.cli import fail

    dsn = DSN.parse(settings.store_dsn, default_database=settings.database)
    endpoint = read_admin_file(settings.data_dir) if dsn.embedded else None
    if endpoint is not None:
        try:
            if _server_at(endpoint):
                return _Guarded(_OverHttp(endpoint.url, endpoint.token))
        except (KeyAdminError, ValueError) as exc:  # ValueError: an answer that is not JSON
            fail(str(exc) if isinstance(exc, KeyAdminError) else f"{endpoint.url} did not answer as tracehouse", 1)
    try:
        store = Store(dsn)
        store.migrate(settings.retention_days)
    except StoreError as exc:
        fail(f"{exc} (if a server owns this store, pass the same --data-dir)", 1)
    return _Guarded(_Direct(store))


class _Guarded:
    """Turns KeyAdminError into the CLI's one-line failure."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        from tracehouse.cli import fail

        method = getattr(self._inner, name)

        def call(*args: Any) -> Any:
            try:
                return method(*args)
            except (KeyAdminError, StoreError) as exc:
                fail(str(exc), 1)

        return call
