"""Who may act on a release request: ``check_*`` raising, ``can_*`` answering.

| action                                   | who                                              |
| ---------------------------------------- | ------------------------------------------------ |
| see the request                          | its author; output checkers of its scope         |
| compose, submit, revise, withdraw, download | its author                                    |
| vote, consolidate                        | output checkers of its scope, never the author   |

Anyone else is told the request does not exist (``NotFoundOrNoPermission``), the same answer
as for a request that does not. What the request's state allows is ``states`` and ``review``.
"""

from __future__ import annotations

from fivesafes.governance.errors import NotPermitted
from fivesafes.governance.people import Actor
from fivesafes.governance.permissions import check_review_output
from fivesafes.governance.roles import Role, Scope
from fivesafes.protocol.errors import Forbidden, NotFoundOrNoPermission


def _is_checker(actor: Actor, scope: Scope) -> bool:
    return actor.account.holds(Role.OUTPUT_CHECKER, scope)


def check_see_request(actor: Actor, scope: Scope, author: str) -> None:
    if actor.username != author and not _is_checker(actor, scope):
        raise NotFoundOrNoPermission("release request")


def can_see_request(actor: Actor, scope: Scope, author: str) -> bool:
    try:
        check_see_request(actor, scope, author)
    except NotFoundOrNoPermission:
        return False
    return True


def check_act_as_author(actor: Actor, scope: Scope, author: str) -> None:
    check_see_request(actor, scope, author)
    if actor.username != author:
        raise NotPermitted("Only the request's author does this.")


def can_act_as_author(actor: Actor, scope: Scope, author: str) -> bool:
    try:
        check_act_as_author(actor, scope, author)
    except (NotFoundOrNoPermission, Forbidden):
        return False
    return True


def check_review(actor: Actor, scope: Scope, author: str) -> None:
    """Four eyes: an output checker of the request's scope who is not its author."""
    check_see_request(actor, scope, author)
    check_review_output(actor, scope, author)


def can_review(actor: Actor, scope: Scope, author: str) -> bool:
    try:
        check_review(actor, scope, author)
    except (NotFoundOrNoPermission, Forbidden):
        return False
    return True
