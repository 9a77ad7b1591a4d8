"""The rule for one released count of distinct persons.

| true count n           | released                                  |
| ---------------------- | ----------------------------------------- |
| n < threshold (0 too)  | suppressed marker, no value               |
| n >= threshold         | n rounded to the base, halves rounded up  |

Rounding is half-up (15 → 20 with base 10), never half-to-even, so the rule is the same on every
platform and in every language. Totals at the hub are sums of released values, never of true ones.
"""

from __future__ import annotations

from fivesafes.protocol.models import ReleasedCount
from fivesafes.sdc.profile import GateProfile


def round_half_up(n: int, base: int) -> int:
    """Round a non-negative integer to the nearest multiple of ``base``, ties up."""
    if n < 0:
        raise ValueError("counts are never negative")
    return ((2 * n + base) // (2 * base)) * base


def release_count(n: int, profile: GateProfile) -> ReleasedCount:
    """Gate one count; raises on anything that is not a non-negative integer (fail closed)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError("a count must be an integer")
    if n < 0:
        raise ValueError("counts are never negative")
    if n < profile.threshold:
        return ReleasedCount(
            value=None, suppressed=True, rule=f"below threshold {profile.threshold}"
        )
    rounded = round_half_up(n, profile.rounding_base)
    return ReleasedCount(
        value=rounded, suppressed=False, rule=f"rounded to {profile.rounding_base}"
    )
