"""Requirements 3.6/3.7 (key management) and 8 (identification and authentication)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import inspect

from strongbox.auth import operators, passwords
from strongbox.compliance import repository as repo
from strongbox.compliance.controls import (
    FAIL,
    NOT_APPLICABLE,
    PASS,
    CheckContext,
    Result,
    control,
    first,
)

NO_OPERATORS = "no operator accounts exist in this installation (issue 17)"
OPERATORS_TABLE = "operators"
API_KEY_ACTOR = "api_key:"  # pragma: allowlist secret - an actor prefix
API_KEY_UNUSED_DAYS = 90
"""A secret key with no recorded use for this long is reported (PCI DSS 8.2.6's 90 days)."""


@control(
    "3.6.1",
    "Cryptographic keys used to protect stored account data are secured: key-encrypting "
    "keys kept apart from data keys, retired keys destroyed.",
    "vault_keks (the KEK lives in the key provider), vault_data_keys (stored only wrapped; "
    "retired versions have their wrapped key destroyed)",
)
def keys_secured(ctx: CheckContext) -> Result:
    keys = ctx.keys()
    keks = [k for k in keys if k.kind == "kek"]
    active_keks = [k for k in keks if k.status == "active"]
    leftovers = repo.retired_keys_not_destroyed(ctx.session)
    evidence: dict[str, Any] = {
        "key_provider": ctx.settings.key_provider,
        "keks": [{"version": k.version, "status": k.status, "age_days": k.age_days} for k in keks],
        "data_keys": [
            {"purpose": k.kind, "version": k.version, "status": k.status, "age_days": k.age_days}
            for k in keys
            if k.kind != "kek"
        ],
        "retired_not_destroyed": [f"{p} v{v}" for p, v in leftovers],
        "split_of_duties": "not enforced: a key rotation needs compliance:write "
        "(strongbox keys rotate --as EMAIL), not a second operator",
    }
    problems = []
    if len(active_keks) != 1:
        problems.append(f"{len(active_keks)} active KEKs (expected exactly one)")
    if leftovers:
        problems.append(f"{len(leftovers)} retired data key(s) still hold wrapped key material")
    if problems:
        return Result(FAIL, "; ".join(problems), evidence)
    return Result(
        PASS,
        f"one active KEK in the {ctx.settings.key_provider} provider; "
        f"{len(evidence['data_keys'])} data key version(s), retired ones destroyed",
        evidence,
    )


@control(
    "3.7.4",
    "Key changes for cryptographic keys at the end of their defined cryptoperiod.",
    "the age of every active key (KEK and data keys; the MAC root is exempt) against "
    "STRONGBOX_KEY_CRYPTOPERIOD_DAYS, as /healthz/keys reports it",
)
def cryptoperiod(ctx: CheckContext) -> Result:
    keys = ctx.keys()
    period = ctx.settings.key_cryptoperiod_days
    overdue = [k for k in keys if k.overdue]
    kek_ages = [k.age_days for k in keys if k.kind == "kek" and k.status == "active"]
    evidence = {
        "cryptoperiod_days": period,
        "active_kek_age_days": kek_ages[0] if kek_ages else None,
        "active_keys": [
            {"kind": k.kind, "version": k.version, "age_days": k.age_days}
            for k in keys
            if k.status == "active"
        ],
        "overdue": [
            {"kind": k.kind, "version": k.version, "age_days": k.age_days} for k in overdue
        ],
    }
    if overdue:
        names = ", ".join(f"{k.kind} v{k.version} ({k.age_days} days)" for k in overdue)
        return Result(FAIL, f"past the {period}-day cryptoperiod: {names}", evidence)
    return Result(PASS, f"every active key is younger than {period} days", evidence)


def _operators(ctx: CheckContext) -> Result | None:
    """Not applicable (the result) while the installation has no operator accounts."""
    if not inspect(ctx.engine).has_table(OPERATORS_TABLE):
        return Result(
            NOT_APPLICABLE, NO_OPERATORS, {"looked_for_table": OPERATORS_TABLE, "found": False}
        )
    if repo.operator_count(ctx.session) == 0:
        return Result(
            NOT_APPLICABLE,
            "no operator accounts exist in this installation",
            {"looked_for_table": OPERATORS_TABLE, "operators": 0},
        )
    return None


@control(
    "8.2.8",
    "Sessions idle for more than 15 minutes require re-authentication.",
    "operator sessions' idle timeout",
)
def idle_timeout(ctx: CheckContext) -> Result:
    if (na := _operators(ctx)) is not None:
        return na
    minutes = ctx.settings.operator_session_idle_minutes
    evidence = {"operator_session_idle_minutes": minutes, "limit_minutes": 15}
    if minutes > 15:
        return Result(FAIL, f"operator sessions end after {minutes} idle minutes", evidence)
    return Result(PASS, f"operator sessions end after {minutes} idle minutes", evidence)


@control(
    "8.3.4",
    "Invalid authentication attempts lock out the user ID after not more than 10 attempts, "
    "for at least 30 minutes.",
    "operator lockout policy",
)
def lockout(ctx: CheckContext) -> Result:
    if (na := _operators(ctx)) is not None:
        return na
    minutes = int(operators.LOCKOUT.total_seconds() // 60)
    evidence = {
        "max_failed_attempts": operators.MAX_FAILURES,
        "lockout_minutes": minutes,
        "locked_now": repo.operators_locked(ctx.session, ctx.now),
    }
    if operators.MAX_FAILURES > 10 or minutes < 30:
        return Result(FAIL, "the lockout policy is weaker than 10 attempts / 30 minutes", evidence)
    return Result(
        PASS, f"locked for {minutes} minutes after {operators.MAX_FAILURES} failures", evidence
    )


@control(
    "8.3.6",
    "Passwords are at least 12 characters and contain numeric and alphabetic characters.",
    "operator password policy",
)
def password_length(ctx: CheckContext) -> Result:
    if (na := _operators(ctx)) is not None:
        return na
    evidence = {
        "min_length": passwords.MIN_LENGTH,
        "letters_and_digits_required": True,
        "common_passwords_refused": len(passwords.common_passwords()),
        "hash": "argon2id",
    }
    if passwords.MIN_LENGTH < 12:
        return Result(FAIL, f"passwords may be {passwords.MIN_LENGTH} characters", evidence)
    return Result(
        PASS, f"at least {passwords.MIN_LENGTH} characters with letters and digits", evidence
    )


@control(
    "8.4.2",
    "MFA is implemented for all access into the CDE.",
    "MFA enrolment of every operator",
)
def mfa(ctx: CheckContext) -> Result:
    if (na := _operators(ctx)) is not None:
        return na
    missing = repo.active_operators_without_second_factor(ctx.session)
    evidence = {"active_without_second_factor": first(missing), "count": len(missing)}
    if missing:
        return Result(FAIL, f"{len(missing)} active operator(s) without a second factor", evidence)
    return Result(PASS, "every active operator has a second factor enrolled", evidence)


@control(
    "8.6.3",
    "Passwords/passphrases for application and system accounts (API keys) are protected "
    "against misuse: changed periodically, unused ones removed.",
    "api_keys: every unrevoked secret key's age against STRONGBOX_API_KEY_MAX_AGE_DAYS and "
    "its last use (the newest audit entry it made) against 90 days",
)
def api_keys(ctx: CheckContext) -> Result:
    keys = repo.active_secret_keys(ctx.session)
    by_actor = repo.last_use_by_actor(ctx.session, [API_KEY_ACTOR + k for k, _m, _c in keys])
    last = {k.removeprefix(API_KEY_ACTOR): t for k, t in by_actor.items()}
    max_age = timedelta(days=ctx.settings.api_key_max_age_days)
    idle = timedelta(days=API_KEY_UNUSED_DAYS)
    too_old = [k for k, _m, created in keys if ctx.now - created > max_age]
    unused = [k for k, _m, created in keys if ctx.now - last.get(k, created) > idle]
    evidence = {
        "secret_keys": len(keys),
        "max_age_days": ctx.settings.api_key_max_age_days,
        "unused_after_days": API_KEY_UNUSED_DAYS,
        "last_use": "the newest audit entry made with the key (reads are not recorded)",
        "older_than_max_age": first(too_old),
        "older_than_max_age_count": len(too_old),
        "unused": first(unused),
        "unused_count": len(unused),
        "never_used": len([k for k, _m, _c in keys if k not in last]),
    }
    if too_old or unused:
        return Result(
            FAIL,
            f"{len(too_old)} secret key(s) past {ctx.settings.api_key_max_age_days} days, "
            f"{len(unused)} unused for {API_KEY_UNUSED_DAYS} days: roll or revoke them",
            evidence,
        )
    return Result(PASS, f"{len(keys)} secret key(s), each within its age and in use", evidence)
