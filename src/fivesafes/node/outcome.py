"""What running a task produced at the node, before it is signed and sent."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyroaring import AbstractBitMap, BitMap

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
    # a differencing refusal: the runs (of this project) whose released outputs it combines with
    colliding: tuple[str, ...] = ()


def held_output(
    because: str, output: dict[str, Any], persons: Sequence[AbstractBitMap]
) -> dict[str, Any]:
    """What the node keeps of an output held for review (``runs.held_output``, never sent):
    the output, why it was held, and the persons behind it (every population it would have
    released), so that releasing it through the airlock records them as released
    (``fivesafes.node.airlock``). The persons never go into the request's file."""
    kept = [base64.b64encode(bytes(p.serialize())).decode("ascii") for p in persons]
    return {"held_because": because, "output": output, "persons": kept}


def held_persons(held: dict[str, Any]) -> list[BitMap]:
    """The populations kept with a held output (none for one held before they were kept)."""
    return [BitMap.deserialize(base64.b64decode(p)) for p in held.get("persons") or []]
