"""The wire models of an imaging summary: its parameters, what a node releases, and what the
hub pools."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from fivesafes.analyses.parameters import CohortDefinition
from fivesafes.analyses.results.combined import Nodes, ProfileName
from fivesafes.protocol.models import GateRecord, ReleasedCount, Strict

Scope = Literal["every series of the cohort's persons"]
"""What is summarised (``fivesafes.imaging.summary.SCOPE``): all their series, not only those
matching the cohort's imaging criteria."""

MAX_KINDS = 3000
"""Kinds a node may list: its labels are closed vocabularies (59 modalities of DICOM, other
and unknown; 14 body parts, other and unknown; 3 contrast values: 61 * 16 * 3 = 2,928)."""
MAX_YEARS = 250
"""Years a node may list (dated from 1895, when the first radiograph was taken, and
``unknown``)."""

Term = Annotated[str, StringConstraints(pattern=r"^[A-Z]{1,16}$|^other$|^unknown$")]
Year = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$|^unknown$")]
Contrast = Literal["yes", "no", "unknown"]
Tally = Annotated[int, Field(ge=0)]


class ImagingSummaryParameters(Strict):
    """What imaging a cohort's persons have (``fivesafes.analyses.imaging_summary``): the
    cohort, and nothing else (the groupings, the labels and the gate are fixed)."""

    cohort: CohortDefinition


class Group(Strict):
    """A group's released figures: its distinct persons judged as a table cell (released,
    rounded: a group under the threshold is not listed), its series and studies rounded to
    the profile's base."""

    persons: ReleasedCount
    series: Tally
    studies: Tally

    @model_validator(mode="after")
    def _listed_only_when_released(self) -> Group:
        if self.persons.suppressed:
            raise ValueError("a group is listed only with its persons released")
        return self


class KindGroup(Group):
    """Series of one modality, body part and contrast."""

    modality: Term
    body_part: Term
    contrast: Contrast


class YearGroup(Group):
    """Series of one year (of the series date, else the study date)."""

    year: Year


Kinds = Annotated[list[KindGroup], Field(max_length=MAX_KINDS)]
Years = Annotated[list[YearGroup], Field(max_length=MAX_YEARS)]


class ImagingSummaryOutput(Strict):
    """A node's released summary: the cohort's persons with any series (a count), and the
    groups each holding at least the threshold of them. Released only with that count;
    ``fail`` releases nothing."""

    scope: Scope
    persons: ReleasedCount
    kinds: Kinds
    years: Years
    gate: GateRecord

    @model_validator(mode="after")
    def _released_only_on_pass(self) -> ImagingSummaryOutput:
        released = not self.persons.suppressed
        if (self.gate.verdict == "pass") != released:
            raise ValueError("an imaging summary releases figures exactly when it passed")
        if not released and (self.kinds or self.years):
            raise ValueError("an imaging summary of suppressed persons lists no group")
        return self


class Pooled(Group):
    """A group summed over the nodes that listed it, judged again (a sum the hub's gate would
    hide is not listed); the nodes that did not list it (theirs is under their threshold, or
    none) are named: the sums are then lower bounds."""

    nodes_not_listing: Nodes


class PooledKind(Pooled):
    modality: Term
    body_part: Term
    contrast: Contrast


class PooledYear(Pooled):
    year: Year


class ImagingSummaryCombined(Strict):
    """The persons with any series and every group, summed over the nodes that released them
    (each sum judged again; ``imaging_summary.hub``)."""

    analysis: Literal["imaging_summary"]
    scope: Scope
    persons: ReleasedCount
    kinds: Annotated[list[PooledKind], Field(max_length=MAX_KINDS)]
    years: Annotated[list[PooledYear], Field(max_length=MAX_YEARS)]
    nodes_contributing: Nodes
    nodes_missing: Nodes
    profile: ProfileName
