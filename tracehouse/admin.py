"""Key administration over HTTP, for the CLI while the server owns the embedded store.

Guarded by a token the server writes at each start, with its own URL, into `<data-dir>/admin` (JSON, mode 0600):
whoever can read the data directory may manage keys, exactly as whoever could open the store files could. The CLI
sends the token only to that URL, and only after the process answering there has proved it knows the token
(`GET /api/admin/proof`: an HMAC of a fresh challenge), so a process that took the port of a dead server never
sees it. The file is removed when the server stops.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from pydantic import BaseModel, Field

from tracehouse.store.keys import KeyRecord, KeyRing
from tracehouse.web.deps import get_keyring

ADMIN_HEADER = "x-tracehouse-admin"
ADMIN_FILE = "admin"

router = APIRouter(prefix="/api/admin", tags=["admin"], include_in_schema=False)


def write_secret(path: Path, text: str) -> None:
    """Write `text` to a file only its owner can read (created 0600, never world-readable even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


@dataclass(frozen=True)
class AdminEndpoint:
    """Where the running server takes admin calls, and the token it takes."""

    url: str
    token: str


def loopback_url(host: str, port: int) -> str:
    """The URL a local CLI reaches a server listening on `host` at: a wildcard address means this machine."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def write_admin_file(data_dir: Path, endpoint: AdminEndpoint) -> None:
    write_secret(data_dir / ADMIN_FILE, json.dumps({"url": endpoint.url, "token": endpoint.token}))


def read_admin_file(data_dir: Path) -> AdminEndpoint | None:
    """The endpoint a running (or killed) server left, or None when there is no readable file."""
    try:
        raw = json.loads((data_dir / ADMIN_FILE).read_text())
        return AdminEndpoint(url=str(raw["url"]), token=str(raw["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_admin_file(data_dir: Path, token: str) -> None:
    """Remove the file if it is still this server's (a newer server on the same data dir keeps its own)."""
    current = read_admin_file(data_dir)
    if current is not None and hmac.compare_digest(current.token, token):
        (data_dir / ADMIN_FILE).unlink(missing_ok=True)


def proof(token: str, challenge: str) -> str:
    """What only the holder of `token` can answer to `challenge`."""
    return hmac.new(token.encode(), b"tracehouse-admin-proof:" + challenge.encode(), hashlib.sha256).hexdigest()


def require_admin(request: Request, x_tracehouse_admin: Annotated[str | None, Header()] = None) -> None:
    expected: str = getattr(request.app.state, "admin_token", "")
    if not expected or not x_tracehouse_admin or not hmac.compare_digest(expected, x_tracehouse_admin):
        raise HTTPException(status_code=403, detail=f"admin token required (see <data-dir>/{ADMIN_FILE})")


class Proof(BaseModel):
    """The HMAC of the challenge under the admin token."""

    proof: str


@router.get("/proof", response_model=Proof)
def admin_proof(request: Request, challenge: Annotated[str, Query(min_length=16, max_length=128)]) -> dict[str, str]:
    """Proves to the CLI that this is the server that wrote `<data-dir>/admin`, without revealing the token."""
    expected: str = getattr(request.app.state, "admin_token", "")
    if not expected:
        raise HTTPException(status_code=404, detail="key administration is not available here")
    return {"proof": proof(expected, challenge)}


Admin = Annotated[None, Depends(require_admin)]
KeyRingDep = Annotated[KeyRing, Depends(get_keyring)]


class NewKey(BaseModel):
    """A key to create: the project it opens, and a name to tell it by."""

    project: str = Field(min_length=1, max_length=64)
    name: str = Field("", max_length=200)


class KeyOut(BaseModel):
    """An API key as listed: its prefix (never the key), project, name, creation time and whether it is revoked."""

    prefix: str
    project: str
    name: str
    created_at: str
    revoked: bool


class Keys(BaseModel):
    """Every key of every project."""

    keys: list[KeyOut]


class CreatedKey(KeyOut):
    """A key just created: the only answer that carries the key itself."""

    key: str


def record_json(record: KeyRecord) -> dict[str, Any]:
    return {
        "prefix": record.prefix,
        "project": record.project_id,
        "name": record.name,
        "created_at": record.created_at.isoformat(),
        "revoked": record.revoked,
    }


@router.get("/keys", response_model=Keys)
def list_keys(_: Admin, keyring: KeyRingDep) -> dict[str, Any]:
    """Every key (prefixes, never the keys)."""
    return {"keys": [record_json(r) for r in keyring.list()]}


@router.post("/keys", status_code=201, response_model=CreatedKey)
def create_key(body: NewKey, _: Admin, keyring: KeyRingDep) -> dict[str, Any]:
    """A new key for the project: shown in this answer only."""
    try:
        key, record = keyring.create(body.project, body.name)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    return {"key": key, **record_json(record)}


@router.delete("/keys/{prefix}", response_model=KeyOut)
def revoke_key(prefix: str, _: Admin, keyring: KeyRingDep) -> dict[str, Any]:
    """Revoke the key with this prefix; answers its record."""
    try:
        return record_json(keyring.revoke(prefix))
    except KeyError as exc:
        raise HTTPException(status_code=404, detail=str(exc.args[0])) from None
