"""Adyen's report files: the download of a report its ``REPORT_AVAILABLE`` notification
announced (docs.adyen.com, "Download reports": ``GET`` the URL the notification gives in
``reason``, authenticated with the API credential's ``X-API-Key``).

Only URLs of the account's own report tree are fetched —
``{report base}/reports/download/MerchantAccount/{merchant_account}/{file}.csv`` — so a
notification can never make Strongbox send its API key elsewhere (the notification is
HMAC-verified too, but the key must not depend on that alone).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from strongbox.connectors.base import Credentials, RetryableError, TerminalError
from strongbox.connectors.http import send

TEST_REPORT_BASE = "https://ca-test.adyen.com"
LIVE_REPORT_BASE = "https://ca-live.adyen.com"
MAX_REPORT_BYTES = 256 * 1024 * 1024
_FILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,200}\.csv")


def report_url(base: str, merchant_account: str, filename: str) -> str:
    return f"{base.rstrip('/')}/reports/download/MerchantAccount/{merchant_account}/{filename}"


def checked_url(base: str, creds: Credentials, url: str) -> str:
    """``url`` when it names a CSV file in this account's report tree; TerminalError else."""
    account = creds.settings.get("merchant_account", "")
    prefix = report_url(base, account, "")
    parts = urlsplit(url)
    name = url[len(prefix) :] if url.startswith(prefix) else ""
    if not account or not _FILE_RE.fullmatch(name) or parts.query or parts.fragment:
        raise TerminalError(
            "the report URL is not a CSV file of this merchant account's Adyen reports",
            gateway_code="invalid_report_url",
        )
    return url


def download(client: httpx.Client, base: str, creds: Credentials, url: str) -> str:
    """The report's text. Adyen unavailable or rate limiting: ``RetryableError``; the file not
    there (yet) is retryable too, since Adyen announces a file before every edge has it."""
    target = checked_url(base, creds, url)
    headers = {"X-API-Key": creds.secret("api_key"), "Accept": "text/csv"}
    response = send(client, "Adyen", "GET", target, headers=headers)
    status = response.status_code
    if status == 200:
        if len(response.content) > MAX_REPORT_BYTES:
            raise TerminalError("the Adyen report is too large", gateway_code="report_too_large")
        try:
            return response.content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise TerminalError(
                "the Adyen report is not UTF-8 text", gateway_code="report_unreadable"
            ) from None
    if status in (401, 403):
        raise TerminalError(
            f"Adyen refused the report download (HTTP {status})", gateway_code="authentication"
        )
    if status in (404, 429) or status >= 500:
        raise RetryableError(
            f"Adyen answered HTTP {status} for the report", gateway_code=str(status)
        )
    raise TerminalError(f"Adyen answered HTTP {status} for the report", gateway_code=str(status))
