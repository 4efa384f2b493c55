"""Requirements 4, 6, 11 and 12: TLS, vulnerabilities, the public API, incident response."""

from __future__ import annotations

import ipaddress
import ssl
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from strongbox.compliance import repository as repo
from strongbox.compliance.controls import (
    FAIL,
    NOT_APPLICABLE,
    PASS,
    CheckContext,
    Result,
    control,
)

SCAN_MAX_AGE = timedelta(days=90)
REQUIRED_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def _loopback(host: str | None) -> bool:
    if not host or host in ("localhost", "testserver"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@control(
    "4.2.1",
    "Strong cryptography protects PAN during transmission over open, public networks.",
    "STRONGBOX_PUBLIC_URL (TLS in front of 'strongbox serve', which itself serves plain HTTP "
    "on its interface), the gateway and bank-data base URLs, enabled webhook endpoints, and "
    "the TLS floor of Python's default context",
)
def strong_tls(ctx: CheckContext) -> Result:
    s = ctx.settings
    public = urlsplit(s.public_url)
    outbound = {
        "stripe_api_base": s.stripe_api_base,
        "adyen_api_base": s.adyen_api_base,
        "plaid_api_base": s.plaid_api_base,
        "yodlee_api_base": s.yodlee_api_base,
    }
    if s.simulator_url:
        outbound["simulator_url"] = s.simulator_url
    plain = sorted(
        name
        for name, url in outbound.items()
        if urlsplit(url).scheme != "https" and not _loopback(urlsplit(url).hostname)
    )
    floor = ssl.create_default_context().minimum_version
    endpoints, endpoint_ids = repo.plaintext_endpoints(ctx.session, 20)
    evidence: dict[str, Any] = {
        "public_url_scheme": public.scheme,
        "public_url_host": public.hostname,
        "outbound_without_tls": plain,
        "tls_minimum_version": floor.name,
        "plaintext_webhook_endpoints": endpoints,
        "endpoint_ids": endpoint_ids,
    }
    problems = []
    if public.scheme != "https" and not _loopback(public.hostname):
        problems.append("the public URL is plain HTTP on a non-loopback host")
    if plain:
        problems.append("outbound URLs without TLS: " + ", ".join(plain))
    if floor < ssl.TLSVersion.TLSv1_2:
        problems.append(f"outbound TLS accepts {floor.name}")
    if endpoints:
        problems.append(f"{endpoints} enabled webhook endpoint(s) without TLS")
    if problems:
        return Result(FAIL, "; ".join(problems), evidence)
    if public.scheme != "https":
        return Result(
            NOT_APPLICABLE,
            "Strongbox terminates no TLS here: served on loopback only; outbound calls use "
            f"{floor.name} or later",
            evidence,
        )
    return Result(
        PASS, f"public URL over HTTPS; outbound calls use {floor.name} or later", evidence
    )


def _scan_evidence(ctx: CheckContext) -> tuple[Any, dict[str, Any]]:
    scan = repo.latest_scan(ctx.session)
    if scan is None:
        return None, {"last_scan": None}
    age = ctx.now - scan.created
    return scan, {
        "last_scan": scan.id,
        "scanned_at": scan.created.isoformat(),
        "age_days": age.days,
        "tool": scan.tool,
        "target": scan.target,
        "dependencies": scan.dependencies,
        "vulnerable": scan.vulnerable,
        "findings": scan.findings[:20],
    }


@control(
    "6.3.3",
    "All system components are protected from known vulnerabilities by installing "
    "applicable security patches.",
    "the latest recorded dependency scan (pip-audit of the hashed lock file against the "
    "advisory data, run by 'strongbox compliance check --scan' when the data is reachable)",
)
def no_known_vulnerable_dependency(ctx: CheckContext) -> Result:
    scan, evidence = _scan_evidence(ctx)
    if scan is None:
        return Result(FAIL, "no dependency scan has been recorded", evidence)
    if scan.vulnerable:
        names = ", ".join(sorted({str(f.get("package")) for f in scan.findings}))
        return Result(FAIL, f"{scan.vulnerable} known vulnerability(ies) in: {names}", evidence)
    return Result(
        PASS,
        f"no known vulnerability in {scan.dependencies} dependencies "
        f"(scan {evidence['age_days']} day(s) old)",
        evidence,
    )


@control(
    "11.3.1",
    "Internal vulnerability scans are performed at least once every three months.",
    "the age of the latest recorded vulnerability scan",
)
def recent_scan(ctx: CheckContext) -> Result:
    scan, evidence = _scan_evidence(ctx)
    if scan is None:
        return Result(FAIL, "no vulnerability scan has been recorded", evidence)
    if ctx.now - scan.created > SCAN_MAX_AGE:
        return Result(
            FAIL, f"the latest scan is {evidence['age_days']} days old (more than 90)", evidence
        )
    return Result(PASS, f"the latest scan is {evidence['age_days']} day(s) old", evidence)


@control(
    "6.4.1",
    "Public-facing web applications are protected against attacks: security headers and "
    "request limits on the public API.",
    "the API called in-process: its security headers (CSP with frame-ancestors 'none', "
    "nosniff, no-referrer, DENY, HSTS over TLS) and a body one byte over "
    "STRONGBOX_MAX_BODY_BYTES (must be 413)",
)
def public_api_protected(ctx: CheckContext) -> Result:
    if ctx.http_probe is None:
        return Result(FAIL, "the API could not be probed in this run", {})
    p = ctx.http_probe()
    headers = {k.lower(): v for k, v in p.headers.items()}
    tls = {k.lower(): v for k, v in p.tls_headers.items()}
    wrong = sorted(k for k, v in REQUIRED_HEADERS.items() if headers.get(k) != v)
    csp = headers.get("content-security-policy", "")
    if "frame-ancestors 'none'" not in csp:
        wrong.append("content-security-policy")
    hsts = tls.get("strict-transport-security", "")
    if "max-age=" not in hsts:
        wrong.append("strict-transport-security (over TLS)")
    evidence = {
        "headers": {k: headers.get(k) for k in [*REQUIRED_HEADERS, "content-security-policy"]},
        "hsts_over_tls": hsts or None,
        "max_body_bytes": p.max_body_bytes,
        "oversized_body_status": p.oversized_status,
    }
    problems = []
    if wrong:
        problems.append("missing or weak headers: " + ", ".join(wrong))
    if p.oversized_status != 413:
        problems.append(f"an oversized body got {p.oversized_status}, not 413")
    if problems:
        return Result(FAIL, "; ".join(problems), evidence)
    return Result(
        PASS,
        f"security headers present; bodies over {p.max_body_bytes} bytes refused with 413",
        evidence,
    )


@control(
    "12.10.1",
    "An incident response plan exists and is ready to be activated: a contact is named.",
    "STRONGBOX_INCIDENT_CONTACT",
)
def incident_contact(ctx: CheckContext) -> Result:
    contact = (ctx.settings.incident_contact or "").strip()
    if not contact:
        return Result(FAIL, "STRONGBOX_INCIDENT_CONTACT is not set", {"configured": False})
    return Result(
        PASS, "an incident contact is configured", {"configured": True, "contact": contact}
    )
