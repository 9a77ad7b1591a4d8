"""The wire models of an imaging extract request: its parameters, what a node tells the hub
(counts only, each through the gate), and what the hub combines."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from fivesafes.analyses.parameters import CohortDefinition
from fivesafes.analyses.results.combined import Nodes, ProfileName
from fivesafes.cohorts.criteria import ImagingCriterion
from fivesafes.imaging.deid.options import OPTION_NAMES
from fivesafes.protocol.models import GateRecord, ReleasedCount, Strict

MAX_REASONS = 64
"""Reasons (or rules) a node may list under one heading: the rejectors, the engine's reasons
and verification's rules are each a few dozen at most."""

Reason = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]
Reasons = Annotated[dict[Reason, ReleasedCount], Field(max_length=MAX_REASONS)]
Option = Annotated[str, StringConstraints(max_length=64)]


class ImagingExtractParameters(Strict):
    """An extract of the imaging of a cohort's persons (``analyses.imaging_extract``): the
    cohort; which of their series (``series``, an imaging criterion without ``exclude`` or
    ``days_from_index``; none: every series of theirs); and the de-identification options
    asked for (names of ``imaging.deid.options``; none: the Basic Profile alone). Each node's
    custodian must have allowed extraction for the project with at least these options."""

    cohort: CohortDefinition
    series: ImagingCriterion | None = None
    options: Annotated[tuple[Option, ...], Field(max_length=len(OPTION_NAMES))] = ()

    @field_validator("series")
    @classmethod
    def _series_alone(cls, series: ImagingCriterion | None) -> ImagingCriterion | None:
        if series is not None and (series.exclude or series.days_from_index is not None):
            raise ValueError(
                "the series of an extract are chosen by what they are and when (a window), "
                "not by exclusion or by days from an index date"
            )
        return series

    @field_validator("options")
    @classmethod
    def _known_options(cls, options: tuple[str, ...]) -> tuple[str, ...]:
        if any(option not in OPTION_NAMES for option in options):
            known = ", ".join(sorted(OPTION_NAMES))
            raise ValueError(f"unknown de-identification option; the options are: {known}")
        if len(set(options)) != len(options):
            raise ValueError("each de-identification option is named once")
        return tuple(sorted(options))


class ExtractFigures(Strict):
    """An extract's files, each figure judged as a table cell (released rounded, or a
    marker): every file considered, those written (de-identified and verified), and those not
    written by why (rejected by the rejector's reason, failed verification by its rule,
    unreadable by reason); duplicates of an instance already written, and instances read
    through DICOMweb (no file at the node: not extracted)."""

    files: ReleasedCount
    written: ReleasedCount
    rejected: Reasons
    failed_verification: Reasons
    unreadable: Reasons
    duplicates: ReleasedCount
    not_local: ReleasedCount


class ImagingExtractOutput(Strict):
    """What a node tells the hub of the extract it built: the persons whose series were
    chosen (a count through the gate), the series, whether an extract is held at the node for
    its output checkers, and its files' figures. When the persons are suppressed nothing else
    is said: ``held`` and ``figures`` are ``None`` (that an extract is held would say that
    someone was chosen). Never a path, a UID or an image."""

    analysis: Literal["imaging_extract"]
    persons: ReleasedCount
    series: ReleasedCount
    held: bool | None
    figures: ExtractFigures | None
    gate: GateRecord

    @model_validator(mode="after")
    def _figures_only_when_released(self) -> ImagingExtractOutput:
        released = not self.persons.suppressed
        if (self.gate.verdict == "pass") != released:
            raise ValueError("an extract's figures are released exactly when it passed")
        said = self.figures is not None or self.held is not None or not self.series.suppressed
        if not released and said:
            raise ValueError("an extract of suppressed persons says nothing else")
        if released and self.held is None:
            raise ValueError("an extract of released persons says whether it is held")
        return self


class ImagingExtractCombined(Strict):
    """The nodes' answers side by side, and the persons and written files summed over the
    nodes that released them (each sum judged again): where extracts are held (each node's
    output checkers release theirs inside that node)."""

    analysis: Literal["imaging_extract"]
    persons: ReleasedCount
    written: ReleasedCount
    nodes_holding: Nodes
    nodes_contributing: Nodes
    nodes_missing: Nodes
    profile: ProfileName
