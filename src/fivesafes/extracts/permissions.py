"""Who may decide on extraction at a node: ``check_*`` raising, ``can_*`` answering.

| action                        | who                                                       |
| ----------------------------- | --------------------------------------------------------- |
| approve extraction            | the node's custodians                                     |
| revoke extraction             | the node's custodians, and its TRE admins (an emergency   |
|                               | stop, as for revoking the project itself)                 |
| see the decisions             | the node's custodians and TRE admins                      |

What the project's state allows (the node approved it; a revocation needs an approval) is the
actions' business; what an extraction task may ask for is ``policy``'s.
"""

from __future__ import annotations

from fivesafes.governance.errors import NotPermitted
from fivesafes.governance.people import Actor
from fivesafes.governance.roles import Role, node_scope
from fivesafes.protocol.errors import Forbidden, NotFoundOrNoPermission


def _runs_node(actor: Actor, node: str) -> bool:
    scope = node_scope(node)
    return actor.account.holds(Role.CUSTODIAN, scope) or actor.account.holds(Role.TRE_ADMIN, scope)


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
