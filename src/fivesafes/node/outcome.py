"""What running a task produced at the node, before it is signed and sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fivesafes.protocol.runs import ReasonCode


@dataclass(frozen=True)
class Outcome:
    status: str  # succeeded | refused | failed
    reason: ReasonCode | None = None
    output: dict[str, Any] | None = None
    unknown_concepts: list[int] | None = None
