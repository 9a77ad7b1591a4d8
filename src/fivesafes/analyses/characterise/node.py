"""Characterisation of a cohort: who its persons are, and what was recorded for them.

At each node, over the cohort's persons:

- **age bands** at the index date (0-17, 18-34, 35-49, 50-64, 65-79, 80 and over) and **sex**:
  two one-way tables of distinct persons, each judged by the table checker (threshold,
  secondary suppression, rounding) on the full grid of bands or levels;
- **top concepts** per domain (conditions, drugs, measurements by default): the concepts
  recorded for the most persons in a window before the index date (``window_days`` up to and
  including it; default 365), as distinct persons per concept. A concept is listed only if at
  least the threshold of persons have it (a rare diagnosis is never named by a node), at most
  ``top`` per domain, counts rounded; names come from the node's own vocabulary.

The hub adds the tables cell by cell and the concepts concept by concept (a concept missing
from a node's list counts nothing there, so a sum is a lower bound naming those nodes), judges
every sum again, and keeps the ``top`` largest per domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import pandas as pd
from pyroaring import BitMap

from fivesafes.analyses.cells import combine_cells
from fivesafes.analyses.characterise.models import (
    CharacteriseDomain,
    CharacteriseOutput,
    CharacteriseParameters,
    ConceptCount,
)
from fivesafes.analyses.tables import ALL, NodeTable, released_cells
from fivesafes.cohorts.compile import cohort_persons
from fivesafes.cohorts.concepts import check_concepts
from fivesafes.data.source import OmopDatabase
from fivesafes.protocol.models import CrosstabCell, ReleasedCount
from fivesafes.sdc.checker import Checker
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.gate import release_cell, release_count
from fivesafes.sdc.profiles import Profile

AGE_EDGES = (0, 18, 35, 50, 65, 80)
AGE_BANDS = ("0-17", "18-34", "35-49", "50-64", "65-79", "80+")
SEXES = ("female", "male")
DOMAINS = {
    "condition": ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "drug": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "measurement": ("measurement", "measurement_concept_id", "measurement_date"),
    "procedure": ("procedure_occurrence", "procedure_concept_id", "procedure_date"),
    "observation": ("observation", "observation_concept_id", "observation_date"),
}


@dataclass(frozen=True)
class NodeCharacterisation:
    persons: BitMap  # the cohort (the population of every released figure)
    count: ReleasedCount
    age: list[CrosstabCell]
    sex: list[CrosstabCell]
    concepts: dict[CharacteriseDomain, list[ConceptCount]]
    failed_checks: bool  # a table checker error: the node withholds the output


def characterise(
    db: OmopDatabase, parameters: CharacteriseParameters, profile: Profile
) -> NodeCharacterisation:
    check_concepts(parameters.cohort, db)
    persons = cohort_persons(parameters.cohort, db)
    person = db.table("person").select("person_id", "year_of_birth", "gender_concept_id")
    frame = (
        persons.join(person, "person_id")
        .select(
            "person_id",
            age=(persons.index_date.year() - person.year_of_birth).cast("int64"),
            gender=person.gender_concept_id.cast("int64"),
        )
        .to_pandas()
    )
    everyone = person_set(frame["person_id"].to_numpy())
    checker = Checker(profile)
    ages = frame.assign(band=pd.cut(frame["age"], [*AGE_EDGES, 200], right=False, labels=AGE_BANDS))
    ages = ages.dropna(subset=["band"]).assign(band=lambda f: f["band"].astype(str), all=ALL)
    sexes = frame.assign(sex=frame["gender"].map({8532: "female", 8507: "male"}), all=ALL)
    sexes = sexes.dropna(subset=["sex"])
    age_table = checker.crosstab(ages, index="band", columns=ALL, person="person_id")
    sex_table = checker.crosstab(sexes, index="sex", columns=ALL, person="person_id")
    age = released_cells(NodeTable(everyone, age_table), (AGE_BANDS, (ALL,)))
    sex = released_cells(NodeTable(everyone, sex_table), (SEXES, (ALL,)))
    concepts = {
        domain: top_concepts(db, persons, domain, parameters, profile)
        for domain in parameters.domains
    }
    return NodeCharacterisation(
        persons=everyone,
        count=release_count(len(everyone), profile),
        age=age,
        sex=sex,
        concepts=concepts,
        failed_checks=bool(age_table.errors or sex_table.errors),
    )


def top_concepts(
    db: OmopDatabase,
    persons: ibis.Table,
    domain: CharacteriseDomain,
    parameters: CharacteriseParameters,
    profile: Profile,
) -> list[ConceptCount]:
    """The ``top`` concepts recorded for the most persons in the window, each for at least the
    threshold of persons, with their released counts and vocabulary names."""
    table_name, concept_column, date_column = DOMAINS[domain]
    events = db.table(table_name)
    joined = events.join(persons, "person_id").filter(
        lambda t: (
            (t[date_column] <= t.index_date)
            & (t[date_column] > t.index_date - ibis.interval(days=parameters.window_days))
            & (t[concept_column] != 0)
        )
    )
    counts = (
        joined.group_by(concept_id=joined[concept_column])
        .aggregate(persons=joined.person_id.nunique())
        .filter(lambda t: t.persons >= profile.threshold)
        .order_by([ibis.desc("persons"), "concept_id"])
        .limit(parameters.top)
    )
    concept = db.table("concept").select("concept_id", "concept_name")
    named = counts.left_join(concept, "concept_id").select("concept_id", "persons", "concept_name")
    rows = named.to_pandas().sort_values(["persons", "concept_id"], ascending=[False, True])
    listed = []
    for row in rows.itertuples(index=False):
        count = release_count(int(row.persons), profile)
        if count.suppressed:  # cannot happen at or above the threshold; fail closed anyway
            continue
        name = row.concept_name if isinstance(row.concept_name, str) else ""
        listed.append(ConceptCount(concept_id=int(row.concept_id), name=name[:200], count=count))
    return listed


# ---- hub ----------------------------------------------------------------------------------


def regate(output: CharacteriseOutput, profile: Profile) -> CharacteriseOutput:
    """A node's characterisation as the hub passes it on: every released count judged again
    (a table cell as a cell; a concept the hub's gate would hide is dropped from the list)."""

    def cells(found: list[CrosstabCell]) -> list[CrosstabCell]:
        return [
            c
            if c.count.value is None
            else c.model_copy(update={"count": release_cell(c.count.value, profile)})
            for c in found
        ]

    if output.count.value is None:
        return output
    count = release_count(output.count.value, profile)
    if count.suppressed:
        gate = output.gate.model_copy(update={"verdict": "fail", "rules": ["hub: threshold"]})
        return CharacteriseOutput(count=count, age=[], sex=[], concepts={}, gate=gate)
    concepts = {
        domain: [
            c.model_copy(update={"count": again})
            for c in listed
            if not (again := release_count(c.count.value or 0, profile)).suppressed
        ]
        for domain, listed in output.concepts.items()
    }
    return output.model_copy(
        update={
            "count": count,
            "age": cells(output.age),
            "sex": cells(output.sex),
            "concepts": concepts,
        }
    )


def combine(
    outputs: dict[str, CharacteriseOutput], missing: list[str], profile: Profile
) -> dict[str, Any]:
    """The cohort's size, age bands and sex summed over the nodes (each sum judged again), and
    per domain the concepts of every node's list, summed, judged again, largest first."""
    released = {n: o for n, o in outputs.items() if o.count.value is not None}
    total = sum(o.count.value or 0 for o in released.values())
    count = (
        release_count(total, profile)
        if released
        else ReleasedCount(value=None, suppressed=True, rule="no node released the cohort")
    )
    concepts: dict[str, list[dict[str, Any]]] = {}
    top = max((len(v) for o in released.values() for v in o.concepts.values()), default=0)
    for domain in sorted({d for o in released.values() for d in o.concepts}):
        pooled: dict[int, dict[str, Any]] = {}
        for node, output in sorted(released.items()):
            for concept in output.concepts.get(domain, []):
                entry = pooled.setdefault(
                    concept.concept_id,
                    {"concept_id": concept.concept_id, "name": concept.name, "sum": 0, "nodes": []},
                )
                entry["sum"] += concept.count.value or 0
                entry["nodes"].append(node)
        listed = []
        for entry in pooled.values():
            again = release_count(entry["sum"], profile)
            if again.suppressed:
                continue
            listed.append(
                {
                    "concept_id": entry["concept_id"],
                    "name": entry["name"],
                    "count": again.model_dump(mode="json"),
                    "nodes_not_listing": sorted(set(released) - set(entry["nodes"])),
                }
            )
        listed.sort(key=lambda c: (-c["count"]["value"], c["concept_id"]))
        concepts[domain] = listed[:top]
    return {
        "analysis": "characterise",
        "count": count.model_dump(mode="json"),
        "age": combine_cells({n: o.age for n, o in released.items()}, profile),
        "sex": combine_cells({n: o.sex for n, o in released.items()}, profile),
        "concepts": concepts,
        "nodes_contributing": sorted(outputs),
        "nodes_suppressed": sorted(set(outputs) - set(released)),
        "nodes_missing": sorted(missing),
        "profile": profile.name,
    }
