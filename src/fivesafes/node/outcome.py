"""What running a task produced at the node, before it is signed and sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyroaring import AbstractBitMap

from fivesafes.protocol.runs import ReasonCode


@dataclass(frozen=True)
class Release:
    """What the node remembers of a released output: its key and the persons behind it, and
    any other population it released (an attrition's earlier steps), each remembered beside
    it for the differencing check and the patient data account."""

    output_key: str
    persons: AbstractBitMap
    also: tuple[AbstractBitMap, ...] = ()


@dataclass(frozen=True)
class Outcome:
    status: str  # succeeded | refused | failed
    reason: ReasonCode | None = None
    output: dict[str, Any] | None = None
    unknown_concepts: list[int] | None = None
    release: Release | None = None
    # an output held for review, kept at the node (never sent) so that it can become a release
    # request in the node's airlock (fivesafes.node.airlock)
    held: dict[str, Any] | None = None
