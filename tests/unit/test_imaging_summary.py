"""The imaging summary (``fivesafes.analyses.imaging_summary``, its node query in
``fivesafes.imaging.summary``): on a synthetic archive indexed for real into its CDM, the exact
groups equal counts taken independently from the archive's planted ground truth
(``ground-truth/series.csv``) with pandas; the released groups equal that truth after the gate
(suppression under the threshold, rounding); the persons behind it meet the differencing
check; the hub's re-gate and pooling; labels from closed vocabularies only; opt-outs; how the
result reads.

Each node's part runs as the node runs it (``run_task``), the hub's as the hub runs it (the
analysis's own hub part, through the registry)."""

from __future__ import annotations

import math
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pydantic import ValidationError

from cohort_reference import reference_persons
from fivesafes.analyses.imaging_summary import ImagingSummaryResult
from fivesafes.analyses.imaging_summary.models import MAX_KINDS
from fivesafes.analyses.imaging_summary.node import summarise
from fivesafes.analyses.registry import REGISTRY
from fivesafes.analyses.results.download import result_csv
from fivesafes.analyses.results.page import Shown
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.imaging.cohort import CONTRAST, MODALITIES, body_part_terms
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.runner import run_task
from fivesafes.protocol.models import RunView, TaskView
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.profiles import DEFAULT, OPENSAFELY, Profile
from imaging_cohorts import CT_CHEST_CONTRAST, planted_tables
from imaging_data import SynthNode, synth_node
from in_process import combine, regate, task_payload

EVERYONE = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}
WOMEN = {**EVERYONE, "name": "women", "sex": ["female"]}
MEN = {**EVERYONE, "name": "men", "sex": ["male"]}
CT_CHEST_WITH_CONTRAST = {"name": "CT chest with contrast", "criteria": [CT_CHEST_CONTRAST]}
KIND = ("modality", "body_part", "contrast")
YEAR = ("year",)


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> SynthNode:
    return synth_node(tmp_path_factory.mktemp("imaging-summary"), persons=800, persons_limit=None)


@pytest.fixture(scope="module")
def database(node) -> Path:
    database = node.fresh_database("indexed")
    node.index(database, node.root / "headers.sqlite")
    return database


@pytest.fixture(scope="module")
def tables(node, database) -> dict[str, pd.DataFrame]:
    return planted_tables(database, node.truth)


# ---- the planted truth, read independently ---------------------------------------------------


def planted_series(tables, cohort: dict) -> pd.DataFrame:
    """The planted series of the cohort's persons, labelled as the summary promises: body
    part missing is "unknown", contrast is what the headers record, the year the study's."""
    persons = set(reference_persons(tables, Cohort.model_validate(cohort)))
    truth = tables["imaging_truth"]
    linked = truth[truth["person_id"] != ""]
    mine = linked[linked["person_id"].astype(int).isin(persons)]
    return pd.DataFrame(
        {
            "person_id": mine["person_id"].astype(int),
            "study": mine["study_instance_uid"],
            "series": mine["series_instance_uid"],
            "modality": mine["modality"],
            "body_part": mine["body_part"].replace("", "unknown"),
            "contrast": mine["contrast_recorded"],
            "year": mine["study_date"].str[:4],
        }
    )


def planted_groups(series: pd.DataFrame, keys: tuple[str, ...]) -> dict[tuple, tuple]:
    """(persons, series, studies) per group, exact."""
    grouped = series.groupby(list(keys)).agg(
        persons=("person_id", "nunique"), series=("series", "nunique"), studies=("study", "nunique")
    )
    return {
        (key if isinstance(key, tuple) else (key,)): (int(r.persons), int(r.series), int(r.studies))
        for key, r in grouped.iterrows()
    }


def half_up(n: int, base: int) -> int:
    return math.floor(n / base + 0.5) * base


def after_gate(groups: dict[tuple, tuple], profile: Profile) -> dict[tuple, tuple]:
    """The groups a node may list under ``profile``: at least the threshold of persons, every
    figure rounded half up to the base."""
    base = profile.rounding_base
    return {
        labels: tuple(half_up(v, base) for v in figures)
        for labels, figures in groups.items()
        if figures[0] >= profile.threshold
    }


def exact(frame: pd.DataFrame, keys: tuple[str, ...]) -> dict[tuple, tuple]:
    return {
        tuple(str(row[k]) for k in keys): (
            int(row["persons"]),
            int(row["series"]),
            int(row["studies"]),
        )
        for row in frame.to_dict("records")
    }


def listed(groups: list[dict], keys: tuple[str, ...]) -> dict[tuple, tuple]:
    return {
        tuple(g[k] for k in keys): (g["persons"]["value"], g["series"], g["studies"])
        for g in groups
    }


def node_output(database: Path, cohort: dict, profile: Profile = DEFAULT, store=None):
    with open_omop(DuckDBSource(engine="duckdb", path=database)) as db:
        return run_task(
            task_payload("imaging_summary", {"cohort": cohort}),
            db,
            profile,
            store if store is not None else InMemoryPersonSetStore(),
        )


# ---- the node part ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cohort", [EVERYONE, WOMEN, CT_CHEST_WITH_CONTRAST], ids=lambda c: c["name"]
)
def test_the_exact_groups_are_the_planted_truth(cohort, database, tables):
    series = planted_series(tables, cohort)
    with open_omop(DuckDBSource(engine="duckdb", path=database)) as db:
        found = summarise(
            db, REGISTRY["imaging_summary"].parameters.model_validate({"cohort": cohort})
        )
    assert exact(found.kinds, KIND) == planted_groups(series, KIND)
    assert exact(found.years, YEAR) == planted_groups(series, YEAR)
    assert set(found.persons) == set(series["person_id"])
    assert len(found.kinds) >= 5 or cohort is not EVERYONE


@pytest.mark.parametrize("profile", [DEFAULT, OPENSAFELY], ids=lambda p: p.name)
def test_the_released_groups_are_the_truth_after_the_gate(profile, database, tables):
    series = planted_series(tables, EVERYONE)
    outcome = node_output(database, EVERYONE, profile)
    assert outcome.status == "succeeded", outcome
    output = outcome.output
    kinds, years = planted_groups(series, KIND), planted_groups(series, YEAR)
    assert listed(output["kinds"], KIND) == after_gate(kinds, profile)
    assert listed(output["years"], YEAR) == after_gate(years, profile)
    assert output["persons"]["value"] == half_up(
        series["person_id"].nunique(), profile.rounding_base
    )
    # some groups were under the threshold: they are not listed at all, and the gate says so
    assert any(figures[0] < profile.threshold for figures in kinds.values())
    assert output["gate"] == {"verdict": "pass", "profile": profile.name, "rules": ["threshold"]}
    assert outcome.release is not None and set(outcome.release.persons) == set(series["person_id"])


def test_it_summarises_every_series_of_the_cohorts_persons(database, tables):
    """An imaging cohort's summary is of all their series, not only the matching ones."""
    outcome = node_output(database, CT_CHEST_WITH_CONTRAST)
    assert outcome.status == "succeeded", outcome
    output = outcome.output
    assert output["scope"] == "every series of the cohort's persons"
    kinds = {(g["modality"], g["body_part"], g["contrast"]) for g in output["kinds"]}
    assert ("CT", "CHEST", "yes") in kinds
    assert kinds - {("CT", "CHEST", "yes")}, "their other series are summarised too"


def test_a_cohort_under_the_threshold_releases_nothing(database):
    strict = DEFAULT.tightened(threshold=5000)
    outcome = node_output(database, EVERYONE, strict)
    assert outcome.status == "succeeded" and outcome.release is None
    output = outcome.output
    assert output["persons"]["value"] is None and output["persons"]["suppressed"]
    assert output["kinds"] == output["years"] == []
    assert output["gate"]["verdict"] == "fail" and output["gate"]["rules"] == ["threshold"]
    assert REGISTRY["imaging_summary"].withheld(output) is not None


def test_nobody_imaged_is_never_a_released_zero(database):
    never = {"name": "nobody", "sex": ["female"], "criteria": [
        {"domain": "imaging", "modality": ["MG"], "exclude": True},
        {"domain": "imaging", "modality": ["MG"]},
    ]}  # fmt: skip
    outcome = node_output(database, never)
    assert outcome.status == "succeeded" and outcome.release is None
    assert outcome.output["persons"] == {**outcome.output["persons"], "value": None}
    assert outcome.output["gate"]["verdict"] == "fail"


def test_the_persons_behind_it_meet_the_differencing_check(database, tables):
    """The summary's population is everyone with a series; a later count of those persons
    less the few who had a mammogram would give that small group away, and is refused."""
    store = InMemoryPersonSetStore()
    first = node_output(database, EVERYONE, store=store)
    assert first.release is not None
    store.record("p", first.release.output_key, "r1", first.release.persons, first.output)
    truth = tables["imaging_truth"]
    mammography = set(
        truth.loc[(truth["modality"] == "MG") & (truth["person_id"] != ""), "person_id"]
    )
    assert 1 <= len(mammography) < DEFAULT.threshold  # the small group the count would expose
    no_mammogram = {"name": "imaged, never a mammogram", "criteria": [
        {"domain": "imaging"}, {"domain": "imaging", "modality": ["MG"], "exclude": True},
    ]}  # fmt: skip
    with open_omop(DuckDBSource(engine="duckdb", path=database)) as db:
        second = run_task(task_payload("count", {"cohort": no_mammogram}, 2), db, DEFAULT, store)
    assert (second.status, second.reason) == ("refused", ReasonCode.DIFFERENCING_RISK)


def test_an_opted_out_persons_series_are_not_counted(database, tmp_path):
    copy = tmp_path / "opted-out.duckdb"
    shutil.copy(database, copy)
    with open_omop(DuckDBSource(engine="duckdb", path=database)) as db:
        before = summarise(
            db, REGISTRY["imaging_summary"].parameters.model_validate({"cohort": EVERYONE})
        )
    leaving = min(before.persons)
    with duckdb.connect(str(copy)) as con:
        con.execute("CREATE TABLE fivesafes_opt_out (person_id BIGINT)")
        con.execute("INSERT INTO fivesafes_opt_out VALUES (?)", [leaving])
    with open_omop(DuckDBSource(engine="duckdb", path=copy)) as db:
        after = summarise(
            db, REGISTRY["imaging_summary"].parameters.model_validate({"cohort": EVERYONE})
        )
    assert set(after.persons) == set(before.persons) - {leaving}
    assert after.kinds["series"].sum() < before.kinds["series"].sum()


def test_labels_come_only_from_closed_vocabularies(database, tmp_path):
    """Free text in the index (a misread header, a node's own body part term) is never a
    label: it is "other"."""
    copy = tmp_path / "odd.duckdb"
    shutil.copy(database, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "UPDATE imaging_series SET modality = 'JONES^MARY', body_part = 'LEFT KNEE OF MARY', "
            "contrast = 'maybe' WHERE modality = 'CR'"
        )
    with open_omop(DuckDBSource(engine="duckdb", path=copy)) as db:
        found = summarise(
            db, REGISTRY["imaging_summary"].parameters.model_validate({"cohort": EVERYONE})
        )
    labels = (
        set(found.kinds["modality"]) | set(found.kinds["body_part"]) | set(found.kinds["contrast"])
    )
    assert not any("MARY" in label or label == "maybe" for label in labels)
    assert ("other", "other", "unknown") in set(map(tuple, found.kinds[list(KIND)].to_numpy()))
    # so a node can never have more kinds than its output may list
    most = (len(MODALITIES) + 2) * (len(body_part_terms()) + 2) * len(CONTRAST)
    assert most <= MAX_KINDS


# ---- parameters and domains ------------------------------------------------------------------


def test_it_takes_a_cohort_and_nothing_else():
    parameters = REGISTRY["imaging_summary"].parameters
    for extra in ({"threshold": 1}, {"modality": "CT"}, {"sql": "select 1"}):
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            parameters.model_validate({"cohort": EVERYONE, **extra})
    with pytest.raises(ValidationError):
        parameters.model_validate({})


def test_it_reads_the_imaging_domain_whatever_its_cohort():
    analysis = REGISTRY["imaging_summary"]
    for cohort in (EVERYONE, CT_CHEST_WITH_CONTRAST):
        parameters = analysis.parameters.model_validate({"cohort": cohort})
        assert analysis.domains_of(parameters) == {"omop", "imaging"}


# ---- the hub part ----------------------------------------------------------------------------


def test_the_hub_regates_each_node_and_pools_the_groups(database):
    outputs = {}
    for name, cohort in (("women", WOMEN), ("men", MEN)):
        outcome = node_output(database, cohort)
        assert outcome.status == "succeeded", outcome
        outputs[name] = regate("imaging_summary", outcome.output, DEFAULT)
        assert outputs[name] == outcome.output  # the same profile lets every figure through
    pooled = combine("imaging_summary", outputs, ["absent"], DEFAULT)
    assert pooled["analysis"] == "imaging_summary" and "error" not in pooled
    assert pooled["nodes_contributing"] == ["men", "women"]
    assert pooled["nodes_missing"] == ["absent"]
    total = sum(o["persons"]["value"] for o in outputs.values())
    assert pooled["persons"]["value"] == total
    for field, keys in (("kinds", KIND), ("years", YEAR)):
        per_node = {n: listed(o[field], keys) for n, o in outputs.items()}
        for group in pooled[field]:
            labels = tuple(group[k] for k in keys)
            listing = [n for n in sorted(per_node) if labels in per_node[n]]
            sums = [sum(per_node[n][labels][i] for n in listing) for i in range(3)]
            assert (group["persons"]["value"], group["series"], group["studies"]) == tuple(sums)
            assert group["nodes_not_listing"] == sorted(set(per_node) - set(listing))
        every = set().union(*per_node.values())
        assert {tuple(g[k] for k in keys) for g in pooled[field]} == every
    # a group only one node listed is a lower bound naming the other
    assert any(g["nodes_not_listing"] for g in pooled["kinds"])


def test_a_stricter_hub_drops_what_it_would_hide(database):
    outcome = node_output(database, EVERYONE)
    stricter = DEFAULT.tightened(threshold=40)
    again = regate("imaging_summary", outcome.output, stricter)
    assert all(g["persons"]["value"] >= 40 for g in [*again["kinds"], *again["years"]])
    assert len(again["kinds"]) < len(outcome.output["kinds"])
    assert "hub: threshold" in again["gate"]["rules"] and again["gate"]["verdict"] == "pass"
    hidden = regate("imaging_summary", outcome.output, DEFAULT.tightened(threshold=5000))
    assert hidden["persons"]["value"] is None and hidden["kinds"] == hidden["years"] == []
    assert hidden["gate"] == {**hidden["gate"], "verdict": "fail", "rules": ["hub: threshold"]}
    bad = {**outcome.output}  # a node's output listing a suppressed group is refused
    suppressed = {"value": None, "suppressed": True, "rule": "x"}
    bad["kinds"] = [{**bad["kinds"][0], "persons": suppressed}]
    with pytest.raises(ValidationError, match="listed only with its persons released"):
        regate("imaging_summary", bad, DEFAULT)


# ---- how it reads ----------------------------------------------------------------------------


def test_the_result_reads_as_tables_text_and_csv(database):
    outputs = {n: node_output(database, c).output for n, c in (("women", WOMEN), ("men", MEN))}
    pooled = combine("imaging_summary", outputs, [], DEFAULT)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    view = TaskView(
        task_id="t1",
        project_id="p1",
        analysis="imaging_summary",
        state="complete",
        created_at=now,
        deadline=now,
        runs=[
            RunView(run_id=f"r{n}", node=n, state="succeeded", output=o) for n, o in outputs.items()
        ],
        combined=pooled,
    )
    result = REGISTRY["imaging_summary"].read(view)
    assert isinstance(result, ImagingSummaryResult)
    frame = result.to_frame()
    assert list(frame.columns) == [
        "modality",
        "body_part",
        "contrast",
        "persons",
        "series",
        "studies",
        "not from",
    ]
    assert len(frame) == len(pooled["kinds"]) and frame["persons"].sum() > 0
    assert list(result.to_frame("year", node="men").columns)[:2] == ["year", "persons"]
    text = str(result)
    assert "every series of the cohort's persons" in text and "by year" in text
    assert "at least; not from" in text  # a group one node did not list
    page = Shown(view, nodes=[])
    REGISTRY["imaging_summary"].show(view, page)
    assert [t.caption for t in page.tables] == [
        "Series by modality, body part and contrast",
        "Series by year (of the series, else the study)",
    ]
    assert len(page.details) == 4
    csv = result_csv(page)
    assert csv.startswith("table,modality,body part,contrast,persons,series,studies,not from")
    assert "Series by year" in csv and "not included" not in csv
    with pytest.raises(ValueError, match="kind"):
        result.to_frame("site")
