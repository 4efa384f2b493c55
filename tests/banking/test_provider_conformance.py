"""One conformance suite both bank-data providers pass, each against its fake over HTTP:
the contract in ``strongbox.banking.providers.base``, exercised the same way for Plaid
(plaid-python) and Yodlee (httpx)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest

from banking.fakes import plaid_fake as pf
from banking.fakes import yodlee_fake as yf
from strongbox.banking.providers.base import (
    BankProvider,
    LinkRequest,
    LoginRequired,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
)
from strongbox.banking.providers.plaid import PlaidProvider
from strongbox.banking.providers.yodlee import YodleeProvider
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.core.secret import Secret


class Kit(Protocol):
    provider: BankProvider

    def link(self, link_token: str) -> str: ...
    def add(self, item_id: str, tid: str, cents: int, pending: bool) -> None: ...
    def break_login(self, item_id: str) -> None: ...
    def rate_limit(self) -> None: ...
    def fail(self) -> None: ...


@dataclass
class PlaidKit:
    provider: PlaidProvider
    fake: pf.PlaidFake

    def link(self, link_token: str) -> str:
        return self.fake.fake_link_login(link_token, "user_good", "pass_good")

    def add(self, item_id: str, tid: str, cents: int, pending: bool) -> None:
        item = self.fake.items[item_id]
        self.fake.add_transactions(
            item_id,
            [
                {
                    "transaction_id": tid,
                    "amount": -cents / 100,
                    "account_id": item.accounts[0]["account_id"],
                    "pending": pending,
                }
            ],
        )

    def break_login(self, item_id: str) -> None:
        self.fake.items[item_id].login_required = True

    def rate_limit(self) -> None:
        self.fake.rate_limit(1)

    def fail(self) -> None:
        self.fake.fail(1)


@dataclass
class YodleeKit:
    provider: YodleeProvider
    fake: yf.YodleeFake

    def link(self, link_token: str) -> str:
        return self.fake.fake_fastlink(link_token, "user_good", "pass_good")

    def add(self, item_id: str, tid: str, cents: int, pending: bool) -> None:
        pa = self.fake.provider_accounts[int(item_id)]
        pa.transactions.append(
            self.fake.txn(
                pa.accounts[0]["id"],
                tid,
                abs(cents) / 100,
                "CREDIT" if cents > 0 else "DEBIT",
                "Added",
                "PENDING" if pending else "POSTED",
            )
        )

    def break_login(self, item_id: str) -> None:
        self.fake.login_required(int(item_id))

    def rate_limit(self) -> None:
        self.fake.rate_limit(1)

    def fail(self) -> None:
        self.fake.fail(1)


@pytest.fixture(params=["plaid", "yodlee"])
def kit(request: pytest.FixtureRequest) -> Iterator[Kit]:
    if request.param == "plaid":
        fake: Any = pf.PlaidFake()
    else:
        fake = yf.YodleeFake()
    with BackgroundServer(SimulatorEngine(), app=fake.app, set_base_url=False) as server:
        if request.param == "plaid":
            p = PlaidProvider(server.url, pf.CLIENT_ID, Secret(pf.SECRET), read_timeout=10)
            yield PlaidKit(p, fake)
        else:
            y = YodleeProvider(
                server.url, yf.CLIENT_ID, Secret(yf.SECRET), yf.ADMIN, read_timeout=10
            )
            yield YodleeKit(y, fake)
        kit_provider = p if request.param == "plaid" else y
        kit_provider.close()


def _linked(kit: Kit, user: str = "cus_conformance") -> tuple[Secret[str], str]:
    link = kit.provider.create_link_token(
        LinkRequest(client_user_id=user, products=("transactions",), webhook_url=None)
    )
    assert link.token
    assert link.expires_at is None or link.expires_at > datetime.now(UTC)
    public = kit.link(link.token)
    ex = kit.provider.exchange_public_token(Secret(public), user)
    assert ex.item_id
    assert ex.institution_name  # the bank's name, for display
    assert ex.access_token.reveal() not in repr(ex)
    return ex.access_token, ex.item_id


def test_accounts_and_balances_in_minor_units(kit: Kit) -> None:
    token, _ = _linked(kit)
    accounts = kit.provider.get_accounts(token)
    assert [a.last4 for a in accounts] == ["0000", "1111"]
    assert {a.category for a in accounts} == {"cash"}
    balances = kit.provider.get_balances(token)
    for b in (a.balance for a in balances):
        assert b is not None
        assert b.currency == "usd"
        assert isinstance(b.current, int)
        assert isinstance(b.available, int)
        assert b.as_of.tzinfo is not None
    first = balances[0].balance
    assert first is not None
    assert (first.available, first.current) in ((10000, 11000),)


def test_account_numbers_and_owners(kit: Kit) -> None:
    token, _ = _linked(kit)
    numbers = kit.provider.get_account_numbers(token)
    assert len(numbers) == 2
    for n in numbers:
        assert len(n.routing.reveal()) == 9
        assert n.account.reveal()[-4:] in ("0000", "1111")
        assert n.account.reveal() not in repr(n)
    owners = kit.provider.get_owners(token)
    assert all(o.names for o in owners)


def test_sync_pages_then_nothing_new_then_changes(kit: Kit) -> None:
    token, item = _linked(kit)
    page = kit.provider.sync_transactions(token, "")
    got = {t.provider_transaction_id: t for t in page.added}
    cursor = page.next_cursor
    while page.has_more:
        page = kit.provider.sync_transactions(token, cursor)
        got.update({t.provider_transaction_id: t for t in page.added})
        cursor = page.next_cursor
    assert sorted(t.amount for t in got.values()) == [-8940, -1250, 50000]
    assert {t.currency for t in got.values()} == {"usd"}
    kit.add(item, "77001", -4321, True)
    later = kit.provider.sync_transactions(token, cursor)
    new = {t.provider_transaction_id: t for t in (*later.added, *later.modified)}
    added = new["77001"]
    assert (added.amount, added.status) == (-4321, "pending")


def test_login_required(kit: Kit) -> None:
    token, item = _linked(kit)
    kit.break_login(item)
    with pytest.raises(LoginRequired):
        kit.provider.sync_transactions(token, "")


def test_rate_limits_and_outages_are_retryable(kit: Kit) -> None:
    token, _ = _linked(kit)
    kit.rate_limit()
    with pytest.raises(RateLimited) as rl:
        kit.provider.get_accounts(token)
    assert rl.value.retryable
    kit.fail()
    with pytest.raises(ProviderUnavailable) as down:
        kit.provider.get_accounts(token)
    assert down.value.retryable
    assert kit.provider.get_accounts(token)  # and then it works


def test_a_bad_public_token_is_refused(kit: Kit) -> None:
    with pytest.raises(ProviderRejected) as err:
        kit.provider.exchange_public_token(Secret("999"), "cus_conformance")
    assert not err.value.retryable


def test_removed_items_are_gone(kit: Kit) -> None:
    token, _ = _linked(kit)
    kit.provider.remove_item(token)
    with pytest.raises(ProviderRejected) as err:
        kit.provider.get_accounts(token)
    assert token.reveal() not in str(err.value)


# ---------------------------------------------------------------- Yodlee's tokens


class MovableClock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at


def test_yodlee_tokens_are_refreshed_before_they_expire_not_on_every_call() -> None:
    fake = yf.YodleeFake()
    clock = MovableClock()
    fake.now = lambda: clock.at.timestamp()
    with BackgroundServer(SimulatorEngine(), app=fake.app, set_base_url=False) as server:
        y = YodleeProvider(server.url, yf.CLIENT_ID, Secret(yf.SECRET), yf.ADMIN, clock=clock)
        try:
            kit = YodleeKit(y, fake)
            token, _ = _linked(kit, "cus_tokens")
            fetched = y.token_fetches
            for _ in range(5):
                y.get_accounts(token)
            assert y.token_fetches == fetched  # cached
            clock.at += timedelta(seconds=yf.TOKEN_SECONDS - 200)  # still 200 s to go
            y.get_accounts(token)
            assert y.token_fetches == fetched
            clock.at += timedelta(seconds=100)  # within the refresh margin: a new one, once
            y.get_accounts(token)
            y.get_accounts(token)
            assert y.token_fetches == fetched + 1
            assert fake.calls["POST /auth"] == y.token_fetches
            # A token Yodlee revoked early: dropped and fetched again, once.
            fake.tokens.clear()
            assert y.get_accounts(token)
            assert y.token_fetches == fetched + 2
        finally:
            y.close()
