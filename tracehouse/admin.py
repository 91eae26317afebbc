"""Key administration over HTTP, for the CLI while the server owns the embedded store.

Guarded by a token the server writes (0600) into its data directory at each start: whoever can read the data
directory may manage keys, exactly as whoever could open the store files could.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import BaseModel, Field

from tracehouse.collector.auth import KeyRecord, KeyRing
from tracehouse.collector.deps import get_keyring

ADMIN_HEADER = "x-tracehouse-admin"

router = APIRouter(prefix="/api/admin", tags=["admin"], include_in_schema=False)


def require_admin(request: Request, x_tracehouse_admin: Annotated[str | None, Header()] = None) -> None:
    expected: str = getattr(request.app.state, "admin_token", "")
    if not expected or not x_tracehouse_admin or not hmac.compare_digest(expected, x_tracehouse_admin):
        raise HTTPException(status_code=403, detail="admin token required (see <data-dir>/admin-token)")


Admin = Annotated[None, Depends(require_admin)]
KeyRingDep = Annotated[KeyRing, Depends(get_keyring)]


class NewKey(BaseModel):
    project: str = Field(min_length=1, max_length=64)
    name: str = Field("", max_length=200)


def record_json(record: KeyRecord) -> dict[str, Any]:
    return {
        "prefix": record.prefix,
        "project": record.project_id,
        "name": record.name,
        "created_at": record.created_at.isoformat(),
        "revoked": record.revoked,
    }


@router.get("/keys")
def list_keys(_: Admin, keyring: KeyRingDep) -> dict[str, Any]:
    return {"keys": [record_json(r) for r in keyring.list()]}


@router.post("/keys", status_code=201)
def create_key(body: NewKey, _: Admin, keyring: KeyRingDep) -> dict[str, Any]:
    try:
        key, record = keyring.create(body.project, body.name)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    return {"key": key, **record_json(record)}


@router.delete("/keys/{prefix}")
def revoke_key(prefix: str, _: Admin, keyring: KeyRingDep) -> dict[str, Any]:
    try:
        return record_json(keyring.revoke(prefix))
    except KeyError as exc:
        raise HTTPException(status_code=404, detail=str(exc.args[0])) from None
