"""A project's risk tier, 1 (lowest) to 4, from what the project declares, with the reasons.

In the spirit of PRiAM (proportionate risk assessment of data access): each factor of a
project is placed in a tier on its own; the project's tier is the highest of them, one higher
when three or more factors each carry some risk (tier 2 or above), and 4 when highly
sensitive records are linked with data from outside. A custodian may ask more of a higher
tier, e.g. that every output of the project waits for an output checker
(``outputs_to_airlock`` in the node's approval).

| factor           | tier 1                        | tier 2                             | tier 3   |
| ---------------- | ----------------------------- | ---------------------------------- | -------- |
| data sensitivity | standard                      | sensitive                          | highly   |
| linkage          | none                          | across the federation's nodes      | external |
| outputs          | aggregates (counts, tables)   | models (exact sums of persons)     |          |
| data domains     | OMOP records                  | imaging, pathology (can identify)  |          |
| user type        | NHS, academic, govt., charity | commercial, or not recorded        |          |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fivesafes.analyses.registry import REGISTRY
from fivesafes.governance.people import OrganisationKind
from fivesafes.governance.projects import DataDomain, Linkage, Sensitivity

if TYPE_CHECKING:
    from fivesafes.protocol.models import ProjectRecord

PUBLIC_SECTOR = frozenset(
    {
        OrganisationKind.NHS,
        OrganisationKind.ACADEMIC,
        OrganisationKind.GOVERNMENT,
        OrganisationKind.CHARITY,
    }
)


@dataclass(frozen=True)
class RiskFactors:
    sensitivity: Sensitivity
    linkage: Linkage
    data_domains: frozenset[DataDomain]
    analyses: frozenset[str]  # analysis names (versions do not change the risk)
    organisation_kinds: tuple[OrganisationKind | None, ...]  # one per member; None: unknown


@dataclass(frozen=True)
class Reason:
    factor: str
    tier: int
    why: str

    def __str__(self) -> str:
        return f"tier {self.tier} ({self.factor}): {self.why}"


@dataclass(frozen=True)
class RiskTier:
    tier: int
    reasons: tuple[Reason, ...]  # every factor above tier 1, then any combination rule

    def explain(self) -> list[str]:
        return [str(r) for r in self.reasons] or ["tier 1: no factor carries extra risk"]


def _factors(f: RiskFactors) -> list[Reason]:
    found: list[Reason] = []
    if f.sensitivity is Sensitivity.HIGHLY_SENSITIVE:
        found.append(Reason("data sensitivity", 3, "highly sensitive records"))
    elif f.sensitivity is Sensitivity.SENSITIVE:
        found.append(Reason("data sensitivity", 2, "sensitive records"))
    if f.linkage is Linkage.EXTERNAL:
        found.append(Reason("linkage", 3, "records linked with data from outside the federation"))
    elif f.linkage is Linkage.ACROSS_NODES:
        found.append(Reason("linkage", 2, "records linked across the federation's nodes"))
    models = sorted(name for name in f.analyses if _fits_a_model(name))
    if models:
        found.append(
            Reason("outputs", 2, f"model outputs ({', '.join(models)}) hold exact sums of persons")
        )
    images = sorted(d.value for d in f.data_domains if d is not DataDomain.OMOP)
    if images:
        found.append(Reason("data domains", 2, f"{' and '.join(images)} images can identify"))
    if any(kind is OrganisationKind.COMMERCIAL for kind in f.organisation_kinds):
        found.append(Reason("user type", 2, "a member works for a commercial organisation"))
    elif any(kind is None for kind in f.organisation_kinds):
        found.append(Reason("user type", 2, "a member's organisation is not recorded"))
    return found


def risk_tier(factors: RiskFactors) -> RiskTier:
    reasons = _factors(factors)
    tier = max((r.tier for r in reasons), default=1)
    if factors.sensitivity is Sensitivity.HIGHLY_SENSITIVE and factors.linkage is Linkage.EXTERNAL:
        tier = 4
        reasons.append(
            Reason("combination", 4, "highly sensitive records linked with external data")
        )
    elif sum(1 for r in reasons if r.tier >= 2) >= 3 and tier < 4:
        tier += 1
        reasons.append(Reason("combination", tier, "three or more factors carry risk together"))
    return RiskTier(tier, tuple(reasons))


def analysis_names(references: Iterable[str]) -> frozenset[str]:
    return frozenset(ref.split("@", 1)[0] for ref in references)


def factors_of(record: ProjectRecord) -> RiskFactors:
    """A signed project record's risk factors (the hub and each node read the same record)."""
    kinds: dict[str, OrganisationKind | None] = {}
    for person in record.people:
        try:
            kinds[person.username] = OrganisationKind(person.organisation_kind or "")
        except ValueError:
            kinds[person.username] = None
    return RiskFactors(
        sensitivity=Sensitivity(record.sensitivity),
        linkage=Linkage(record.linkage),
        data_domains=frozenset(DataDomain(d) for d in record.data_domains),
        analyses=analysis_names(record.analyses),
        organisation_kinds=tuple(kinds.get(member) for member in record.members),
    )


def tier_of(record: ProjectRecord) -> RiskTier:
    return risk_tier(factors_of(record))


def _fits_a_model(name: str) -> bool:
    """Whether the analysis ``name`` releases a model (exact sums of persons)."""
    analysis = REGISTRY.get(name)
    return analysis is not None and analysis.fits_a_model
