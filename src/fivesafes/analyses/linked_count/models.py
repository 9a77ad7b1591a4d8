"""The wire models of a linked count: its parts (a cohort at each node), what a node sends
(its part as a blinded set, for the hub's combination only) and the gated count."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from fivesafes.analyses.parameters import CohortDefinition
from fivesafes.analyses.results.combined import NodeName, Nodes, ProfileName
from fivesafes.protocol.models import GateRecord, ReleasedCount, Strict

MAX_PARTS = 4
VALUE_BYTES = 8  # a blinded person: 64 bits (two persons alike by chance: ~n^2 / 2^65)
MAX_SENT = 90_000  # values in one node's part: ~0.96 MB in base64, under 1 MiB a request
PAD_TO = 10  # a part is padded with random values to a multiple of this: its size is hidden


class LinkedPart(Strict):
    node: NodeName
    cohort: CohortDefinition


class LinkedCountParameters(Strict):
    parts: Annotated[list[LinkedPart], Field(min_length=2, max_length=MAX_PARTS)]

    @model_validator(mode="after")
    def _one_part_per_node(self) -> LinkedCountParameters:
        if len({p.node for p in self.parts}) != len(self.parts):
            raise ValueError("each node has one part of a linked count")
        return self

    def domains(self) -> frozenset[str]:
        read: frozenset[str] = frozenset()
        for part in self.parts:
            if hasattr(part.cohort, "data_domains"):
                read |= part.cohort.data_domains()
        return read


Members = Annotated[str, StringConstraints(max_length=4 * (MAX_SENT * VALUE_BYTES + 2) // 3)]


class LinkedCountOutput(Strict):
    """A node's part: its persons in the part's cohort who are linked in the project, as
    values blinded for this task (base64 of ``VALUE_BYTES`` each, sorted, padded); empty when
    its gate did not pass. The hub reads it to combine, shows only ``gate``, and keeps only
    ``gate`` once the task is combined."""

    members: Members
    gate: GateRecord

    @model_validator(mode="after")
    def _members_only_on_pass(self) -> LinkedCountOutput:
        try:
            raw = base64.b64decode(self.members, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a part's members are not base64") from None
        if len(raw) % VALUE_BYTES:
            raise ValueError("a part's members are not whole values")
        if (self.gate.verdict == "pass") != bool(raw):
            raise ValueError("a part is sent exactly when its verdict is pass")
        return self

    def values(self) -> set[bytes]:
        raw = base64.b64decode(self.members)
        return {raw[i : i + VALUE_BYTES] for i in range(0, len(raw), VALUE_BYTES)}


class LinkedCountCombined(Strict):
    """The number of persons in every part, judged as a count (``LinkedCount.combine``);
    nothing when a part's node did not send one."""

    analysis: Literal["linked_count"]
    count: ReleasedCount
    nodes_contributing: Nodes
    nodes_missing: Nodes
    profile: ProfileName
