"""What the pool's tests share: a person's link id and the nodes' shared-key date shift as the
tests make them, the pooled CDM opened as a node opens it, and the analysis frame by link id, so
that a pool's frame can be held against each source node's."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from fivesafes.analyses.variables import analysis_frame
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource, OmopDatabase


def link(person: int) -> str:
    """A link id for ``person`` (as a linkage run would give one: ``lk_`` and 16 hex digits)."""
    return "lk_" + hashlib.sha256(f"person {person}".encode()).hexdigest()[:16]


def keyed_shift(link_id: str) -> int:
    """The nodes' shared-key shift: within a year either way, the same at every node."""
    return int(hashlib.sha256(b"shared key" + link_id.encode()).hexdigest(), 16) % 731 - 365


def open_cdm(path: Path) -> OmopDatabase:
    return open_omop(DuckDBSource(engine="duckdb", path=path))


def frame(
    db: OmopDatabase, cohort: dict, names: dict[int, str], variables: list[str]
) -> dict[str, dict[str, float]]:
    """Each variable of the analysis frame by link id, for the persons ``names`` names."""
    made = analysis_frame(db, Cohort.model_validate(cohort), variables)
    ids = [int(p) for p in made.person_ids]
    return {
        variable: {names[p]: float(v) for p, v in zip(ids, values, strict=True) if p in names}
        for variable, values in made.columns.items()
    }


def differing(a: dict[str, float], b: dict[str, float]) -> list[str]:
    """The link ids whose values differ (two missing values are equal)."""
    assert a.keys() == b.keys()
    return [k for k in a if not (a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])))]
