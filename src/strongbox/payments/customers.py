"""Customers: PII sealed per customer in the vault (crypto-shredded on delete), a blind index
for the email filter, and the default payment method."""

from __future__ import annotations

from typing import Any

from strongbox.core.errors import InvalidRequestError, ResourceMissingError
from strongbox.core.ids import new_id
from strongbox.db.pagination import Page, PageRequest
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.payments import payment_methods, store
from strongbox.payments import repository as repo
from strongbox.payments.common import address, diff, merge_metadata, require_customer
from strongbox.payments.deps import Payments
from strongbox.payments.models import PII_FIELDS, Customer, PaymentMethod
from strongbox.payments.schemas import CustomerParams, render_customer
from strongbox.vault.service import normalize_email


def create(deps: Payments, uow: UnitOfWork, ctx: RequestContext, p: CustomerParams) -> Customer:
    now = uow.clock.now()
    cust = Customer(
        id=new_id("customer"),
        merchant_id=ctx.merchant_id,
        description=p.description or None,
        metadata_=merge_metadata({}, p.metadata),
        default_payment_method=None,
        created=now,
        deleted_at=None,
    )
    uow.session.add(cust)
    _write_pii(
        deps,
        uow,
        cust,
        {
            "name": p.name or None,
            "email": p.email or None,
            "phone": p.phone or None,
            "address": address(p.address),
        },
    )
    uow.flush()
    if p.payment_method:
        pm = payment_methods.attach(uow, ctx, p.payment_method, cust.id)
        cust.default_payment_method = pm.id
    if p.invoice_settings and p.invoice_settings.default_payment_method:
        cust.default_payment_method = _customer_pm(uow, ctx, cust, p).id
    raise_event(
        uow, ctx, "customer.created", "customer", cust.id, render_customer(cust, ctx.livemode)
    )
    return cust


def _customer_pm(
    uow: UnitOfWork, ctx: RequestContext, cust: Customer, p: CustomerParams
) -> PaymentMethod:
    assert p.invoice_settings is not None
    assert p.invoice_settings.default_payment_method
    pm_id = p.invoice_settings.default_payment_method
    pm = store.get_payment_method(uow, ctx.merchant_id, pm_id)
    if pm is None or pm.customer_id != cust.id:
        raise InvalidRequestError(
            f"No such PaymentMethod: '{pm_id}'; it must be attached to this customer.",
            param="invoice_settings[default_payment_method]",
            code="resource_missing",
        )
    return pm


def retrieve(uow: UnitOfWork, ctx: RequestContext, customer_id: str) -> Customer:
    cust = repo.get_customer(uow.session, ctx.merchant_id, customer_id, include_deleted=True)
    if cust is None:
        raise ResourceMissingError(f"No such customer: '{customer_id}'", param="id")
    return cust


def update(
    deps: Payments, uow: UnitOfWork, ctx: RequestContext, customer_id: str, p: CustomerParams
) -> Customer:
    cust = require_customer(uow, ctx, customer_id, param="id")
    before = render_customer(cust, ctx.livemode)
    fields = p.model_fields_set
    if "description" in fields:
        cust.description = p.description or None
    pii = {k: cust.pii_data().get(k) for k in PII_FIELDS}
    for name in ("name", "email", "phone"):
        if name in fields:
            pii[name] = getattr(p, name) or None
    if "address" in fields:
        pii["address"] = address(p.address)
    if pii != {k: cust.pii_data().get(k) for k in PII_FIELDS}:
        _write_pii(deps, uow, cust, pii)
    if p.metadata is not None:
        cust.metadata_ = merge_metadata(dict(cust.metadata_ or {}), p.metadata)
    if p.invoice_settings is not None and "default_payment_method" in (
        p.invoice_settings.model_fields_set
    ):
        cust.default_payment_method = (
            _customer_pm(uow, ctx, cust, p).id
            if p.invoice_settings.default_payment_method
            else None
        )
    if p.payment_method:
        raise InvalidRequestError(
            "Received unknown parameter: payment_method",
            param="payment_method",
            code="parameter_unknown",
        )
    uow.flush()
    after = render_customer(cust, ctx.livemode)
    raise_event(
        uow, ctx, "customer.updated", "customer", cust.id, after, previous=diff(before, after)
    )
    return cust


def delete(deps: Payments, uow: UnitOfWork, ctx: RequestContext, customer_id: str) -> Customer:
    cust = require_customer(uow, ctx, customer_id, param="id")
    before = render_customer(cust, ctx.livemode)
    cust.deleted_at = uow.clock.now()
    # Crypto-shredding: the customer's PII key is destroyed; ledger and audit keep ids.
    deps.require_vault().shred_subject(uow, ctx, ctx.merchant_id, cust.id)
    cust.email_index = None
    uow.flush()
    raise_event(uow, ctx, "customer.deleted", "customer", cust.id, before)
    return cust


def list_(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    page: PageRequest,
    email: str | None,
    created: dict[str, int] | None,
) -> Page[Customer]:
    index = (
        deps.require_vault().blind_index(
            uow.session, ctx.merchant_id, "email", normalize_email(email)
        )
        if email is not None
        else None
    )
    return repo.list_customers(
        uow.session, ctx.merchant_id, page, email=email, email_index=index, created=created
    )


def _write_pii(deps: Payments, uow: UnitOfWork, cust: Customer, data: dict[str, Any]) -> None:
    vault = deps.require_vault()
    cust.pii = vault.seal_pii(uow, cust.merchant_id, cust.id, data)
    email = data.get("email")
    cust.email_index = (
        vault.blind_index(uow.session, cust.merchant_id, "email", normalize_email(email))
        if email
        else None
    )
    cust.legacy_name = cust.legacy_email = cust.legacy_phone = None
    cust.legacy_address = None
    cust.set_pii_cache(data)
