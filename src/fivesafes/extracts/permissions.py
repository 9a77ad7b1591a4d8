"""Who may decide on extraction and on extracts at a node: ``check_*`` raising, ``can_*``
answering.

| action                        | who                                                       |
| ----------------------------- | --------------------------------------------------------- |
| approve extraction            | the node's custodians                                     |
| revoke extraction             | the node's custodians, and its TRE admins (an emergency   |
|                               | stop, as for revoking the project itself)                 |
| see the decisions             | the node's custodians and TRE admins                      |
| see an extract                | the node's output checkers, custodians and TRE admins;    |
|                               | its requester                                             |
| release an extract            | the node's output checkers, never its requester (four     |
|                               | eyes)                                                     |
| withdraw an extract           | the node's output checkers; its requester                 |

Anyone who may not see an extract is told it does not exist (``NotFoundOrNoPermission``), the
same answer as for an extract that does not; one who sees it but may not act is refused
(``NotPermitted``). What the project's state allows (the node approved it; a revocation needs
an approval) and what an extract's state allows (only a held one is decided) are the actions'
business; what an extraction task may ask for is ``policy``'s.
"""

from __future__ import annotations

from fivesafes.governance.errors import NotPermitted
from fivesafes.governance.people import Actor
from fivesafes.governance.roles import Role, node_scope
from fivesafes.protocol.errors import Forbidden, NotFoundOrNoPermission


def _runs_node(actor: Actor, node: str) -> bool:
    scope = node_scope(node)
    return actor.account.holds(Role.CUSTODIAN, scope) or actor.account.holds(Role.TRE_ADMIN, scope)


def _checks_output(actor: Actor, node: str) -> bool:
    return actor.account.holds(Role.OUTPUT_CHECKER, node_scope(node))


def check_approve_extraction(actor: Actor, node: str) -> None:
    if not actor.account.holds(Role.CUSTODIAN, node_scope(node)):
        raise NotPermitted(f"Only a custodian of {node} approves extraction there.")


def can_approve_extraction(actor: Actor, node: str) -> bool:
    try:
        check_approve_extraction(actor, node)
    except (NotFoundOrNoPermission, Forbidden):
        return False
    return True


def check_revoke_extraction(actor: Actor, node: str) -> None:
    if not _runs_node(actor, node):
        raise NotPermitted(f"Only a custodian or TRE admin of {node} revokes extraction there.")


def can_revoke_extraction(actor: Actor, node: str) -> bool:
    try:
        check_revoke_extraction(actor, node)
    except (NotFoundOrNoPermission, Forbidden):
        return False
    return True


def check_see_extractions(actor: Actor, node: str) -> None:
    if not _runs_node(actor, node):
        raise NotPermitted(
            f"Only a custodian or TRE admin of {node} sees its extraction approvals."
        )


def can_see_extractions(actor: Actor, node: str) -> bool:
    try:
        check_see_extractions(actor, node)
    except (NotFoundOrNoPermission, Forbidden):
        return False
    return True


def check_see_extract(actor: Actor, node: str, requester: str) -> None:
    if actor.username != requester and not (_checks_output(actor, node) or _runs_node(actor, node)):
        raise NotFoundOrNoPermission("extract")


def can_see_extract(actor: Actor, node: str, requester: str) -> bool:
    try:
        check_see_extract(actor, node, requester)
    except NotFoundOrNoPermission:
        return False
    return True


def check_release_extract(actor: Actor, node: str, requester: str) -> None:
    """Four eyes: an output checker of the node who did not ask for the extract."""
    check_see_extract(actor, node, requester)
    if not _checks_output(actor, node):
        raise NotPermitted(f"Only an output checker of {node} releases an extract there.")
    if actor.username == requester:
        raise NotPermitted("Nobody releases an extract they asked for.")


def can_release_extract(actor: Actor, node: str, requester: str) -> bool:
    try:
        check_release_extract(actor, node, requester)
    except (NotFoundOrNoPermission, Forbidden):
        return False
    return True


def check_withdraw_extract(actor: Actor, node: str, requester: str) -> None:
    check_see_extract(actor, node, requester)
    if actor.username != requester and not _checks_output(actor, node):
        raise NotPermitted(
            f"Only an output checker of {node}, or the researcher who asked for it, withdraws "
            "an extract there."
        )


def can_withdraw_extract(actor: Actor, node: str, requester: str) -> bool:
    try:
        check_withdraw_extract(actor, node, requester)
    except (NotFoundOrNoPermission, Forbidden):
        return False
    return True
