"""Disclosure-control profiles: the thresholds a node's gate applies.

A profile is read from the node's (or hub's) configuration once, at start-up, and is immutable.
Nothing in a task can name or loosen it; two profiles in one process never share state.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GateProfile(BaseModel):
    """Thresholds for released counts.

    ``threshold``: a count of distinct persons below this is suppressed (zero included).
    ``rounding_base``: counts at or above the threshold are rounded to this base, ties up.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    threshold: int = Field(default=10, ge=1, le=1_000_000)
    rounding_base: int = Field(default=10, ge=1, le=1_000_000)
