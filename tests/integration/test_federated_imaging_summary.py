"""The imaging summary across a real federation: a hub and two nodes (OS processes on loopback),
each with its own synthetic CDM and DICOM archive, indexed for real. ``fed.imaging_summary``
(and ``fivesafes analyse imaging-summary``) gives each node's groups equal to its planted truth
after the gate, and pooled groups equal to the sum of the nodes' released ones; a project that
did not ask for the imaging domain is refused at the hub."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from cohort_reference import reference_persons
from federation import fs
from fivesafes.client import FederationError
from fivesafes.cohorts.criteria import Cohort
from fivesafes.sdc.profiles import DEFAULT
from imaging_cohorts import COHORTS, imaging_federation, indexed_sites

CT_CHEST_CONTRAST = COHORTS[1]
EVERYONE = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}
BOTH = ["omop", "imaging"]
KIND = ("modality", "body_part", "contrast")
YEAR = ("year",)


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict[str, dict]:
    """Two hospitals: each CDM indexed with its own archive; the planted truth of each."""
    return indexed_sites(tmp_path_factory, (("northfield", 1200, 31), ("riverside", 800, 32)))


def half_up(n: int, base: int) -> int:
    return math.floor(n / base + 0.5) * base


def planted(tables: dict[str, pd.DataFrame], cohort: dict) -> dict[str, object]:
    """What a node should release, from the planted truth: the persons with any series, and
    per group (persons, series, studies) of the groups of at least the threshold of persons,
    every figure rounded half up (DEFAULT: threshold 10, base 10)."""
    persons = set(reference_persons(tables, Cohort.model_validate(cohort)))
    truth = tables["imaging_truth"]
    linked = truth[truth["person_id"] != ""]
    mine = linked[linked["person_id"].astype(int).isin(persons)].assign(
        body_part=lambda t: t["body_part"].replace("", "unknown"),
        contrast=lambda t: t["contrast_recorded"],
        year=lambda t: t["study_date"].str[:4],
    )
    base = DEFAULT.rounding_base
    expected: dict[str, object] = {"persons": half_up(mine["person_id"].nunique(), base)}
    for field, keys in (("kinds", KIND), ("years", YEAR)):
        grouped = mine.groupby(list(keys)).agg(
            persons=("person_id", "nunique"),
            series=("series_instance_uid", "nunique"),
            studies=("study_instance_uid", "nunique"),
        )
        expected[field] = {
            (key if isinstance(key, tuple) else (key,)): (
                half_up(int(r.persons), base),
                half_up(int(r.series), base),
                half_up(int(r.studies), base),
            )
            for key, r in grouped.iterrows()
            if r.persons >= DEFAULT.threshold
        }
    return expected


def listed(groups: list[dict], keys: tuple[str, ...]) -> dict[tuple, tuple]:
    return {
        tuple(g[k] for k in keys): (g["persons"]["value"], g["series"], g["studies"])
        for g in groups
    }


def test_imaging_summary_per_node_and_pooled(harness, sites, tmp_path):
    token, project = imaging_federation(harness, sites, domains=BOTH)
    with harness.federation(token, project) as fed:
        result = fed.imaging_summary(CT_CHEST_CONTRAST, timeout=90)
        csv = fed.result_csv(result.task_id)
    assert result.complete and not result.nodes_missing
    assert result.scope == "every series of the cohort's persons"
    truth = {name: planted(site["tables"], CT_CHEST_CONTRAST) for name, site in sites.items()}
    for name, output in result.nodes.items():
        assert output["persons"]["value"] == truth[name]["persons"]
        assert listed(output["kinds"], KIND) == truth[name]["kinds"]
        assert listed(output["years"], YEAR) == truth[name]["years"]
    # all their series, not only the CT chest with contrast that put them in the cohort
    assert len(result.kinds) > 1
    assert result.persons == sum(t["persons"] for t in truth.values())
    for field, keys in (("kinds", KIND), ("years", YEAR)):
        per_node = {name: listed(o[field], keys) for name, o in result.nodes.items()}
        pooled = listed(getattr(result, field), keys)
        assert set(pooled) == set().union(*per_node.values())
        for labels, figures in pooled.items():
            listing = [n for n in per_node if labels in per_node[n]]
            assert figures == tuple(sum(per_node[n][labels][i] for n in listing) for i in range(3))
        for group in getattr(result, field):
            labels = tuple(group[k] for k in keys)
            assert group["nodes_not_listing"] == sorted(
                n for n in per_node if labels not in per_node[n]
            )
    assert result.to_frame("year")["persons"].notna().all()
    assert "Series by modality, body part and contrast" in csv and "northfield:" in csv

    connection = tmp_path / "connection.json"
    connection.write_text(
        json.dumps({"hub_url": harness.hub_url, "token": token, "project": project})
    )
    cohort = tmp_path / "cohort.json"
    cohort.write_text(json.dumps(CT_CHEST_CONTRAST))
    common = ("--connection", str(connection), "--cohort", str(cohort))
    shown = fs("analyse", "imaging-summary", *common).stdout
    assert "every series of the cohort's persons" in shown and "by year" in shown
    as_json = json.loads(fs("analyse", "imaging-summary", "--json", *common).stdout)
    assert as_json["persons"] == result.persons and as_json["kinds"] == result.kinds


def test_a_project_without_the_imaging_domain_is_refused(harness, sites):
    token, project = imaging_federation(harness, sites, domains=["omop"])
    with harness.federation(token, project) as fed:
        with pytest.raises(
            FederationError, match=r"The project does not ask for the data domain imaging\."
        ):
            fed.imaging_summary(EVERYONE, timeout=30)
        assert fed.count(EVERYONE, timeout=60).complete  # its OMOP questions still run
