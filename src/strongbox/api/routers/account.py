"""``GET /v1/account``: the merchant's own account, as Stripe's SDKs retrieve it
(``stripe.Account.retrieve()``), with the settlement currency its payments convert into."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from strongbox.api.context import authenticate
from strongbox.api.routers.common import read_response
from strongbox.auth import account

router = APIRouter(prefix="/v1/account", tags=["account"])


@router.get("", summary="Retrieve your account")
def retrieve_account(request: Request) -> Response:
    caller = authenticate(request)
    merchant_id = caller.ctx.merchant_id
    return read_response(
        caller, lambda uow: account.render_account(account.get_merchant(uow.session, merchant_id))
    )
