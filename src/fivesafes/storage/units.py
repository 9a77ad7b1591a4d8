"""A *unit*: whatever runs ``work`` in one transaction, all or nothing. ``ServiceCore.unit``
and ``ServiceCore.read`` are units of a service's database (``SessionUnit``); a domain
module's units run its actions on a store over one (``fivesafes.kit.store``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")
S_co = TypeVar("S_co", covariant=True)


class Unit(Protocol[S_co]):
    """Runs ``work`` on a store in one transaction: committed if it returns, rolled back (the
    store's records as before) if it raises."""

    def __call__(self, work: Callable[[S_co], T]) -> T: ...


SessionUnit = Unit[Session]
"""A service's transactions on its database (``ServiceCore.unit``, ``ServiceCore.read``)."""
