"""Stripe's Financial Connections API over the bank-data providers (issue 20).

``/v1/financial_connections/sessions`` (create, retrieve, and Strongbox's ``complete`` with
the link flow's public token), ``/v1/financial_connections/accounts`` (list, retrieve,
``refresh``, ``disconnect``, Strongbox's ``balance_check``), ``/v1/financial_connections/
transactions`` (list). The providers' webhooks: ``bank_webhooks.py``. Provider calls happen
between two transactions, never in one.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import Caller, authenticate, params_of
from strongbox.api.idempotent_calls import run_idempotent
from strongbox.api.responses import dumps, json_response
from strongbox.api.routers.common import (
    body_doc,
    created_of,
    page_of,
    query_doc,
    write_request,
)
from strongbox.api.security import accepts_publishable_key
from strongbox.banking import listing, refresh, service
from strongbox.banking import repository as repo
from strongbox.banking.providers.base import (
    BankProvider,
    LinkRequest,
    LoginRequired,
    ProviderError,
    ProviderRejected,
    RateLimited,
)
from strongbox.banking.providers.registry import Banking
from strongbox.banking.schemas import (
    BalanceCheckParams,
    CompleteSessionParams,
    CreateSessionParams,
    ListAccountsParams,
    ListTransactionsParams,
    RefreshParams,
    RetrieveParams,
    RetrieveSessionParams,
    render_account,
    render_session,
    render_transaction,
)
from strongbox.core.errors import (
    GatewayError,
    InvalidRequestError,
    RateLimitError,
    ResourceMissingError,
    StrongboxError,
)
from strongbox.core.money import parse_currency
from strongbox.core.params import validate_params
from strongbox.core.secret import Secret
from strongbox.events.types import RequestContext
from strongbox.payments.schemas import check_expand, render_list

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/financial_connections", tags=["financial connections"])
NO_EXPAND: frozenset[str] = frozenset()
ACCOUNTS = frozenset({"accounts"})
GONE_AT_PROVIDER = frozenset({"ITEM_NOT_FOUND", "INVALID_ACCESS_TOKEN"})
T = TypeVar("T")


def _banking(caller: Caller) -> Banking:
    b = caller.runtime.banking
    if b is None:
        raise InvalidRequestError(
            "Financial Connections is not configured on this server (no bank-data provider).",
            code="provider_not_configured",
        )
    return b


def _api_error(exc: ProviderError) -> StrongboxError:
    """A provider's failure as a Stripe-shaped error: never a 500, never the token."""
    if isinstance(exc, RateLimited):
        return RateLimitError("The bank-data provider is rate limiting; retry later.")
    if isinstance(exc, LoginRequired):
        return InvalidRequestError(
            "The bank login needs the user again: open the link flow once more.",
            code="bank_login_required",
        )
    if isinstance(exc, ProviderRejected):
        return InvalidRequestError(
            f"The bank-data provider refused the request ({exc.code}).",
            code="bank_provider_refused",
        )
    return GatewayError(
        f"The bank-data provider is unavailable ({exc.code}).", code="bank_provider_unavailable"
    )


def _provider_call(fn: Callable[[], T]) -> T:
    """A provider call whose failure is answered as a Stripe-shaped error."""
    try:
        return fn()
    except ProviderError as exc:
        raise _api_error(exc) from None


def _forget(provider: BankProvider, token: Secret[str]) -> None:
    try:
        provider.remove_item(token)
    except ProviderError as exc:  # best effort: the provider may expire it on its own
        log.warning("could not remove an unlinked %s item: %s", provider.name, exc.code)


def _ok(body: dict[str, Any]) -> Response:
    return json_response(200, dumps(body))


# ---------------------------------------------------------------- sessions


@router.post("/sessions", summary="Create a session", openapi_extra=body_doc(CreateSessionParams))
def create_session(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(CreateSessionParams, params)
    check_expand(p.expand, ACCOUNTS)
    _banking(caller)
    return run_idempotent(
        caller, write_request(request, params), lambda ctx: _create_session(caller, ctx, p)
    )


def _create_session(caller: Caller, ctx: RequestContext, p: CreateSessionParams) -> dict[str, Any]:
    banking = _banking(caller)
    rt = caller.runtime
    relink: tuple[str, str] | None = None  # the item's id and provider
    token = None
    if p.relink_account:
        with rt.db.reader() as uow:
            a = service.require_account(uow, ctx, p.relink_account, "relink_account")
            if a.status == "disconnected":
                raise InvalidRequestError(
                    "This account was disconnected; link it with a new session.",
                    code="account_disconnected",
                    param="relink_account",
                )
            item = service.require_item(uow, a.merchant_id, a.item_id)
            token = service.access_token(banking.sealer, item)
            relink = (item.id, item.provider)
    provider = banking.provider(relink[1] if relink else p.provider)
    products = ["transactions"] if "transactions" in p.permissions else []
    if "payment_method" in p.permissions:
        products.append("auth")
    if "ownership" in p.permissions:
        products.append("identity")
    link = _provider_call(
        lambda: provider.create_link_token(
            LinkRequest(
                client_user_id=service.client_user_id(
                    p.account_holder.model_dump(exclude_none=True), ctx.merchant_id
                ),
                products=tuple(products or ["auth"]),
                webhook_url=banking.webhook_url(provider.name),
                access_token=token,
                redirect_uri=None,
            )
        )
    )
    with rt.db.unit_of_work() as uow:
        s = service.create_session(uow, ctx, p, link, relink)
        body = render_session(s, [], ctx.livemode)
        uow.commit()
    return body


@router.get(
    "/sessions/{session_id}",
    summary="Retrieve a session (with a publishable key: by its client_secret)",
    openapi_extra=query_doc(RetrieveSessionParams),
)
@accepts_publishable_key
def retrieve_session(
    session_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    """A publishable key (a browser) reads a session only with its ``client_secret``; a wrong
    one is 404, as for a session that does not exist."""
    caller = authenticate(request, allow_publishable=True)
    p = validate_params(RetrieveSessionParams, params)
    check_expand(p.expand, ACCOUNTS)
    if caller.auth.kind != "secret" and p.client_secret is None:
        raise InvalidRequestError(
            "A publishable key reads a session with its client_secret.",
            param="client_secret",
            code="parameter_missing",
        )
    with caller.runtime.db.reader() as uow:
        s = service.require_session(uow, caller.ctx, session_id)
        if p.client_secret is not None and not hmac.compare_digest(
            p.client_secret.encode(), s.client_secret.encode()
        ):
            raise ResourceMissingError(
                f"No such financial_connections.session: '{session_id}'", param="client_secret"
            )
        accounts = _session_accounts(uow, s)
        return _ok(render_session(s, accounts, caller.ctx.livemode))


def _session_accounts(uow: Any, s: Any) -> list[Any]:
    if s.relink_item_id:
        return repo.accounts_of_item(uow.session, s.merchant_id, s.relink_item_id)
    return repo.accounts_of_session(uow.session, s.merchant_id, s.id)


@router.post(
    "/sessions/{session_id}/complete",
    summary="Complete a session with the link flow's public token (Strongbox)",
    openapi_extra=body_doc(CompleteSessionParams),
)
def complete_session(
    session_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(CompleteSessionParams, params)
    check_expand(p.expand, ACCOUNTS)
    _banking(caller)
    return run_idempotent(
        caller,
        write_request(request, params),
        lambda ctx: _complete_session(caller, ctx, session_id, p),
    )


def _complete_session(
    caller: Caller, ctx: RequestContext, session_id: str, p: CompleteSessionParams
) -> dict[str, Any]:
    banking = _banking(caller)
    rt = caller.runtime
    with rt.db.reader() as uow:
        s = service.require_session(uow, ctx, session_id)
        if p.public_token and service.completed_by(s, Secret(p.public_token)):
            return render_session(s, _session_accounts(uow, s), ctx.livemode)
        service.check_pending(s)
        relink, perms, prefetch, name = s.relink_item_id, s.permissions, s.prefetch, s.provider
        user = service.client_user_id(s.account_holder, s.merchant_id)
    if relink:
        with rt.db.unit_of_work() as uow:
            s = service.require_session(uow, ctx, session_id, lock=True)
            accounts = service.complete_relink(uow, ctx, s)
            body = render_session(s, accounts, ctx.livemode)
            uow.commit()
        return body
    if not p.public_token:
        raise InvalidRequestError(
            "Missing required param: public_token.", param="public_token", code="parameter_missing"
        )
    provider = banking.provider(name)
    public = Secret(p.public_token)
    exchanged = _provider_call(lambda: provider.exchange_public_token(public, user))
    token = exchanged.access_token
    try:
        fetched = (
            provider.get_balances(token) if "balance" in prefetch else provider.get_accounts(token)
        )
        numbers = provider.get_account_numbers(token) if "payment_method" in perms else []
        owners = (
            provider.get_owners(token) if "ownership" in perms and "ownership" in prefetch else []
        )
        with rt.db.unit_of_work() as uow:
            s = service.require_session(uow, ctx, session_id, lock=True)
            rows = service.record_link(
                uow,
                ctx,
                banking.sealer,
                s,
                exchanged,
                public,
                exchanged.institution_name or provider.name.title(),
                fetched,
                numbers,
                owners,
            )
            body = render_session(s, rows, ctx.livemode)
            uow.commit()
    except Exception as exc:
        # Nothing was linked here: the item is removed at the provider too, so that no
        # login stays open there that Strongbox holds no token for.
        _forget(provider, token)
        if isinstance(exc, ProviderError):
            raise _api_error(exc) from None
        raise
    return body


# ---------------------------------------------------------------- accounts


@router.get("/accounts", summary="List accounts", openapi_extra=query_doc(ListAccountsParams))
def list_accounts(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListAccountsParams, params)
    check_expand([e.removeprefix("data.") for e in p.expand or []], NO_EXPAND)
    holder = p.account_holder
    with caller.runtime.db.reader() as uow:
        page = repo.list_accounts(
            uow.session,
            caller.ctx.merchant_id,
            page_of(p),
            session_id=p.session,
            customer=holder.customer if holder else None,
            account=holder.account if holder else None,
            created=created_of(p),
        )
        data = [render_account(a, caller.ctx.livemode) for a in page.data]
    return _ok(render_list("/v1/financial_connections/accounts", data, page.has_more))


@router.get("/accounts/{account_id}", summary="Retrieve an account")
def retrieve_account(
    account_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RetrieveParams, params)
    check_expand(p.expand, NO_EXPAND)
    with caller.runtime.db.reader() as uow:
        a = service.require_account(uow, caller.ctx, account_id, "account")
        return _ok(render_account(a, caller.ctx.livemode))


@router.post(
    "/accounts/{account_id}/refresh",
    summary="Refresh an account's balance, ownership or transactions",
    openapi_extra=body_doc(RefreshParams),
)
def refresh_account(
    account_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RefreshParams, params)
    check_expand(p.expand, NO_EXPAND)
    _banking(caller)
    return run_idempotent(
        caller, write_request(request, params), lambda ctx: _refresh(caller, ctx, account_id, p)
    )


def _refresh(
    caller: Caller, ctx: RequestContext, account_id: str, p: RefreshParams
) -> dict[str, Any]:
    _banking(caller)
    with caller.runtime.db.unit_of_work() as uow:
        a = service.require_account(uow, ctx, account_id, "account")
        refresh.request_refresh(uow, ctx, a, sorted(set(p.features)))
        body = render_account(a, ctx.livemode)
        uow.commit()
    return body


@router.post(
    "/accounts/{account_id}/balance_check",
    summary="Check, with a fresh balance, that an account covers a debit (Strongbox)",
    openapi_extra=body_doc(BalanceCheckParams),
)
def balance_check(
    account_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    """The balance is read from the provider now (and stored, with its event); a balance
    below ``amount`` is 402 ``insufficient_funds``, so no debit is sent."""
    caller = authenticate(request)
    p = validate_params(BalanceCheckParams, params)
    check_expand(p.expand, NO_EXPAND)
    currency = parse_currency(p.currency).code.lower()
    if p.amount <= 0:
        raise InvalidRequestError(
            "amount must be a positive integer.", param="amount", code="parameter_invalid_integer"
        )
    _banking(caller)
    return run_idempotent(
        caller,
        write_request(request, params),
        lambda ctx: _balance_check(caller, ctx, account_id, p.amount, currency),
    )


def _balance_check(
    caller: Caller, ctx: RequestContext, account_id: str, amount: int, currency: str
) -> dict[str, Any]:
    banking = _banking(caller)
    with caller.runtime.db.reader() as uow:
        refresh.check_refreshable(service.require_account(uow, ctx, account_id), ["balance"])
    _provider_call(
        lambda: refresh.refresh_now(
            caller.runtime.db,
            banking,
            ctx,
            ctx.merchant_id,
            account_id,
            ["balance"],
        )
    )
    with caller.runtime.db.reader() as uow:
        a = service.require_account(uow, ctx, account_id, "account")
        if a.status != "active" or (a.balance_refresh or {}).get("status") != "succeeded":
            raise InvalidRequestError(
                "The account's balance could not be read now; no debit should be sent.",
                code="balance_unavailable",
                param="account",
            )
        return service.funds_check(a, amount, currency)


@router.post(
    "/accounts/{account_id}/disconnect",
    summary="Disconnect an account",
    openapi_extra=body_doc(RetrieveParams),
)
def disconnect_account(
    account_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RetrieveParams, params)
    check_expand(p.expand, NO_EXPAND)
    _banking(caller)
    return run_idempotent(
        caller, write_request(request, params), lambda ctx: _disconnect(caller, ctx, account_id)
    )


def _disconnect(caller: Caller, ctx: RequestContext, account_id: str) -> dict[str, Any]:
    banking = _banking(caller)
    rt = caller.runtime
    with rt.db.unit_of_work() as uow:
        a = service.require_account(uow, ctx, account_id, "account")
        # The item first, held: the last of two disconnects racing sees the other one done.
        item = service.require_item(uow, a.merchant_id, a.item_id, lock=True)
        last = service.disconnect(uow, ctx, a)
        token = (
            service.access_token(banking.sealer, item)
            if last and item.access_token_sealed
            else None
        )
        merchant_id, item_id, name = item.merchant_id, item.id, item.provider
        uow.commit()
    if token is not None:
        # The last account: the item is removed at the provider, then its token destroyed.
        # A failure leaves the token for a retry of disconnect (the account stays disconnected).
        provider = banking.provider(name)
        try:
            provider.remove_item(token)
        except ProviderError as exc:
            if exc.code not in GONE_AT_PROVIDER:
                raise _api_error(exc) from None
            # the provider no longer knows the item: nothing is left to remove there
        with rt.db.unit_of_work() as uow:
            service.destroy_token(
                uow, ctx, service.require_item(uow, merchant_id, item_id, lock=True)
            )
            uow.commit()
    with rt.db.reader() as uow:
        return render_account(service.require_account(uow, ctx, account_id), ctx.livemode)


# ---------------------------------------------------------------- transactions


@router.get(
    "/transactions",
    summary="List an account's transactions",
    openapi_extra=query_doc(ListTransactionsParams),
)
def list_transactions(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListTransactionsParams, params)
    check_expand([e.removeprefix("data.") for e in p.expand or []], NO_EXPAND)
    with caller.runtime.db.reader() as uow:
        a = service.require_account(uow, caller.ctx, p.account, "account")
        after = p.transaction_refresh.after if p.transaction_refresh else None
        page = repo.list_transactions(
            uow.session,
            caller.ctx.merchant_id,
            a.id,
            page_of(p),
            transacted=listing.transacted_days(p.transacted_at),
            updated_after=listing.refreshed_after(uow, a, after),
            created=created_of(p),
        )
        data = [render_transaction(t, caller.ctx.livemode) for t in page.data]
    return _ok(render_list("/v1/financial_connections/transactions", data, page.has_more))
