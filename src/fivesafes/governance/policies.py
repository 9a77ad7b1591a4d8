"""What the current state allows, whoever asks (who may ask is ``permissions``).

Pure functions of dates, counters and times; each ``check_*`` raises a typed error and has a
``can_*`` twin.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fivesafes.governance.errors import AccreditationExpired, ProjectNotActive
from fivesafes.protocol.errors import InvalidRequest

MAX_LOCKOUT = timedelta(days=1)
PASSWORD_MAX_LENGTH = 1024  # long enough for any passphrase; bounds the hashing work


def check_accredited(accredited_until: date | None, today: date) -> None:
    """Safe-researcher accreditation is valid through its expiry date (inclusive)."""
    if accredited_until is None:
        raise AccreditationExpired(
            "No safe-researcher accreditation is recorded for you; ask the hub admin to record "
            "your training before submitting analyses."
        )
    if accredited_until < today:
        raise AccreditationExpired(
            f"Your safe-researcher accreditation expired on {accredited_until.isoformat()}; "
            "renew it before submitting analyses."
        )


def can_be_accredited(accredited_until: date | None, today: date) -> bool:
    return accredited_until is not None and today <= accredited_until


def check_project_active(start_date: date, end_date: date, today: date) -> None:
    """A project runs from its start date to its end date, both inclusive."""
    if today < start_date:
        raise ProjectNotActive(f"The project starts on {start_date.isoformat()}.")
    if today > end_date:
        raise ProjectNotActive(f"The project ended on {end_date.isoformat()}.")


def can_project_run(start_date: date, end_date: date, today: date) -> bool:
    return start_date <= today <= end_date


# ---- logins --------------------------------------------------------------------------------


def lockout_after(failures: int, max_failures: int, base: timedelta) -> timedelta | None:
    """How long an account is locked after its ``failures``-th consecutive failed login.

    Every ``max_failures``-th failure locks it; each further lock lasts twice the one before,
    up to a day. A successful login resets the count.

    | failures (max 5, base 15 min) | locked for |
    | ----------------------------- | ---------- |
    | 1-4                           | -          |
    | 5                             | 15 min     |
    | 10                            | 30 min     |
    | 15                            | 60 min     |
    | 35                            | 16 h       |
    | 40 and later multiples of 5   | 1 day      |
    """
    if failures <= 0 or failures % max_failures:
        return None
    locks = failures // max_failures
    factor: int = 2 ** min(locks - 1, 16)
    return min(base * factor, MAX_LOCKOUT)


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and now < locked_until


def check_password(password: str, *, username: str, min_length: int) -> None:
    """Length only (NIST SP 800-63B): no composition rules, never the username."""
    if len(password) < min_length:
        raise InvalidRequest(f"A password needs at least {min_length} characters.")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidRequest(f"A password has at most {PASSWORD_MAX_LENGTH} characters.")
    if password.strip().lower() == username.lower():
        raise InvalidRequest("A password cannot be the username.")


def can_use_password(password: str, *, username: str, min_length: int) -> bool:
    try:
        check_password(password, username=username, min_length=min_length)
    except InvalidRequest:
        return False
    return True
