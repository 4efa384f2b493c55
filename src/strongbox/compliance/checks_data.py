"""Requirement 3: sensitive authentication data and stored account data."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from strongbox.compliance import repository as repo
from strongbox.compliance.controls import FAIL, PASS, CheckContext, Result, control, first
from strongbox.compliance.pan import find_pans

CVC_GRACE = timedelta(minutes=5)
"""A CVC past its TTL by less than this is left to the vault's reaper (it runs every few
seconds): the check reports a reaper that stopped, not one that has yet to come round."""
PAYLOAD_TABLES = ("events", "webhook_deliveries", "inbound_webhook_events", "bank_webhook_events")
LOG_SUFFIXES = (".log", ".jsonl", ".txt", ".out", ".err")
MAX_FINDINGS = 50


@control(
    "3.3.1",
    "Sensitive authentication data (SAD) is not retained after authorization.",
    "vault_cvcs against their TTL (STRONGBOX_CVC_TTL_SECONDS) and against decided "
    "authorizations and recorded CVC checks of the same payment method",
)
def sad_not_retained(ctx: CheckContext) -> Result:
    held = repo.count_cvcs(ctx.session)
    expired, expired_ids = repo.expired_cvcs(ctx.session, ctx.now - CVC_GRACE, 20)
    used, used_ids = repo.cvcs_after_authorization(ctx.session, 20)
    evidence: dict[str, Any] = {
        "cvcs_held": held,
        "ttl_seconds": ctx.settings.cvc_ttl_seconds,
        "grace_seconds": int(CVC_GRACE.total_seconds()),
        "past_ttl": expired,
        "past_ttl_ids": expired_ids,
        "after_authorization": used,
        "after_authorization_ids": used_ids,
    }
    if expired or used:
        return Result(
            FAIL,
            f"{expired} CVC(s) past their TTL and {used} held after an authorization",
            evidence,
        )
    return Result(
        PASS, f"{held} CVC(s) held, each within its TTL and before authorization", evidence
    )


def _scan_tables(ctx: CheckContext) -> dict[str, Any]:
    md = repo.reflect(ctx.engine)
    findings: list[dict[str, str]] = []
    per_table: Counter[str] = Counter()
    columns = rows = 0
    for table in md.sorted_tables:
        cols = repo.text_columns(table)
        if not cols:
            continue
        columns += len(cols)
        n_ids = len(repo.row_id_columns(table))
        for row in repo.stream_rows(ctx.session, table, cols):
            rows += 1
            row_id = "/".join(str(v) for v in row[:n_ids])
            for col, value in zip(cols, row[n_ids:], strict=True):
                if value is None:
                    continue
                text = value if isinstance(value, str) else orjson.dumps(value).decode()
                if find_pans(text):
                    per_table[table.name] += 1
                    if len(findings) < MAX_FINDINGS:
                        findings.append({"table": table.name, "column": col.name, "row_id": row_id})
    return {
        "tables_scanned": len([t for t in md.sorted_tables if repo.text_columns(t)]),
        "columns_scanned": columns,
        "rows_scanned": rows,
        "payload_tables": [t for t in PAYLOAD_TABLES if t in md.tables],
        "findings_by_table": dict(per_table),
        "findings": findings,
    }


def _log_files(dirs: list[Path]) -> list[Path]:
    out: list[Path] = []
    for d in dirs:
        if not d.is_dir():
            continue
        for p in sorted(d.rglob("*")):
            name = p.name.lower()
            if p.is_file() and (name.endswith(LOG_SUFFIXES) or ".log." in name):
                out.append(p)
    return out


def _scan_logs(ctx: CheckContext) -> dict[str, Any]:
    findings: list[dict[str, Any]] = []
    files = _log_files(ctx.log_dirs)
    lines = 0
    hits = 0
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                lines += 1
                if find_pans(line):
                    hits += 1
                    if len(findings) < MAX_FINDINGS:
                        findings.append({"file": str(path), "line": number})
    return {"files_scanned": len(files), "lines_scanned": lines, "findings": findings, "hits": hits}


@control(
    "3.4.1",
    "PAN is rendered unreadable anywhere it is stored (no readable PAN in databases, "
    "payloads or logs).",
    "every text and JSON column of every table (reflected), event and webhook payload "
    "copies among them, and the log files under the data directory: Luhn-valid runs of "
    "13-19 digits with or without spaces or dashes",
)
def pan_unreadable(ctx: CheckContext) -> Result:
    tables = _scan_tables(ctx)
    logs = _scan_logs(ctx)
    in_tables = sum(tables["findings_by_table"].values())
    evidence = {"database": tables, "logs": logs}
    if in_tables or logs["hits"]:
        places = sorted({f["table"] + "." + f["column"] for f in tables["findings"]})
        return Result(
            FAIL,
            f"readable PAN found: {in_tables} value(s) in the database "
            f"({', '.join(first(places, 5))}), {logs['hits']} log line(s)",
            evidence,
        )
    return Result(
        PASS,
        f"no readable PAN in {tables['rows_scanned']} rows of {tables['tables_scanned']} tables "
        f"and {logs['lines_scanned']} lines of {logs['files_scanned']} log files",
        evidence,
    )


@control(
    "3.5.1",
    "PAN is secured with strong cryptography wherever it is stored.",
    "vault_cards: every stored PAN is AES-256-GCM ciphertext under a data key that exists "
    "(wrapped by the KEK); the 3.4.1 scan shows no PAN outside the vault",
)
def pan_encrypted(ctx: CheckContext) -> Result:
    total, orphaned, ids = repo.cards_without_live_key(ctx.session, 20)
    evidence = {
        "vault_cards": total,
        "cipher": "AES-256-GCM, data keys wrapped by the key-encryption key",
        "cards_without_data_key": orphaned,
        "card_ids": ids,
    }
    if orphaned:
        return Result(
            FAIL, f"{orphaned} vaulted card(s) refer to a missing or destroyed data key", evidence
        )
    return Result(PASS, f"{total} vaulted card(s), each encrypted under a live data key", evidence)
