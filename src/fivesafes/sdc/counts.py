"""Rounding released counts: half-up to the profile's base, the same on every platform.

| n  | base 10 | base 5 |
| -- | ------- | ------ |
| 14 | 10      | 15     |
| 15 | 20      | 15     |
| 25 | 30      | 25     |

Never half-to-even (Python's ``round``): 25 → 30, not 20. Totals at the hub are sums of released
values, never of true ones.
"""

from __future__ import annotations


def round_half_up(n: int, base: int) -> int:
    """Round a non-negative integer to the nearest multiple of ``base``, ties up."""
    if n < 0:
        raise ValueError("counts are never negative")
    return ((2 * n + base) // (2 * base)) * base
