"""The clinical facts a review study may show beside one case (issue 17, docs/studies.md),
computed by the node that holds the slide from its own CDM, and shown only when the node's
rule for one case's display lets them pass.

The facts (the study asks for a subset, ``design.CLINICAL_FIELDS``):

- ``age_band``: the ten-year band of the person's age at the specimen (``80 or over`` at
  the top), from ``person.year_of_birth`` and ``specimen.specimen_date``;
- ``sex``: female, male, or other, from ``person.gender_concept_id``;
- ``biopsy_site``: the specimen's anatomic site, by its concept's name;
- ``diagnosis_code``: the person's latest malignant condition (under 443392 in
  ``concept_ancestor``) on or before the specimen.

**The rule for one case's display.** The person must not stand out by what is shown: the
combination of the case's age band, sex and diagnosis shown must be shared by at least
``threshold`` persons of the node's CDM (persons born in the years that make that band at the
specimen's year, of that sex, with a condition under that diagnosis), the node's own disclosure
threshold. While it is not, the most identifying field still shown is withheld, in the order
diagnosis, age band, sex. A biopsy site is shown only if at least ``threshold`` of the node's
specimens were taken there. A withheld field is said to be withheld, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

WITHHELD = "withheld"
MALIGNANT = 443392  # SNOMED "Malignant neoplastic disease"
SEXES = {8507: "male", 8532: "female"}
ORDER = ("diagnosis_code", "age_band", "sex")  # withheld first to last


def _band(age: int) -> tuple[str, int, int]:
    """The ten-year band of ``age``: its label and its ages (inclusive)."""
    if age >= 80:
        return "80 or over", 80, 150
    low = max(0, age // 10 * 10)
    return f"{low} to {low + 9}", low, low + 9


def case_facts(
    path: Path, slide_ids: Iterable[str], fields: Iterable[str], threshold: int
) -> dict[str, dict[str, str]]:
    """Slide id -> the facts asked for, each its value or ``withheld`` (read-only)."""
    asked = [f for f in fields if f in ("age_band", "sex", "biopsy_site", "diagnosis_code")]
    found: dict[str, dict[str, str]] = {}
    if not asked:
        return found
    with duckdb.connect(str(path), read_only=True) as con:
        for slide_id in slide_ids:
            row = con.execute(
                "SELECT p.person_id, p.year_of_birth, p.gender_concept_id, sp.specimen_date,"
                " sp.anatomic_site_concept_id FROM pathology_slide s"
                " JOIN specimen sp ON sp.specimen_id = s.specimen_id"
                " JOIN person p ON p.person_id = s.person_id WHERE s.slide_id = ?",
                [slide_id],
            ).fetchone()
            if row is None:  # not linked to a person: nothing to show
                found[slide_id] = dict.fromkeys(asked, WITHHELD)
                continue
            found[slide_id] = _facts(con, row, asked, threshold)
    return found


def _facts(
    con: duckdb.DuckDBPyConnection, row: tuple[Any, ...], asked: list[str], threshold: int
) -> dict[str, str]:
    person_id, born, gender, specimen_date, site = row
    year = specimen_date.year
    label, low, high = _band(year - born)
    diagnosis = con.execute(
        "SELECT co.condition_concept_id, c.concept_name FROM condition_occurrence co"
        " JOIN concept_ancestor a ON a.descendant_concept_id = co.condition_concept_id"
        " LEFT JOIN concept c ON c.concept_id = co.condition_concept_id"
        " WHERE co.person_id = ? AND a.ancestor_concept_id = ? AND co.condition_start_date <= ?"
        " ORDER BY co.condition_start_date DESC LIMIT 1",
        [person_id, MALIGNANT, specimen_date],
    ).fetchone()
    values = {
        "age_band": label,
        "sex": SEXES.get(gender, "other"),
        "diagnosis_code": f"{diagnosis[1] or 'condition'} ({diagnosis[0]})" if diagnosis else None,
    }
    shown = [f for f in ORDER[::-1] if f in asked and values.get(f) is not None]
    while shown and _sharing(con, shown, year, low, high, gender, diagnosis) < threshold:
        shown.remove(next(f for f in ORDER if f in shown))
    facts = {f: (values[f] if f in shown else WITHHELD) for f in asked if f != "biopsy_site"}
    if "biopsy_site" in asked:
        facts["biopsy_site"] = _site(con, site, threshold)
    return {f: str(v) for f, v in facts.items()}


def _sharing(
    con: duckdb.DuckDBPyConnection, shown: list[str], year: int, low: int, high: int,
    gender: int, diagnosis: tuple[Any, ...] | None,
) -> int:  # fmt: skip
    """Persons of the CDM who share what ``shown`` would show."""
    where, params = ["TRUE"], []
    if "age_band" in shown:
        where.append("? - p.year_of_birth BETWEEN ? AND ?")
        params += [year, low, high]
    if "sex" in shown:
        where.append("p.gender_concept_id = ?")
        params.append(gender)
    if "diagnosis_code" in shown and diagnosis is not None:
        where.append("p.person_id IN (SELECT person_id FROM condition_occurrence"
                     " WHERE condition_concept_id = ?)")  # fmt: skip
        params.append(diagnosis[0])
    query = f"SELECT count(*) FROM person p WHERE {' AND '.join(where)}"  # noqa: S608 - fixed
    return int(con.execute(query, params).fetchone()[0])  # type: ignore[index]


def _site(con: duckdb.DuckDBPyConnection, site: int | None, threshold: int) -> str:
    if site is None:
        return WITHHELD
    taken = con.execute(
        "SELECT count(*) FROM specimen WHERE anatomic_site_concept_id = ?", [site]
    ).fetchone()
    if taken is None or taken[0] < threshold:
        return WITHHELD
    name = con.execute("SELECT concept_name FROM concept WHERE concept_id = ?", [site]).fetchone()
    return str(name[0]) if name and name[0] else f"site {site}"
