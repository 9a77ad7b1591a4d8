"""A project's risk tier, 1 to 4, from what it declares (``governance.risk``), as a table:
the declared factors, the tier, and the reasons shown for it."""

from __future__ import annotations

from datetime import date

import pytest

from fivesafes.governance.people import OrganisationKind as Org
from fivesafes.governance.projects import DataDomain as D
from fivesafes.governance.projects import Linkage as L
from fivesafes.governance.projects import Sensitivity as S
from fivesafes.governance.risk import RiskFactors, risk_tier, tier_of
from fivesafes.protocol.models import ProjectPerson, ProjectRecord


def factors(
    sensitivity=S.STANDARD,
    linkage=L.NONE,
    domains=(D.OMOP,),
    analyses=("count",),
    orgs=(Org.ACADEMIC,),
):
    return RiskFactors(sensitivity, linkage, frozenset(domains), frozenset(analyses), orgs)


TABLE = [
    ("aggregates of routine records, academics", factors(), 1, []),
    ("NHS and charity members", factors(orgs=(Org.NHS, Org.CHARITY)), 1, []),
    ("sensitive records", factors(sensitivity=S.SENSITIVE), 2, ["data sensitivity"]),
    ("a model", factors(analyses=("count", "glm")), 2, ["outputs"]),
    ("imaging", factors(domains=(D.OMOP, D.IMAGING)), 2, ["data domains"]),
    ("a commercial member", factors(orgs=(Org.ACADEMIC, Org.COMMERCIAL)), 2, ["user type"]),
    ("a member's organisation unknown", factors(orgs=(Org.NHS, None)), 2, ["user type"]),
    ("linked across nodes", factors(linkage=L.ACROSS_NODES), 2, ["linkage"]),
    ("linked with external data", factors(linkage=L.EXTERNAL), 3, ["linkage"]),
    ("highly sensitive records", factors(sensitivity=S.HIGHLY_SENSITIVE), 3, ["data sensitivity"]),
    ("two moderate risks stay at 2", factors(sensitivity=S.SENSITIVE, analyses=("glm",)), 2,
     ["data sensitivity", "outputs"]),
    ("three moderate risks make 3",
     factors(sensitivity=S.SENSITIVE, analyses=("coxph",), domains=(D.PATHOLOGY,)), 3,
     ["data sensitivity", "outputs", "data domains", "combination"]),
    ("a tier-3 factor and two more make 4",
     factors(linkage=L.EXTERNAL, analyses=("meta",), orgs=(Org.COMMERCIAL,)), 4,
     ["linkage", "outputs", "user type", "combination"]),
    ("highly sensitive and linked externally is 4 on its own",
     factors(sensitivity=S.HIGHLY_SENSITIVE, linkage=L.EXTERNAL), 4,
     ["data sensitivity", "linkage", "combination"]),
    ("everything at once stays 4",
     factors(S.HIGHLY_SENSITIVE, L.EXTERNAL, (D.IMAGING,), ("glm",), (Org.COMMERCIAL,)), 4,
     ["data sensitivity", "linkage", "outputs", "data domains", "user type", "combination"]),
]  # fmt: skip


@pytest.mark.parametrize(("f", "tier", "why"), [t[1:] for t in TABLE], ids=[t[0] for t in TABLE])
def test_risk_tier_table(f, tier, why):
    found = risk_tier(f)
    assert found.tier == tier
    assert [r.factor for r in found.reasons] == why
    assert all(1 <= r.tier <= 4 for r in found.reasons)
    assert found.explain()  # always something to show, even for tier 1


def test_a_signed_record_is_read_the_same_way_at_hub_and_node():
    record = ProjectRecord(
        project_id="p_1",
        title="t",
        version=1,
        start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31),
        members=["alice", "bob"],
        nodes=["north"],
        analyses=["count@1", "glm@1"],
        people=[
            ProjectPerson(username="alice", display_name="A", organisation_kind="academic"),
            ProjectPerson(username="bob", display_name="B", organisation_kind="commercial"),
        ],
    )
    found = tier_of(record)
    assert found.tier == 2
    assert [r.factor for r in found.reasons] == ["outputs", "user type"]
    assert "glm" in found.explain()[0]
