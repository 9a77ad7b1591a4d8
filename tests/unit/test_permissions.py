"""Who may act (``governance.permissions``), as a table: each row an actor, an action on a
project, and the answer. Outsiders get "not found", never "forbidden"."""

from __future__ import annotations

from datetime import date

import pytest

from fivesafes.governance import permissions as p
from fivesafes.governance.errors import AccreditationExpired, InsufficientScope, NotPermitted
from fivesafes.governance.people import Account, Actor, via_token
from fivesafes.governance.roles import HUB, Grant, Role, node_scope
from fivesafes.governance.tokens import ALL_ACTIONS, Action, TokenScope
from fivesafes.protocol.errors import NotFoundOrNoPermission

TODAY = date(2026, 6, 1)
VALID = date(2026, 12, 31)
EXPIRED = date(2026, 5, 31)
PROJECT = p.ProjectAccess("p_1", pi="alice", members=frozenset({"alice", "bob", "erin"}))


def person(name, *roles, accredited=VALID, scope=HUB):
    grants = frozenset(Grant(Role(r), scope) for r in roles)
    return Actor(Account(id=hash(name) % 1000, username=name, display_name=name,
                         accredited_until=accredited, grants=grants))  # fmt: skip


def token(actor, *actions, project=None):
    return via_token(actor.account, TokenScope(frozenset(Action(a) for a in actions), project))


ALICE = person("alice", "researcher")  # the PI
BOB = person("bob", "researcher")  # a member
ERIN = person("erin", "researcher", accredited=EXPIRED)  # a member, accreditation expired
CAROL = person("carol", "researcher")  # not a member
ADMIN = person("root", "hub_admin", accredited=None)  # not a member
CHECKER = person("olga", "output_checker", accredited=None)
NOBODY = person("nemo")  # an account holding no role
BOB_READ_ONLY = token(BOB, "projects:read", "tasks:read")
BOB_OTHER_PROJECT = token(BOB, *ALL_ACTIONS, project="p_2")
BOB_THIS_PROJECT = token(BOB, *ALL_ACTIONS, project="p_1")

OK = None
NOT_FOUND = NotFoundOrNoPermission
FORBIDDEN = NotPermitted
SCOPE = InsufficientScope
EXPIRED_ACCREDITATION = AccreditationExpired

# (actor, see project, edit project, submit a task, read a task, create a project)
TABLE = [
    ("PI", ALICE, OK, OK, OK, OK, OK),
    ("member", BOB, OK, FORBIDDEN, OK, OK, OK),
    ("member, accreditation expired", ERIN, OK, FORBIDDEN, EXPIRED_ACCREDITATION, OK,
     EXPIRED_ACCREDITATION),
    ("researcher outside the project", CAROL, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, OK),
    ("hub admin", ADMIN, OK, OK, FORBIDDEN, NOT_FOUND, OK),
    ("output checker", CHECKER, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, FORBIDDEN),
    ("account without a role", NOBODY, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, FORBIDDEN),
    ("member's read-only token", BOB_READ_ONLY, OK, SCOPE, SCOPE, OK, SCOPE),
    ("member's token for another project", BOB_OTHER_PROJECT, NOT_FOUND, NOT_FOUND, NOT_FOUND,
     NOT_FOUND, SCOPE),
    ("member's token for this project", BOB_THIS_PROJECT, OK, FORBIDDEN, OK, OK, SCOPE),
]  # fmt: skip

CHECKS = {
    "see": lambda a: p.check_see_project(a, PROJECT),
    "edit": lambda a: p.check_edit_project(a, PROJECT),
    "submit": lambda a: p.check_submit_task(a, PROJECT, TODAY),
    "read task": lambda a: p.check_read_task(a, PROJECT),
    "create": lambda a: p.check_create_project(a, TODAY),
}
CANS = {
    "see": lambda a: p.can_see_project(a, PROJECT),
    "edit": lambda a: p.can_edit_project(a, PROJECT),
    "submit": lambda a: p.can_submit_task(a, PROJECT, TODAY),
    "read task": lambda a: p.can_read_task(a, PROJECT),
    "create": lambda a: p.can_create_project(a, TODAY),
}
CASES = [
    pytest.param(actor, action, expected, id=f"{who}: {action}")
    for who, actor, *answers in TABLE
    for action, expected in zip(CHECKS, answers, strict=True)
]


@pytest.mark.parametrize(("actor", "action", "expected"), CASES)
def test_permission_table(actor, action, expected):
    if expected is None:
        CHECKS[action](actor)
        assert CANS[action](actor)
    else:
        with pytest.raises(expected) as raised:
            CHECKS[action](actor)
        assert type(raised.value) is expected
        assert not CANS[action](actor)


def test_outsiders_get_not_found_for_an_absent_project_and_another_ones_alike():
    absent = p.ProjectAccess("p_404", pi=None, members=frozenset())
    errors = []
    for project in (PROJECT, absent):
        with pytest.raises(NotFoundOrNoPermission) as raised:
            p.check_see_project(CAROL, project)
        errors.append(raised.value.body())
    assert errors[0] == errors[1]


NODE = node_scope("north")
CUSTODIAN = person("cora", "custodian", scope=NODE)
TRE_ADMIN = person("tom", "tre_admin", scope=NODE)
CUSTODIAN_ELSEWHERE = person("sam", "custodian", scope=node_scope("south"))
NODE_CHECKER = person("otto", "output_checker", scope=NODE)

# (actor, decide (approve/reject), revoke, manage the node's accounts, see the node's approvals
#  queue and audit log in its portal, look up a patient data account)
NODE_TABLE = [
    ("custodian", CUSTODIAN, True, True, False, True, True),
    ("TRE admin", TRE_ADMIN, False, True, True, True, False),
    ("custodian of another node", CUSTODIAN_ELSEWHERE, False, False, False, False, False),
    ("output checker", NODE_CHECKER, False, False, False, False, False),
    ("hub admin", ADMIN, False, False, False, False, False),
]


@pytest.mark.parametrize(
    ("actor", "decide", "revoke", "manage", "see", "patient"),
    [t[1:] for t in NODE_TABLE],
    ids=[t[0] for t in NODE_TABLE],
)
def test_node_permission_table(actor, decide, revoke, manage, see, patient):
    assert p.can_decide_project(actor, "north") is decide
    assert p.can_revoke_project(actor, "north") is revoke
    assert p.can_manage_node_accounts(actor, "north") is manage
    assert p.can_see_node_approvals(actor, "north") is see
    assert p.can_see_node_audit(actor, "north") is see
    assert p.can_look_up_patient_account(actor, "north") is patient
    if not decide:
        with pytest.raises(NotPermitted):
            p.check_decide_project(actor, "north")
    if not patient:
        with pytest.raises(NotPermitted):
            p.check_look_up_patient_account(actor, "north")


def test_four_eyes_an_output_checker_never_reviews_their_own_output():
    both = person("otto", "output_checker", "researcher", scope=NODE)
    assert p.can_review_output(NODE_CHECKER, NODE, author="alice")
    assert not p.can_review_output(both, NODE, author="otto")
    assert not p.can_review_output(CUSTODIAN, NODE, author="alice")
    assert not p.can_review_output(NODE_CHECKER, HUB, author="alice")


def test_only_hub_admins_signed_in_manage_people():
    assert p.can_manage_people(ADMIN)
    assert not p.can_manage_people(ALICE)
    assert not p.can_manage_people(token(ADMIN, *ALL_ACTIONS))
    assert p.can_list_nodes(ALICE) and not p.can_list_nodes(token(BOB, "tasks:read"))
