"""Safe people and projects, rule by rule, as tables: accreditation, project dates, lockout,
passwords, which edits make a new project version, analysis references, roles and scopes."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest

from fivesafes.analyses.registry import REGISTRY
from fivesafes.governance import analyses as refs
from fivesafes.governance import policies
from fivesafes.governance.errors import AccreditationExpired, ProjectNotActive
from fivesafes.governance.projects import (
    DataDomain,
    Linkage,
    ProjectTerms,
    Sensitivity,
    changed_fields,
    check_terms,
    needs_new_version,
)
from fivesafes.governance.roles import HUB, Role, Scope, grant, node_scope
from fivesafes.governance.tokens import ALL_ACTIONS, Action, actions
from fivesafes.protocol.errors import InvalidRequest

TODAY = date(2026, 6, 1)

# ---- accreditation and dates --------------------------------------------------------------

ACCREDITATION = [
    ("valid for months", date(2026, 12, 31), True),
    ("expires today: still valid", TODAY, True),
    ("expired yesterday", date(2026, 5, 31), False),
    ("never recorded", None, False),
]


@pytest.mark.parametrize(
    ("until", "valid"), [c[1:] for c in ACCREDITATION], ids=[c[0] for c in ACCREDITATION]
)
def test_accreditation(until, valid):
    assert policies.can_be_accredited(until, TODAY) is valid
    if not valid:
        with pytest.raises(AccreditationExpired) as raised:
            policies.check_accredited(until, TODAY)
        assert raised.value.code == "accreditation_expired" and raised.value.status == 403


DATES = [
    ("running", date(2026, 1, 1), date(2026, 12, 31), True),
    ("first day", TODAY, date(2026, 12, 31), True),
    ("last day", date(2026, 1, 1), TODAY, True),
    ("not started", date(2026, 6, 2), date(2026, 12, 31), False),
    ("ended", date(2026, 1, 1), date(2026, 5, 31), False),
]


@pytest.mark.parametrize(
    ("start", "end", "runs"), [c[1:] for c in DATES], ids=[c[0] for c in DATES]
)
def test_project_dates(start, end, runs):
    assert policies.can_project_run(start, end, TODAY) is runs
    if not runs:
        with pytest.raises(ProjectNotActive):
            policies.check_project_active(start, end, TODAY)


# ---- logins -------------------------------------------------------------------------------

BASE = timedelta(minutes=15)
LOCKOUT = [
    (1, None),
    (4, None),
    (5, timedelta(minutes=15)),
    (6, None),
    (10, timedelta(minutes=30)),
    (15, timedelta(minutes=60)),
    (35, timedelta(hours=16)),  # the 7th lock: 15 min x 2^6
    (40, timedelta(days=1)),  # 32 h, capped at a day from here on
    (500, timedelta(days=1)),
]


@pytest.mark.parametrize(("failures", "locked_for"), LOCKOUT)
def test_lockout_after_consecutive_failures(failures, locked_for):
    assert policies.lockout_after(failures, 5, BASE) == locked_for


PASSWORDS = [
    ("long enough", "correct horse battery", True),
    ("too short", "short", False),
    ("the username", "alice-smith-1", False),
    ("too long", "x" * 1025, False),
]


@pytest.mark.parametrize(
    ("password", "ok"), [c[1:] for c in PASSWORDS], ids=[c[0] for c in PASSWORDS]
)
def test_passwords_are_judged_by_length_only(password, ok):
    assert policies.can_use_password(password, username="alice-smith-1", min_length=12) is ok


# ---- project versions -----------------------------------------------------------------------

TERMS = ProjectTerms(
    title="Lung cancer",
    lay_summary="Who gets lung cancer",
    purpose="Incidence by smoking",
    public_benefit="Better screening",
    pi="alice",
    members=frozenset({"alice", "bob"}),
    nodes=frozenset({"north"}),
    data_domains=frozenset({DataDomain.OMOP}),
    analyses=frozenset({"count@1"}),
    start_date=date(2026, 1, 1),
    end_date=date(2026, 12, 31),
)
EDITS = [
    ("title", {"title": "Lung cancer in smokers"}, False),
    ("lay summary", {"lay_summary": "Plainer words"}, False),
    ("purpose", {"purpose": "Survival too"}, True),
    ("public benefit", {"public_benefit": "More"}, True),
    ("PI", {"pi": "bob"}, True),
    ("a member added", {"members": frozenset({"alice", "bob", "carol"})}, True),
    ("a node added", {"nodes": frozenset({"north", "south"})}, True),
    ("a data domain", {"data_domains": frozenset({DataDomain.OMOP, DataDomain.IMAGING})}, True),
    ("an analysis", {"analyses": frozenset({"count@1", "glm@1"})}, True),
    ("start date", {"start_date": date(2026, 2, 1)}, True),
    ("end date (ending early)", {"end_date": date(2026, 6, 1)}, True),
    ("sensitivity", {"sensitivity": Sensitivity.SENSITIVE}, True),
    ("linkage", {"linkage": Linkage.EXTERNAL}, True),
    ("title and members", {"title": "X", "members": frozenset({"alice"})}, True),
    ("nothing", {}, False),
]


@pytest.mark.parametrize(
    ("change", "new_version"), [c[1:] for c in EDITS], ids=[c[0] for c in EDITS]
)
def test_which_edits_make_a_new_version(change, new_version):
    edited = dataclasses.replace(TERMS, **change)
    changed = changed_fields(TERMS, edited)
    assert set(changed) == set(change)
    assert needs_new_version(changed) is new_version


INVALID = [
    ("no title", {"title": " "}, "title"),
    ("ends before it starts", {"end_date": date(2025, 12, 31)}, "end before"),
    ("no node", {"nodes": frozenset()}, "node"),
    ("no member", {"members": frozenset(), "pi": None}, "member"),
    ("a PI who is not a member", {"pi": "carol"}, "principal investigator"),
    ("no data domain", {"data_domains": frozenset()}, "domain"),
    ("no analysis", {"analyses": frozenset()}, "analysis"),
    ("a purpose too long", {"purpose": "x" * 5001}, "purpose"),
]


@pytest.mark.parametrize(("change", "says"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_terms_that_make_no_project(change, says):
    with pytest.raises(InvalidRequest) as raised:
        check_terms(dataclasses.replace(TERMS, **change))
    assert says in raised.value.message


# ---- analyses, roles, tokens ------------------------------------------------------------------


def test_every_analysis_has_a_version_and_references_name_it():
    assert set(REGISTRY.versions()) == set(REGISTRY.names())
    assert refs.parse_ref("glm") == refs.AnalysisRef("glm", 1) == refs.parse_ref("glm@1")
    assert str(refs.parse_ref("km")) == "km@1"
    assert refs.allows(["glm@1", "count@1"], "glm", 1)
    assert not refs.allows(["glm@1"], "glm", 2) and not refs.allows(["glm@1"], "count", 1)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("glm@2", "This release runs glm@1"),
        ("nonsense", "Unknown analysis"),
        ("GLM", "name@version"),
        ("code@sha256:" + "0" * 64, "not supported yet"),  # the extension point, not built
    ],
)
def test_analysis_references_that_are_refused(text, says):
    with pytest.raises(InvalidRequest) as raised:
        refs.parse_ref(text)
    assert says in raised.value.message


ROLES = [
    ("researcher", HUB, True),
    ("hub_admin", HUB, True),
    ("output_checker", HUB, True),
    ("custodian", HUB, False),
    ("tre_admin", HUB, False),
    ("custodian", node_scope("north"), True),
    ("tre_admin", node_scope("north"), True),
    ("output_checker", node_scope("north"), True),
    ("researcher", node_scope("north"), False),
    ("hub_admin", node_scope("north"), False),
]


@pytest.mark.parametrize(("role", "scope", "ok"), ROLES, ids=[f"{r}@{s}" for r, s, _ in ROLES])
def test_where_each_role_is_held(role, scope, ok):
    if ok:
        assert grant(role, scope).role is Role(role)
    else:
        with pytest.raises(InvalidRequest):
            grant(role, scope)


def test_scopes_and_token_actions_parse_and_refuse():
    assert Scope.parse("hub") == HUB and Scope.parse("node:north") == node_scope("north")
    assert str(node_scope("north")) == "node:north"
    for bad in ("node:", "nodes:north", "everywhere"):
        with pytest.raises(InvalidRequest):
            Scope.parse(bad)
    assert actions(["tasks:submit"]) == {Action.TASKS_SUBMIT}
    assert set(Action) == ALL_ACTIONS
    for bad in (["tasks:delete"], []):
        with pytest.raises(InvalidRequest):
            actions(bad)
    with pytest.raises(InvalidRequest):
        grant("superuser", HUB)
