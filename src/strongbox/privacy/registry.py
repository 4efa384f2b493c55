"""Where personal data lives: every table and column that may hold a data subject's data,
what kind it is, how the subject's rows are found and how erasure treats them.

``tests/privacy/test_registry.py`` reads every model and fails when a column whose name looks
personal (email, name, phone, address, billing, shipping, metadata, description, payload, ip,
details, data, holder, owner ...) is neither here nor in ``NOT_PERSONAL`` with a reason. The
export (``privacy/export.py``) and erasure (``privacy/erasure.py``) walk ``LOCATIONS``; the
test also checks that every location's table is one ``privacy/locate.py`` searches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Kind = Literal[
    "identity", "contact", "address", "payment", "free_text", "metadata", "payload", "reference"
]
# crypto_shred: encrypted under the subject's key, which erasure destroys.
# scrub: the value is replaced ("[erased]", {} or NULL) in place.
# pseudonymise: the row is kept (AML legal hold) with its personal values scrubbed; ids stay.
# keep: only ids and digests (pseudonyms); kept for integrity (audit log, ledger).
Erase = Literal["crypto_shred", "scrub", "pseudonymise", "keep", "delete"]


@dataclass(frozen=True, slots=True)
class Location:
    table: str
    column: str
    kind: Kind
    find: str  # how the subject's rows are found
    erase: Erase
    note: str = ""


LOCATIONS: Final[tuple[Location, ...]] = (
    Location(
        "customers",
        "pii",
        "identity",
        "customers.id",
        "crypto_shred",
        "name, email, phone, address sealed under the customer's own vault key",
    ),
    Location(
        "customers",
        "email_index",
        "contact",
        "customers.id or the email's blind index",
        "scrub",
        "keyed HMAC of the email; cleared so the subject cannot be found by email",
    ),
    Location("customers", "name", "identity", "customers.id", "scrub", "legacy plaintext"),
    Location("customers", "email", "contact", "customers.id or email", "scrub", "legacy plaintext"),
    Location("customers", "phone", "contact", "customers.id", "scrub", "legacy plaintext"),
    Location("customers", "address", "address", "customers.id", "scrub", "legacy plaintext"),
    Location("customers", "description", "free_text", "customers.id", "scrub"),
    Location("customers", "metadata", "metadata", "customers.id", "scrub"),
    Location(
        "vault_subject_keys",
        "wrapped_key",
        "reference",
        "subject_id = customers.id",
        "crypto_shred",
        "destroying it makes customers.pii unreadable",
    ),
    Location(
        "payment_methods",
        "billing_details",
        "address",
        "customer_id, or billing_details.email",
        "pseudonymise",
    ),
    Location("payment_methods", "metadata", "metadata", "customer_id", "scrub"),
    Location(
        "payment_methods",
        "bank_account",
        "payment",
        "customer_id",
        "pseudonymise",
        "bank name and last4; the account numbers stay sealed on the linked account",
    ),
    Location(
        "vault_cards",
        "ciphertext",
        "payment",
        "payment_method_id",
        "delete",
        "the PAN; exported masked (brand, last4, expiry) only",
    ),
    Location("vault_cvcs", "ciphertext", "payment", "payment_method_id", "delete"),
    Location(
        "payment_intents",
        "receipt_email",
        "contact",
        "customer_id, payment_method_id, or receipt_email",
        "pseudonymise",
        "AML: the payment is kept 5 years, without the email",
    ),
    Location("payment_intents", "description", "free_text", "as above", "pseudonymise"),
    Location("payment_intents", "metadata", "metadata", "as above", "pseudonymise"),
    Location("refunds", "metadata", "metadata", "payment_intent_id", "pseudonymise"),
    Location(
        "events",
        "data",
        "payload",
        "resource_id in the subject's ids",
        "scrub",
        "the copy webhooks deliver (webhook_deliveries reference it by event_id)",
    ),
    Location(
        "inbound_webhook_events",
        "payload",
        "payload",
        "payload mentions an id, gateway reference or email of the subject",
        "scrub",
    ),
    Location(
        "audit_entries",
        "resource_id",
        "reference",
        "resource_id in the subject's ids",
        "keep",
        "ids and digests only; the log stays verifiable",
    ),
    Location(
        "audit_entries",
        "source_ip",
        "identity",
        "resource_id in the subject's ids",
        "keep",
        "the caller's (merchant's) address, not the subject's",
    ),
    Location(
        "bank_accounts",
        "account_holder",
        "reference",
        "account_holder.customer",
        "keep",
        "a customer id",
    ),
    Location(
        "bank_accounts",
        "ownership",
        "identity",
        "account_holder.customer",
        "scrub",
        "owner names, emails, phones and addresses from the bank",
    ),
    Location(
        "bank_accounts", "display_name", "free_text", "account_holder.customer", "pseudonymise"
    ),
    Location(
        "bank_sessions",
        "account_holder",
        "reference",
        "account_holder.customer",
        "keep",
        "a customer id",
    ),
    Location("bank_transactions", "description", "free_text", "account_id", "scrub"),
    Location(
        "idempotency_keys",
        "response_body",
        "payload",
        "the cached response mentions an id of the subject",
        "scrub",
        "a replayed response; its personal values are scrubbed",
    ),
)

# Columns whose name looks personal but that hold no data subject's data, and why.
NOT_PERSONAL: Final[dict[tuple[str, str], str]] = {
    ("merchants", "name"): "the merchant's business name (the merchant is not a data subject "
    "of its own Strongbox)",
    ("webhook_endpoints", "description"): "merchant configuration",
    ("webhook_endpoints", "metadata"): "merchant configuration",
    ("inbound_webhook_accounts", "description"): "merchant configuration",
    ("inbound_webhook_accounts", "basic_auth_username"): "a gateway credential, sealed "
    "password beside it; merchant configuration",
    ("bank_accounts", "institution_name"): "the bank's name",
    ("bank_accounts", "ownership_refresh"): "the state of the last ownership refresh",
    ("bank_webhook_events", "payload"): "provider item notifications: item ids and codes, "
    "no account holder data",
    ("recon_report_lines", "description"): "the gateway's settlement line text (payment "
    "references)",
    ("ledger_accounts", "metadata"): "the merchant's ledger account labels",
    ("ledger_transfers", "metadata"): "the merchant's ledger posting labels; payments post "
    "ids only",
    ("webhook_attempts", "response_excerpt"): "the merchant's own endpoint's reply "
    "(first 1,000 characters), merchant data",
    ("webhook_fanout_cursor", "name"): "the name of a fan-out cursor",
    ("payment_attempts", "error_message"): "the gateway's decline text",
    ("privacy_requests", "subject_ids"): "ids (pseudonyms) of the records found",
    ("privacy_requests", "email_index"): "keyed HMAC of the requester's email",
    ("api_keys", "name"): "the merchant's label for a restricted key",
    ("oauth_clients", "name"): "the merchant's name for its OAuth2 client application",
    ("operators", "email"): "the sign-in of the installation's own staff: an operator's "
    "personal data, not a merchant's customer's (the subject requests here are a "
    "merchant's); kept with the audit trail of their actions (PCI DSS 10.2)",
    ("payouts", "description"): "the merchant's text for a payout to its own account",
    ("payouts", "metadata"): "the merchant's labels for a payout to its own account",
    ("payouts", "failure_message"): "the payout rail's failure text",
    ("settlement_batches", "file_name"): "the name of a settlement file",
}

# The tables ``privacy/locate.py`` searches (one finder each).
SEARCHED_TABLES: Final[frozenset[str]] = frozenset(loc.table for loc in LOCATIONS)


def registered(table: str, column: str) -> bool:
    return any(loc.table == table and loc.column == column for loc in LOCATIONS) or (
        (table, column) in NOT_PERSONAL
    )
