"""Imaging cohorts the tests ask on every engine, and the tables the reference reading
(``tests/cohort_reference.py``) needs: the CDM's, and the synthetic archive's planted truth."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from imaging_data import synth_node

CT_CHEST_CONTRAST = {
    "domain": "imaging",
    "modality": ["CT"],
    "body_part": ["CHEST"],
    "contrast": ["yes"],
}
CURRENT_SMOKER = {"domain": "observation", "concepts": [43054909], "value_concepts": [45881517]}

COHORTS: list[dict] = [
    {
        "name": "the PICTURES question: CT chest with contrast, current smokers 55-65 at the scan",
        "age": {"min": 55, "max": 65},
        "criteria": [CT_CHEST_CONTRAST, CURRENT_SMOKER],
    },
    {"name": "CT chest with contrast", "criteria": [CT_CHEST_CONTRAST]},
    {
        "name": "any chest imaging (CHEST finds the combined regions too), women",
        "sex": ["female"],
        "criteria": [{"domain": "imaging", "body_part": ["CHEST"]}],
    },
    {
        "name": "CT abdomen-pelvis or head, no contrast recorded, 2015-2020",
        "criteria": [
            {
                "domain": "imaging",
                "modality": ["CT"],
                "body_part": ["ABDOMENPELVIS", "HEAD"],
                "contrast": ["no", "unknown"],
                "window": {"start": "2015-01-01", "end": "2020-12-31"},
            }
        ],
    },
    {
        "name": "CT series of at least 4 slices, never a mammogram",
        "criteria": [
            {"domain": "imaging", "modality": ["CT"], "min_slices": 4},
            {"domain": "imaging", "modality": ["MG"], "exclude": True},
        ],
    },
    {
        "name": "smokers with a chest radiograph within two years after their first CT chest",
        "criteria": [
            {"domain": "imaging", "modality": ["CT"], "body_part": ["CHEST"]},
            {
                "domain": "imaging",
                "modality": ["CR", "DX"],
                "days_from_index": {"min": 0, "max": 730},
            },
            CURRENT_SMOKER,
        ],
    },
    {
        "name": "persons observed on 1 Jan 2019 imaged up to a year before",
        "index": {"type": "fixed", "date": "2019-01-01"},
        "criteria": [{"domain": "imaging", "days_from_index": {"min": -365, "max": 0}}],
    },
    {
        "name": "CT chest procedures of persons never imaged by MR",
        "criteria": [
            {"domain": "procedure", "concepts": [4058335]},
            {"domain": "imaging", "modality": ["MR"], "exclude": True},
        ],
    },
]


def planted_tables(database: Path, truth: Path) -> dict[str, pd.DataFrame]:
    """The CDM tables of ``database`` and the archive's ``series.csv`` (as ``imaging_truth``)."""
    with duckdb.connect(str(database), read_only=True) as con:
        names = ["person", "observation_period", "concept_ancestor", "procedure_occurrence"]
        names += ["condition_occurrence", "drug_exposure", "measurement", "observation"]
        found = {name: con.table(name).df() for name in names}
    found["imaging_truth"] = pd.read_csv(truth / "series.csv", dtype=str, keep_default_na=False)
    return found


def indexed_sites(factory, sites: tuple[tuple[str, int, int], ...]) -> dict[str, dict]:
    """Hospitals (name, persons, seed), each a synthetic CDM indexed with its own archive: the
    data file's path and the planted truth of each."""
    found = {}
    for name, persons, seed in sites:
        node = synth_node(factory.mktemp(name), persons, None, seed=seed)
        database = node.fresh_database("indexed")
        node.index(database, node.root / "headers.sqlite")
        found[name] = {"path": database, "tables": planted_tables(database, node.truth)}
    return found


def imaging_federation(harness, sites: dict[str, dict], *, domains: list[str]) -> tuple[str, str]:
    """A hub and a node per site of :func:`indexed_sites`; alice's token and a project asking
    for ``domains``, approved at every node."""
    harness.start_hub()
    for name, site in sites.items():
        harness.add_node(name, {"engine": "duckdb", "path": str(site["path"])})
    token = harness.researcher()
    return token, harness.project(["alice"], list(sites), data_domains=domains)
