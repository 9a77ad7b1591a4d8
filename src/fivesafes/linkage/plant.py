"""A planted effect *across* hospitals, for the synthetic data that pools are tested on: an
exposure recorded at one hospital drives an outcome recorded at another, for the persons the
two share (``linkage.synth``'s truth names them).

Synthetic hospitals are generated one by one, so a person's records at two of them are
independent: nothing links smoking recorded at one to lung cancer recorded at the other. This
module rewrites the outcome at the second hospital, for the shared persons only, from the
exposure at the first: a shared person whose first tobacco smoking status at the first
hospital is *current* has lung cancer at the second with log-odds ``intercept + current``,
anyone else (a never or former smoker, or one without a status) with log-odds ``intercept``.
Their earlier lung-cancer records there (the concept and its descendants) are replaced by at
most one, on a day drawn within their observation there. A pooled logistic regression of lung
cancer on smoking then recovers ``current``; neither hospital alone can.

Deterministic: the same databases, truth, effect and seed give the same rows.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np

from fivesafes.data.synth import concepts as c

EHR = 32817


@dataclass(frozen=True)
class Planted:
    """What was planted: the model, and counts only."""

    intercept: float
    current: float
    shared: int  # persons of both hospitals
    exposed: int  # of those, current smokers at the first
    cases: int  # of those, with lung cancer at the second after planting


def shared_persons(truth: Path, first: str, second: str) -> list[tuple[int, int]]:
    """(person at ``first``, the same person at ``second``) from ``truth.csv``."""
    at: dict[str, dict[str, int]] = {first: {}, second: {}}
    with truth.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["site"] in at:
                at[row["site"]][row["true_person"]] = int(row["person_id"])
    return sorted(
        (person, at[second][true]) for true, person in at[first].items() if true in at[second]
    )


def _current_smokers(database: Path, persons: list[int]) -> set[int]:
    """Of ``persons``, those whose first smoking status at this hospital is current."""
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "SELECT person_id, arg_min(value_as_concept_id, observation_date) FROM observation "
            "WHERE observation_concept_id = ? AND person_id IN (SELECT unnest(?)) "
            "GROUP BY person_id",
            [c.TOBACCO_SMOKING_STATUS, persons],
        ).fetchall()
    return {int(p) for p, value in rows if value == c.CURRENT_SMOKER}


def plant_smoking_to_lung_cancer(
    truth: Path,
    first: tuple[str, Path],
    second: tuple[str, Path],
    *,
    intercept: float = -2.2,
    current: float = 1.6,
    seed: int = 18,
) -> Planted:
    """Rewrite lung cancer at ``second`` for the persons it shares with ``first`` from their
    smoking at ``first`` (see the module's docstring). ``first`` and ``second`` are (site name,
    CDM path)."""
    pairs = shared_persons(truth, first[0], second[0])
    exposed = _current_smokers(first[1], [a for a, _ in pairs])
    rng = np.random.default_rng(seed)
    odds = np.array([intercept + (current if a in exposed else 0.0) for a, _ in pairs])
    ill = rng.random(len(pairs)) < 1 / (1 + np.exp(-odds))
    days = rng.random(len(pairs))
    targets = [b for _, b in pairs]
    with duckdb.connect(str(second[1])) as con:
        family = [r[0] for r in con.execute(
            "SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = ?",
            [c.LUNG_CANCER]).fetchall()] or [c.LUNG_CANCER]  # fmt: skip
        con.execute(
            "DELETE FROM condition_occurrence WHERE person_id IN (SELECT unnest(?)) "
            "AND condition_concept_id IN (SELECT unnest(?))",
            [targets, family],
        )
        periods = dict(
            (int(p), (start, end))
            for p, start, end in con.execute(
                "SELECT person_id, min(observation_period_start_date), "
                "max(observation_period_end_date) FROM observation_period "
                "WHERE person_id IN (SELECT unnest(?)) GROUP BY person_id",
                [targets],
            ).fetchall()
        )
        (next_id,) = con.execute(
            "SELECT coalesce(max(condition_occurrence_id), 0) + 1 FROM condition_occurrence"
        ).fetchone() or (1,)
        rows: list[tuple[int, int, int, date, int]] = []
        for (_, b), sick, when in zip(pairs, ill, days, strict=True):
            if not sick or b not in periods:
                continue
            start, end = periods[b]
            day = start + timedelta(days=int(when * max((end - start).days, 0)))
            rows.append((next_id + len(rows), b, c.LUNG_CANCER, day, EHR))
        if rows:
            con.executemany(
                "INSERT INTO condition_occurrence (condition_occurrence_id, person_id, "
                "condition_concept_id, condition_start_date, condition_type_concept_id) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
    return Planted(intercept, current, len(pairs), len(exposed), len(rows))
