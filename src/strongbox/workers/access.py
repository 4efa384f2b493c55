"""The access sweeper: revokes keys past their expiry (rolled keys after their overlap) and
marks just-in-time grants past theirs expired, even if nobody looks. Both are also refused
at use time by comparing the clock; the sweeper makes it final and audited."""

from __future__ import annotations

from typing import TYPE_CHECKING

from strongbox.auth import access_grants, restricted_keys

if TYPE_CHECKING:
    from strongbox.runtime import Runtime
    from strongbox.workers.loops import Loop

INTERVAL_SECONDS = 15.0


def sweep_once(rt: Runtime) -> int:
    """One pass in one transaction: how many keys and grants it ended."""
    with rt.db.unit_of_work() as uow:
        n = restricted_keys.sweep_expired(uow) + access_grants.sweep_expired(uow)
        uow.commit()
    if n:
        rt.key_cache.clear()
    return n


def access_loops(rt: Runtime) -> list[Loop]:
    from strongbox.workers.loops import Loop

    return [Loop("access-sweeper", lambda: sweep_once(rt), INTERVAL_SECONDS)]
