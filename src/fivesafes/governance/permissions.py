"""Who may act: pure ``check_*`` functions raising a typed error, each with a ``can_*`` twin.

Permission is checked before anything else about a resource, and an outsider to a project
gets :class:`NotFoundOrNoPermission`, the same answer as for a project that does not exist.
Someone who can see the project but may not do this gets a 403 (``forbidden``,
``insufficient_scope``, ``accreditation_expired``). What the project's state allows (dates,
versions) is ``policies``, asked after these.

| action                    | who                                               | outsiders  |
| ------------------------- | ------------------------------------------------- | ---------- |
| see a project             | its members, hub admins                           | not found  |
| create a project          | accredited researchers, hub admins                | -          |
| edit a project            | its PI, hub admins                                | not found  |
| submit a task             | its members holding ``researcher``, accredited    | not found  |
| read a task               | the project's members                             | not found  |
| list nodes                | any account                                       | -          |
| manage people             | hub admins                                        | -          |
| read the hub's audit log  | hub admins                                        | -          |
| approve / reject a project at a node | that node's custodians                 | -          |
| revoke an approval at a node | that node's custodians and TRE admins          | -          |
| manage a node's accounts  | that node's TRE admins                            | -          |
| see a node's approvals queue and audit log | that node's custodians and TRE admins | - |
| look up a patient data account at a node | that node's custodians                | -          |
| review an output          | output checkers of that scope, never its author   | -          |
| see a review study        | the project's members (then its lead and readers) | not found  |
| lead a review study       | its members holding ``researcher``, accredited    | not found  |
| read a study's case       | its members holding ``reviewer``, accredited      | not found  |

An API token narrows all of this to its actions and, if it names one, its project: through a
token for project A, project B does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import ParamSpec

from fivesafes.governance.errors import InsufficientScope, NotPermitted
from fivesafes.governance.people import Actor
from fivesafes.governance.policies import check_accredited
from fivesafes.governance.roles import HUB, Role, Scope, node_scope
from fivesafes.governance.tokens import Action
from fivesafes.protocol.errors import Forbidden, NotFoundOrNoPermission

P = ParamSpec("P")


@dataclass(frozen=True)
class ProjectAccess:
    """What permissions need to know of a project: who is in it."""

    project_id: str
    pi: str | None
    members: frozenset[str]


def _allowed(check: Callable[P, None], *args: P.args, **kwargs: P.kwargs) -> bool:
    try:
        check(*args, **kwargs)
    except (NotFoundOrNoPermission, Forbidden):
        return False
    return True


def _check_action(actor: Actor, action: Action) -> None:
    if actor.scope is not None and not actor.scope.allows(action):
        raise InsufficientScope(f"This API token does not allow {action.value}.")


def _through_token(actor: Actor, project: ProjectAccess) -> bool:
    return actor.scope is None or actor.scope.covers(project.project_id)


def _is_member(actor: Actor, project: ProjectAccess) -> bool:
    return _through_token(actor, project) and actor.username in project.members


def _sees(actor: Actor, project: ProjectAccess) -> bool:
    if not _through_token(actor, project):
        return False
    return actor.username in project.members or actor.account.holds(Role.HUB_ADMIN)


# ---- projects ------------------------------------------------------------------------------


def check_see_project(actor: Actor, project: ProjectAccess) -> None:
    if not _sees(actor, project):
        raise NotFoundOrNoPermission("project")
    _check_action(actor, Action.PROJECTS_READ)


def can_see_project(actor: Actor, project: ProjectAccess) -> bool:
    return _allowed(check_see_project, actor, project)


def check_list_projects(actor: Actor) -> None:
    _check_action(actor, Action.PROJECTS_READ)


def can_list_projects(actor: Actor) -> bool:
    return _allowed(check_list_projects, actor)


def check_create_project(actor: Actor, today: date) -> None:
    _check_action(actor, Action.PROJECTS_WRITE)
    if actor.scope is not None and actor.scope.project_id is not None:
        raise InsufficientScope("A token for one project cannot create another.")
    account = actor.account
    if account.holds(Role.HUB_ADMIN):
        return
    if not account.holds(Role.RESEARCHER):
        raise NotPermitted("Only researchers and hub admins create projects.")
    check_accredited(account.accredited_until, today)


def can_create_project(actor: Actor, today: date) -> bool:
    return _allowed(check_create_project, actor, today)


def check_edit_project(actor: Actor, project: ProjectAccess) -> None:
    if not _sees(actor, project):
        raise NotFoundOrNoPermission("project")
    _check_action(actor, Action.PROJECTS_WRITE)
    if actor.account.holds(Role.HUB_ADMIN):
        return
    if project.pi != actor.username:
        raise NotPermitted("Only the project's principal investigator or a hub admin edits it.")


def can_edit_project(actor: Actor, project: ProjectAccess) -> bool:
    return _allowed(check_edit_project, actor, project)


# ---- tasks ---------------------------------------------------------------------------------


def check_submit_task(actor: Actor, project: ProjectAccess, today: date) -> None:
    """A member holding ``researcher``, accredited today, through a token that may submit."""
    if not _sees(actor, project):
        raise NotFoundOrNoPermission("project")
    if not _is_member(actor, project):
        raise NotPermitted("Only the project's members submit analyses.")
    _check_action(actor, Action.TASKS_SUBMIT)
    if not actor.account.holds(Role.RESEARCHER):
        raise NotPermitted("Only researchers submit analyses.")
    check_accredited(actor.account.accredited_until, today)


def can_submit_task(actor: Actor, project: ProjectAccess, today: date) -> bool:
    return _allowed(check_submit_task, actor, project, today)


def check_read_task(actor: Actor, project: ProjectAccess) -> None:
    """A task and its results: the project's members only (a hub admin is not one)."""
    if not _is_member(actor, project):
        raise NotFoundOrNoPermission("task")
    _check_action(actor, Action.TASKS_READ)


def can_read_task(actor: Actor, project: ProjectAccess) -> bool:
    return _allowed(check_read_task, actor, project)


# ---- review studies (pathology.study; hub/studies.py) -----------------------------------------


def check_see_study(actor: Actor, project: ProjectAccess) -> None:
    """A review study of the project: its members only (the study decides lead or reader)."""
    if not _is_member(actor, project):
        raise NotFoundOrNoPermission("study")
    _check_action(actor, Action.TASKS_READ)


def check_lead_study(actor: Actor, project: ProjectAccess, today: date) -> None:
    """Design, change or run a study: a member holding ``researcher``, accredited today."""
    check_see_study(actor, project)
    _check_action(actor, Action.TASKS_SUBMIT)
    if not actor.account.holds(Role.RESEARCHER):
        raise NotPermitted("Only researchers lead review studies.")
    check_accredited(actor.account.accredited_until, today)


def check_read_case(actor: Actor, project: ProjectAccess, today: date) -> None:
    """A step of one's own read: a member holding ``reviewer``, accredited today."""
    if not _is_member(actor, project):
        raise NotFoundOrNoPermission("case")
    _check_action(actor, Action.TASKS_SUBMIT)
    if not actor.account.holds(Role.REVIEWER):
        raise NotPermitted("Only reviewers read cases in review studies.")
    check_accredited(actor.account.accredited_until, today)


# ---- the federation and people --------------------------------------------------------------


def check_list_nodes(actor: Actor) -> None:
    _check_action(actor, Action.NODES_READ)


def can_list_nodes(actor: Actor) -> bool:
    return _allowed(check_list_nodes, actor)


def check_manage_people(actor: Actor) -> None:
    if actor.scope is not None:
        raise InsufficientScope("People are managed by a hub admin signed in, not by a token.")
    if not actor.account.holds(Role.HUB_ADMIN):
        raise NotPermitted("Only hub admins manage people and organisations.")


def can_manage_people(actor: Actor) -> bool:
    return _allowed(check_manage_people, actor)


def check_read_hub_audit(actor: Actor) -> None:
    """The hub's audit log (who did what, to which project) and whether its chain holds."""
    if not actor.account.holds(Role.HUB_ADMIN):
        raise NotPermitted("Only hub admins read the hub's audit log.")


def can_read_hub_audit(actor: Actor) -> bool:
    return _allowed(check_read_hub_audit, actor)


# ---- at a node ------------------------------------------------------------------------------


def _runs_node(actor: Actor, node: str) -> bool:
    scope = node_scope(node)
    return actor.account.holds(Role.CUSTODIAN, scope) or actor.account.holds(Role.TRE_ADMIN, scope)


def check_decide_project(actor: Actor, node: str) -> None:
    """Approve or reject a project for this node: its custodians."""
    if not actor.account.holds(Role.CUSTODIAN, node_scope(node)):
        raise NotPermitted(f"Only a custodian of {node} approves or rejects projects there.")


def can_decide_project(actor: Actor, node: str) -> bool:
    return _allowed(check_decide_project, actor, node)


def check_revoke_project(actor: Actor, node: str) -> None:
    """Revoking stops everything of a project at this node: its custodians, or its TRE
    admins in an emergency."""
    if not _runs_node(actor, node):
        raise NotPermitted(f"Only a custodian or TRE admin of {node} revokes approvals there.")


def can_revoke_project(actor: Actor, node: str) -> bool:
    return _allowed(check_revoke_project, actor, node)


def check_manage_node_accounts(actor: Actor, node: str) -> None:
    if not actor.account.holds(Role.TRE_ADMIN, node_scope(node)):
        raise NotPermitted(f"Only a TRE admin of {node} manages its accounts.")


def can_manage_node_accounts(actor: Actor, node: str) -> bool:
    return _allowed(check_manage_node_accounts, actor, node)


def check_see_node_approvals(actor: Actor, node: str) -> None:
    """The projects awaiting this node's decision, and its decisions: its custodians (who
    decide) and TRE admins (who may revoke)."""
    if not _runs_node(actor, node):
        raise NotPermitted(f"Only a custodian or TRE admin of {node} sees its approvals.")


def can_see_node_approvals(actor: Actor, node: str) -> bool:
    return _allowed(check_see_node_approvals, actor, node)


def check_see_node_audit(actor: Actor, node: str) -> None:
    """This node's audit log and whether its chain holds: its custodians and TRE admins."""
    if not _runs_node(actor, node):
        raise NotPermitted(f"Only a custodian or TRE admin of {node} reads its audit log.")


def can_see_node_audit(actor: Actor, node: str) -> bool:
    return _allowed(check_see_node_audit, actor, node)


def check_look_up_patient_account(actor: Actor, node: str) -> None:
    """Which projects one person's record contributed to: this node's custodians, who
    answer for its data (each lookup is audited)."""
    if not actor.account.holds(Role.CUSTODIAN, node_scope(node)):
        raise NotPermitted(f"Only a custodian of {node} looks up patient data accounts there.")


def can_look_up_patient_account(actor: Actor, node: str) -> bool:
    return _allowed(check_look_up_patient_account, actor, node)


def check_review_output(actor: Actor, scope: Scope, author: str) -> None:
    """Four eyes: an output checker of this scope, never the output's author."""
    if not actor.account.holds(Role.OUTPUT_CHECKER, scope):
        raise NotPermitted("Only output checkers review outputs.")
    if actor.username == author:
        raise NotPermitted("Nobody reviews their own output.")


def can_review_output(actor: Actor, scope: Scope, author: str) -> bool:
    return _allowed(check_review_output, actor, scope, author)


__all__ = ["HUB", "ProjectAccess"]
