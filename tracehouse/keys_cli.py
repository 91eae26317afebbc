"""Key administration for the CLI: straight to the store when this process may open it, else through the running
server's admin API (an embedded store belongs to the one process that opened it)."""

from __future__ import annotations

from typing import Any

import httpx

from tracehouse.collector.auth import KeyRing
from tracehouse.collector.store import DSN, Store, StoreError
from tracehouse.settings import Settings


class KeyAdminError(RuntimeError):
    """A key operation the store or the server refused; the message is the one line the CLI prints."""


class _Direct:
    def __init__(self, store: Store) -> None:
        self.keyring = KeyRing(store)

    def create(self, project: str, name: str) -> dict[str, Any]:
        from tracehouse.admin import record_json

        try:
            key, record = self.keyring.create(project, name)
        except ValueError as exc:
            raise KeyAdminError(str(exc)) from None
        return {"key": key, **record_json(record)}

    def list(self) -> list[dict[str, Any]]:
        from tracehouse.admin import record_json

        return [record_json(r) for r in self.keyring.list()]

    def revoke(self, prefix: str) -> dict[str, Any]:
        from tracehouse.admin import record_json

        try:
            return record_json(self.keyring.revoke(prefix))
        except KeyError as exc:
            raise KeyAdminError(str(exc.args[0])) from None


class _OverHttp:
    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(base_url=url, headers={"x-tracehouse-admin": token}, timeout=10)

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


def key_admin(settings: Settings) -> Any:
    from tracehouse.cli import fail
    from tracehouse.server import ADMIN_TOKEN_FILE

    dsn = DSN.parse(settings.store_dsn)
    token_file = settings.data_dir / ADMIN_TOKEN_FILE
    if dsn.embedded and token_file.exists():
        url = f"http://{settings.host}:{settings.port}"
        try:
            httpx.get(f"{url}/healthz", timeout=2).raise_for_status()
            return _Guarded(_OverHttp(url, token_file.read_text().strip()))
        except httpx.HTTPError:
            pass  # no server there: open the store ourselves
    try:
        store = Store(dsn)
        store.migrate(settings.retention_days)
    except StoreError as exc:
        fail(f"{exc} (if a server owns this store, pass the same --data-dir and the server's --port)", 1)
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
