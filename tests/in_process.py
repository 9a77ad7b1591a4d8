"""A node's and the hub's parts of an analysis run in this process on given values: for
property tests that need thousands of splits. The runner's own gate and the hub's own
combination run; only the database and the network are left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from fivesafes.analyses.registry import REGISTRY
from fivesafes.analyses.summary import Described, VariableValues
from fivesafes.hub import combination
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.runner import Computed, gate
from fivesafes.protocol.models import TaskPayload
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.profiles import Profile

ISSUED = datetime(2026, 6, 1, tzinfo=UTC)


def regate(analysis: str, output: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """A node's output as the hub passes it on (the analysis's own hub part)."""
    return REGISTRY[analysis].regate(output, profile)


def combine(
    analysis: str, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
) -> dict[str, Any]:
    """The hub's combination of re-gated outputs (the analysis's own hub part, its result
    validated as the analysis's combined type as the hub stores it)."""
    return combination.combined(REGISTRY[analysis], outputs, missing, profile)


def task_payload(analysis: str, parameters: dict[str, Any], n: int = 1) -> TaskPayload:
    """A signed task's payload as a node reads it, for project ``p``, asked by alice."""
    return TaskPayload(
        task_id=f"t{n}",
        project_id="p",
        project_version=1,
        requester="alice",
        analysis=analysis,
        parameters=parameters,
        targets=["n"],
        issued_at=ISSUED,
        expires_at=ISSUED + timedelta(minutes=1),
    )


def summary_output(
    values: np.ndarray, missing: int, edges: list[float], profile: Profile, first_id: int = 1
) -> dict[str, Any]:
    """A node's released summary of ``values`` (persons ``first_id``, ``first_id + 1``, ...)."""
    ids = np.arange(first_id, first_id + len(values), dtype=np.int64)
    found = VariableValues(person_set(ids), ids, np.asarray(values, dtype=float), missing)
    computed = Computed(found.contributors, Described("age", edges, [(None, found)]))
    outcome = gate("p", "k", REGISTRY["summary"], computed, profile, InMemoryPersonSetStore())
    assert outcome.status == "succeeded", outcome
    assert outcome.output is not None
    return outcome.output


def pooled_summary(
    parts: list[np.ndarray], edges: list[float], profile: Profile, missing: list[int] | None = None
) -> dict[str, Any]:
    """Each part a node's values: every node's gate, the hub's gate again, the combination."""
    outputs, first = {}, 1
    for k, values in enumerate(parts):
        output = summary_output(values, (missing or [0] * len(parts))[k], edges, profile, first)
        outputs[f"n{k}"] = regate("summary", output, profile)
        first += len(values)
    return combine("summary", outputs, [], profile)
