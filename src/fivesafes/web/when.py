"""Times as people read them, on the portal's pages and the command line: how long ago, in
words, beside the time itself in UTC (``3 minutes ago (2026-06-01 12:00:03 UTC)``)."""

from __future__ import annotations

from datetime import UTC, datetime

UNITS = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))


def ago(then: datetime, now: datetime) -> str:
    """``just now`` (under 5 s, or a clock ahead of ``now``), ``1 second ago`` … ``3 minutes
    ago`` … ``2 days ago``: the largest whole unit."""
    seconds = int((now - then).total_seconds())
    if seconds < 5:
        return "just now"
    for unit, size in UNITS:
        if seconds >= size:
            many = seconds // size
            return f"{many} {unit}{'' if many == 1 else 's'} ago"
    return "just now"  # pragma: no cover - seconds >= 5 is at least one second


def utc(then: datetime) -> str:
    """``2026-06-01 12:00:03 UTC``."""
    return then.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def seen(then: datetime | None, now: datetime) -> str:
    """When something was last seen: ``3 minutes ago (2026-06-01 12:00:03 UTC)``, or
    ``never``."""
    return "never" if then is None else f"{ago(then, now)} ({utc(then)})"
