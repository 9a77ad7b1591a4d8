"""The wire models of a characterisation: its parameters, what a node releases, and what the
hub sums."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from fivesafes.analyses.cells import PooledCells
from fivesafes.analyses.parameters import CohortDefinition
from fivesafes.analyses.results.combined import Nodes, ProfileName
from fivesafes.protocol.models import CrosstabCell, GateRecord, ReleasedCount, Strict

CharacteriseDomain = Literal["condition", "drug", "measurement", "procedure", "observation"]


class CharacteriseParameters(Strict):
    """Age bands, sex and the most recorded concepts of a cohort
    (``fivesafes.analyses.characterise``)."""

    cohort: CohortDefinition
    top: Annotated[int, Field(ge=1, le=50)] = 10
    window_days: Annotated[int, Field(ge=1, le=3650)] = 365
    domains: Annotated[list[CharacteriseDomain], Field(min_length=1, max_length=5)] = [
        "condition",
        "drug",
        "measurement",
    ]


class ConceptCount(Strict):
    """A concept recorded for at least the threshold of a cohort's persons, and how many."""

    concept_id: Annotated[int, Field(ge=1)]
    name: Annotated[str, StringConstraints(max_length=200)]
    count: ReleasedCount

    @model_validator(mode="after")
    def _released(self) -> ConceptCount:
        if self.count.suppressed:
            raise ValueError("a listed concept has a released count")
        return self


class CharacteriseOutput(Strict):
    """A cohort's size, age bands and sex (one-way tables) and its top concepts per domain."""

    count: ReleasedCount
    age: Annotated[list[CrosstabCell], Field(max_length=20)]
    sex: Annotated[list[CrosstabCell], Field(max_length=5)]
    concepts: dict[CharacteriseDomain, Annotated[list[ConceptCount], Field(max_length=50)]]
    gate: GateRecord

    @model_validator(mode="after")
    def _released_only_on_pass(self) -> CharacteriseOutput:
        released = not self.count.suppressed
        if (self.gate.verdict == "pass") != released:
            raise ValueError("a characterisation releases figures exactly when it passed")
        if not released and (
            any(not c.count.suppressed for c in [*self.age, *self.sex])
            or any(self.concepts.values())
        ):
            raise ValueError("a characterisation of a suppressed cohort releases nothing")
        return self


class PooledConcept(Strict):
    """A concept of some node's list, its counts summed and judged again; the nodes whose
    list did not name it (their count is not in the sum)."""

    concept_id: Annotated[int, Field(ge=1)]
    name: Annotated[str, StringConstraints(max_length=200)]
    count: ReleasedCount
    nodes_not_listing: Nodes


class CharacteriseCombined(Strict):
    """The cohort's size, age bands and sex summed over the nodes (each sum judged again),
    and per domain the pooled top concepts (``characterise.node.combine``)."""

    analysis: Literal["characterise"]
    count: ReleasedCount
    age: PooledCells
    sex: PooledCells
    concepts: dict[CharacteriseDomain, Annotated[list[PooledConcept], Field(max_length=50)]]
    nodes_contributing: Nodes
    nodes_suppressed: Nodes
    nodes_missing: Nodes
    profile: ProfileName
