"""``GET /healthz/keys``: key cryptoperiods, for monitoring (no key material, no counts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from strongbox.api.context import get_runtime
from strongbox.api.responses import dumps, json_response
from strongbox.api.security import public_route

router = APIRouter(tags=["operations"])


@router.get("/healthz/keys", summary="Vault keys past their cryptoperiod")
@public_route  # versions and ages only: no key material, no counts
def keys_health(request: Request) -> Response:
    rt = get_runtime(request)
    with rt.db.read() as session:
        infos = rt.vault.keys.list_keys(session, rt.db.clock.now())
    overdue = [
        {"kind": i.kind, "version": i.version, "age_days": i.age_days} for i in infos if i.overdue
    ]
    body: dict[str, Any] = {
        "status": "overdue" if overdue else "ok",
        "provider": rt.vault.provider.name,
        "cryptoperiod_days": rt.settings.key_cryptoperiod_days,
        "overdue": overdue,
        "active": [
            {"kind": i.kind, "version": i.version, "age_days": i.age_days}
            for i in infos
            if i.status == "active"
        ],
    }
    return json_response(200, dumps(body))
