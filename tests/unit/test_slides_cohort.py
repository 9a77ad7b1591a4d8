"""The slide cohort criterion (``cohorts.criteria.SlideCriterion``, ``slides.cohort``) on a real
node's data: synthetic slides written (``slides.synth``, which also records their specimens in
the CDM) and registered (``slides.register``) with their specimen map; the persons with a slide
of a stain are exactly those the ground truth names; a window on the specimen's date counts;
an opted-out person's slides are gone; the task reads the ``pathology`` data domain.

The specimen's anatomic site (``site``), on each engine a node's data may live on (DuckDB, and
PostgreSQL with the node's tables copied there): the synthetic specimens are from the upper
lobe, the lower lobe or the lung unspecified (``slides.synth_plan``), so a site finds exactly
the persons the ground truth gives it, the lung finds all three through ``concept_ancestor``
and, with ``descendants`` false, only the unspecified one.

The slides a cohort chooses (``cohorts.compile.cohort_slides``, a release for review by cohort),
on both engines: its persons' slides that fit its slide criteria, by stain, with the person's
sex, with a second slide criterion, in days from a fixed index; none without a slide
criterion."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest
from pydantic import ValidationError

from fivesafes.cohorts.compile import cohort_ids
from fivesafes.cohorts.concepts import UnknownConceptError, check_concepts
from fivesafes.cohorts.criteria import Cohort, SlideCriterion
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource, OmopDatabase
from fivesafes.data.synth import generate
from fivesafes.imaging.synth import link_persons
from fivesafes.node.pseudonyms import pseudonym
from fivesafes.slides.register import RegisterReport, read_map, read_slides, write_slides
from fivesafes.slides.synth import write_slides as synthesise
from fivesafes.slides.synth_plan import LOWER_LOBE, LUNG_SITE, LYMPH_NODE, UPPER_LOBE
from fixtures_omop import drop_schema, new_schema_name, open_engine

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("slides-cohort")
    omop = root / "omop.duckdb"
    generate(omop, persons=1500, seed=3)
    link_persons(omop, lambda value: pseudonym(value, KEY))
    made = synthesise(omop, root / "made", seed=2, persons_limit=12, width=1024, height=768)
    report = RegisterReport()
    slides = read_slides(
        [root / "made" / "slides"], KEY, read_map(made.truth / "specimen_map.csv"), report
    )
    with duckdb.connect(str(omop)) as con:
        write_slides(con, slides, lambda p: pseudonym(p, KEY), report)
    with (made.truth / "slides.csv").open() as handle:
        truth = [row for row in csv.DictReader(handle) if row["format"] == "svs"]
    return {"omop": omop, "truth": truth, "report": report, "root": root}


def persons(database: Path, cohort: dict) -> set[int]:
    with open_omop(DuckDBSource(engine="duckdb", path=database)) as db:
        found = cohort_ids(db, cohort=Cohort.model_validate(cohort)).to_pyarrow()
    return set(found.column("person_id").to_pylist())


def test_persons_with_a_slide_of_a_stain_are_the_planted_ones(node):
    assert node["report"].links == {"linked": len(node["truth"]) + 1}  # the OME-TIFF copy too
    by_stain: dict[str, set[int]] = {}
    for row in node["truth"]:
        by_stain.setdefault(row["stain"], set()).add(int(row["person_id"]))
    he = {"name": "h&e", "criteria": [{"domain": "slide", "stain": ["h & e"]}]}
    assert persons(node["omop"], he) == by_stain["H&E"] and len(by_stain["H&E"]) >= 5
    ihc = sorted(s for s in by_stain if s != "H&E")
    assert ihc, "the synthetic slides hold some immunohistochemistry"
    either = {"name": "ihc", "criteria": [{"domain": "slide", "stain": ihc}]}
    assert persons(node["omop"], either) == set().union(*(by_stain[s] for s in ihc))
    dates = sorted(date.fromisoformat(r["specimen_date"]) for r in node["truth"])
    middle = dates[len(dates) // 2]
    windowed = {
        "name": "later",
        "criteria": [{"domain": "slide", "window": {"start": middle.isoformat()}}],
    }
    later = {int(r["person_id"]) for r in node["truth"]
             if date.fromisoformat(r["specimen_date"]) >= middle}  # fmt: skip
    assert persons(node["omop"], windowed) == later
    assert Cohort.model_validate(he).data_domains() == {"omop", "pathology"}


def test_an_opted_out_persons_slides_are_gone(node, tmp_path):
    copy = tmp_path / "omop.duckdb"
    shutil.copy(node["omop"], copy)
    leaving = int(node["truth"][0]["person_id"])
    with duckdb.connect(str(copy)) as con:
        con.execute("CREATE TABLE fivesafes_opt_out (person_id BIGINT)")
        con.execute("INSERT INTO fivesafes_opt_out VALUES (?)", [leaving])
    anyone = {"name": "any slide", "criteria": [{"domain": "slide"}]}
    assert leaving in persons(node["omop"], anyone)
    assert leaving not in persons(copy, anyone)


# ---- the specimen's anatomic site ----------------------------------------------------------


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def engine_db(node, request: pytest.FixtureRequest) -> Iterator[OmopDatabase]:
    """The node's data on one engine (for PostgreSQL, every table copied into a schema)."""
    schema = new_schema_name() if request.param == "postgres" else None
    db = open_engine(str(request.param), node["omop"], schema)
    try:
        yield db
    finally:
        db.close()
        if schema is not None:
            drop_schema(schema)


def site_ids(database: Path) -> dict[str, int]:
    """Each synthetic site's concept id in the CDM's vocabulary, by SNOMED code."""
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "SELECT concept_code, concept_id FROM concept WHERE vocabulary_id = 'SNOMED'"
            " AND domain_id = 'Spec Anatomic Site' AND standard_concept = 'S'"
        ).fetchall()
    return {str(code): int(concept) for code, concept in rows}


def slide_cohort(**criterion: object) -> Cohort:
    return Cohort.model_validate({"name": "site", "criteria": [{"domain": "slide", **criterion}]})


def found(db: OmopDatabase, cohort: Cohort) -> set[int]:
    return set(cohort_ids(db, cohort=cohort).to_pyarrow().column("person_id").to_pylist())


def test_a_site_finds_the_persons_whose_specimen_is_from_it(node, engine_db) -> None:
    ids = site_ids(node["omop"])
    by_site: dict[int, set[int]] = {}
    for row in node["truth"]:
        by_site.setdefault(int(row["anatomic_site_concept_id"]), set()).add(int(row["person_id"]))
    upper, lower, lung = (by_site.get(ids[s.code], set()) for s in (UPPER_LOBE, LOWER_LOBE,
                                                                      LUNG_SITE))  # fmt: skip
    assert upper and lower and lung, "the synthetic specimens come from three sites"
    assert found(engine_db, slide_cohort(site=[ids[UPPER_LOBE.code]])) == upper
    both = [ids[UPPER_LOBE.code], ids[LOWER_LOBE.code]]
    assert found(engine_db, slide_cohort(site=both)) == upper | lower
    whole = slide_cohort(site=[ids[LUNG_SITE.code]])
    assert found(engine_db, whole) == upper | lower | lung  # the lobes are under the lung
    exact = slide_cohort(site=[ids[LUNG_SITE.code]], descendants=False)
    assert found(engine_db, exact) == lung
    assert found(engine_db, slide_cohort(site=[ids[LYMPH_NODE.code]])) == set()
    he_upper = slide_cohort(stain=["H&E"], site=[ids[UPPER_LOBE.code]])
    assert found(engine_db, he_upper) == upper  # every specimen has an H&E slide
    check_concepts(whole, engine_db)  # the sites are in the node's vocabulary


def test_a_site_is_a_concept_of_the_cohort_and_said_in_words(node) -> None:
    ids = site_ids(node["omop"])
    criterion = SlideCriterion(domain="slide", stain=("H&E",), site=(ids[LUNG_SITE.code],))
    assert criterion.concept_ids() == {ids[LUNG_SITE.code]}
    assert criterion.describe() == f"slide H&E, site {ids[LUNG_SITE.code]}"
    exact = SlideCriterion(domain="slide", site=(1, 2, 3, 4), descendants=False)
    assert exact.describe() == "slide of any stain, site 1, 2, 3 and 1 more exactly"
    assert SlideCriterion(domain="slide").concept_ids() == frozenset()
    with pytest.raises(ValidationError, match="descendants applies to a slide's site"):
        SlideCriterion(domain="slide", descendants=False)
    # a criterion as the hub signs it (every field written) is valid again at the node
    for written in (SlideCriterion(domain="slide", stain=("H&E",)), exact):
        assert SlideCriterion.model_validate(written.model_dump(mode="json")) == written
    with pytest.raises(ValidationError):
        slide_cohort(site=[])
    unknown = slide_cohort(site=[ids[UPPER_LOBE.code], 1_999_999_999])
    with (
        open_omop(DuckDBSource(engine="duckdb", path=node["omop"])) as db,
        pytest.raises(UnknownConceptError, match="1999999999"),
    ):
        check_concepts(unknown, db)


# ---- the slides a cohort chooses (a release for review by cohort) ---------------------------


def registry(database: Path) -> list[tuple[str, int, str, int, date]]:
    """Each registered slide with a person and a specimen: its id, person, stain, the person's
    gender concept and the specimen's date."""
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(
            "SELECT s.slide_id, s.person_id, s.stain, p.gender_concept_id, sp.specimen_date"
            " FROM pathology_slide s JOIN person p USING (person_id)"
            " JOIN specimen sp ON sp.specimen_id = s.specimen_id"
        ).fetchall()


def chosen(db: OmopDatabase, cohort: dict) -> set[str]:
    from fivesafes.cohorts.compile import cohort_slides

    table = cohort_slides(Cohort.model_validate(cohort), db).to_pyarrow()
    ids = table.column("slide_id").to_pylist()
    assert len(ids) == len(set(ids))  # each slide once
    return set(ids)


def test_a_cohort_chooses_the_slides_that_bring_its_persons_in(node, engine_db) -> None:
    slides = registry(node["omop"])
    he = {s[0] for s in slides if s[2] == "H&E"}
    planted = {int(r["person_id"]) for r in node["truth"] if r["stain"] == "H&E"}
    assert {s[1] for s in slides if s[0] in he} == planted  # the planted truth, as registered
    cohort = {"name": "he", "criteria": [{"domain": "slide", "stain": ["H&E"]}]}
    assert chosen(engine_db, cohort) == he

    women = {s[0] for s in slides if s[0] in he and s[3] == 8532}
    assert 0 < len(women) < len(he)
    assert chosen(engine_db, cohort | {"sex": ["female"]}) == women

    ihc = sorted({s[2] for s in slides} - {"H&E"})[0]
    both = {"name": "both", "criteria": [{"domain": "slide", "stain": ["H&E"]},
                                         {"domain": "slide", "stain": [ihc]}]}  # fmt: skip
    with_ihc = {s[1] for s in slides if s[2] == ihc}
    expected = {s[0] for s in slides if s[1] in with_ihc and s[2] in ("H&E", ihc)}
    assert chosen(engine_db, both) == expected

    index = date(2000, 1, 1)  # days from a fixed index: the specimen's date counts
    gaps = sorted((s[4] - index).days for s in slides if s[0] in he)
    cut = gaps[len(gaps) // 2]
    relative = {"domain": "slide", "stain": ["H&E"], "days_from_index": {"min": 0, "max": cut}}
    early = {"name": "early", "index": {"type": "fixed", "date": index.isoformat()},
             "criteria": [relative]}  # fmt: skip
    in_window = {s[0] for s in slides if s[0] in he and 0 <= (s[4] - index).days <= cut}
    assert 0 < len(in_window) < len(he)
    assert chosen(engine_db, early) == in_window


def test_a_cohort_without_a_slide_criterion_chooses_no_slides(node, engine_db) -> None:
    from fivesafes.cohorts.compile import cohort_slides

    everyone = Cohort.model_validate({"name": "all", "sex": ["female"]})
    with pytest.raises(ValueError, match="no slide criterion"):
        cohort_slides(everyone, engine_db)
    excluded = {"name": "x", "criteria": [{"domain": "slide", "stain": ["H&E"], "exclude": True}]}
    with pytest.raises(ValueError, match="no slide criterion"):
        cohort_slides(Cohort.model_validate(excluded), engine_db)
