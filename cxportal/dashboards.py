"""Dashboard figures shared by everyone allowed to see them, kept for a minute.

Counts over a million customers or a year of answers (team homes, the scorecard) cost a
few hundred milliseconds each; fifty people opening their home page would pay that fifty
times a minute for the same numbers. Only for reads whose answer does not depend on who
asks, beyond the permission to ask: without ``perm`` the actor gets ``compute()`` afresh
(whatever their restricted querysets give them), never a figure someone else computed.
"""

from collections.abc import Callable

from django.core.cache import cache

SECONDS = 60
PREFIX = "dashboard:v1:"


def dashboard_figure[T](
    key: str, compute: Callable[[], T], *, actor, perm: str, seconds: int = SECONDS
) -> T:
    """``compute()``, or its answer from the last ``seconds`` when ``actor`` has ``perm``
    (an unreachable cache is a miss)."""
    if actor is None or not actor.has_perm(perm):
        return compute()
    full = PREFIX + key
    found = cache.get(full)
    if found is not None:
        return found
    value = compute()
    cache.set(full, value, seconds)
    return value
