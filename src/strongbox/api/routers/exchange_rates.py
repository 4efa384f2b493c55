"""``/v1/exchange_rates``: Stripe's former Exchange Rates API, from the loaded ECB rates.

An exchange rate object is one base currency's rates: ``{"id": "usd", "object":
"exchange_rate", "rates": {"eur": 0.9233610341643582, …}}`` (units of each currency per 1
unit of ``id``, as numbers, the shape Stripe's clients parse), plus ``date`` and ``source``.
The list is ordered by currency and paginated with ``starting_after``/``ending_before`` over
the ids. Rates come from the cache or the database, never from the ECB on a request.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import authenticate, params_of
from strongbox.api.responses import dumps, json_response
from strongbox.core.errors import ResourceMissingError
from strongbox.core.params import ListParams, validate_params
from strongbox.fx import service as fx
from strongbox.fx.ecb import RateSet
from strongbox.payments.schemas import RetrieveParams, render_list

router = APIRouter(prefix="/v1/exchange_rates", tags=["exchange_rates"])


def _render(rs: RateSet, base: str) -> dict[str, Any]:
    return {
        "id": base,
        "object": "exchange_rate",
        "rates": {c: float(r) for c, r in fx.cross_rates(rs, base).items()},
        "date": rs.day.isoformat(),
        "source": rs.source,
    }


def _rates(request: Request) -> RateSet:
    caller = authenticate(request)
    with caller.runtime.db.reader() as uow:
        rs = fx.latest(uow.session, caller.runtime.fx)
    if rs is None:
        raise ResourceMissingError(
            "No exchange rates are loaded yet (see STRONGBOX_FX_ECB_URL, strongbox fx load).",
            code="exchange_rates_unavailable",
            status=404,
        )
    return rs


@router.get("", summary="List exchange rates (one object per base currency)")
def list_exchange_rates(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    p = validate_params(ListParams, params)
    rs = _rates(request)
    ids = sorted(rs.rates)
    cursor = p.starting_after or p.ending_before
    if cursor is not None and cursor not in ids:
        param = "starting_after" if p.starting_after else "ending_before"
        raise ResourceMissingError(f"No such exchange rate: '{cursor}'", param=param)
    if p.starting_after:
        window = ids[ids.index(p.starting_after) + 1 :]
        page, more = window[: p.limit], len(window) > p.limit
    elif p.ending_before:
        window = ids[: ids.index(p.ending_before)]
        page, more = window[-p.limit :], len(window) > p.limit
    else:
        page, more = ids[: p.limit], len(ids) > p.limit
    body = render_list("/v1/exchange_rates", [_render(rs, c) for c in page], more)
    return json_response(200, dumps(body))


@router.get("/{currency}", summary="Retrieve the exchange rates of one base currency")
def retrieve_exchange_rate(
    currency: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    validate_params(RetrieveParams, params)
    rs = _rates(request)
    return json_response(200, dumps(_render(rs, currency.lower())))
