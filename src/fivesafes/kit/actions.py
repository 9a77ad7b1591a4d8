"""One action in one transaction, and a refusal audited.

A module's action is a function of its store (and ``by=``, who acts) that checks, changes and
writes its audit events through that store; :func:`act` runs it in one transaction. When the
action is refused, its changes are rolled back with its events, so a refusal the log must
still show (a release refused because a file changed, say) is written by ``refused`` in a
transaction of its own, and the refusal is raised as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fivesafes.kit.store import Unit
from fivesafes.protocol.errors import FivesafesError

S = TypeVar("S")
T = TypeVar("T")
E = TypeVar("E", bound=FivesafesError)


def act(
    unit: Unit[S],
    work: Callable[[S], T],
    *,
    refused: Callable[[S, E], None] | None = None,
    refusal: type[E] | tuple[type[E], ...] = FivesafesError,  # type: ignore[assignment]
) -> T:
    """``work`` on a store in one transaction; a ``refusal`` raised by it (any refusal in
    words, unless narrowed) is audited by ``refused(store, error)`` in a transaction of its
    own, then raised."""
    try:
        return unit(work)
    except refusal as error:
        if refused is not None:
            _audit_refusal(unit, refused, error)
        raise


def _audit_refusal(unit: Unit[S], refused: Callable[[S, E], None], error: E) -> None:
    unit(lambda store: refused(store, error))
