"""The OMOP Medical Imaging extension's tables (fivesafes.imaging.omop_tables): built at the end
of every index run, one image_occurrence row per linked series equal to the synthetic archive's
planted truth, each CT chest series linked to its CT chest procedure, ids that do not change
between runs, no path, opted-out persons gone when read through the view layer; and, on tiny
hand-made nodes, the rules for procedures, visits and anatomic sites one by one."""

from __future__ import annotations

import csv
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.imaging.index import index_archive
from fivesafes.imaging.omop_tables import CT_OF_CHEST, PLAIN_CHEST_XRAY, stable_id, unique_ids
from fivesafes.imaging.rules import load_rules
from fivesafes.imaging.tables import IMAGE_FEATURE_COLUMNS, IMAGE_OCCURRENCE_COLUMNS
from imaging_data import SynthNode, synth_node, write_image


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> SynthNode:
    return synth_node(tmp_path_factory.mktemp("imaging-omop"))


@pytest.fixture(scope="module")
def indexed(node) -> Path:
    database = node.fresh_database("indexed")
    node.index(database, node.root / "omop-headers.sqlite")
    return database


def rows(database: Path, sql: str, parameters: list | None = None) -> list[dict]:
    with duckdb.connect(str(database), read_only=True) as con:
        cursor = con.execute(sql, parameters or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def planted(node: SynthNode) -> list[dict]:
    with (node.truth / "series.csv").open() as handle:
        return [row for row in csv.DictReader(handle) if row["person_id"]]


def test_one_row_per_linked_series_with_the_planted_person_and_date(node, indexed):
    truth = {r["series_instance_uid"]: r for r in planted(node)}
    found = {r["image_series_uid"]: r for r in rows(indexed, "SELECT * FROM image_occurrence")}
    assert set(found) == set(truth) and len(found) > 100
    for uid, row in found.items():
        expected = truth[uid]
        assert row["person_id"] == int(expected["person_id"]), uid
        assert row["image_occurrence_date"] == date.fromisoformat(expected["study_date"]), uid
        assert row["image_study_uid"] == expected["study_instance_uid"]
        assert row["modality_source_value"] == expected["modality"]
        assert row["anatomic_site_source_value"] == (expected["body_part"] or None)
        assert row["modality_concept_id"] == 0
        assert row["anatomic_site_concept_id"] == 0  # the synthetic vocabulary has no sites
    columns = rows(indexed, "DESCRIBE image_occurrence")
    assert [c["column_name"] for c in columns] == [c for c, _ in IMAGE_OCCURRENCE_COLUMNS]


def test_every_ct_chest_series_is_linked_to_its_ct_chest_procedure(node, indexed):
    linked = {
        r["image_series_uid"]: r
        for r in rows(
            indexed,
            "SELECT i.image_series_uid, i.person_id AS image_person, i.image_occurrence_date,"
            " p.person_id, p.procedure_concept_id, p.procedure_date"
            " FROM image_occurrence AS i LEFT JOIN procedure_occurrence AS p"
            " USING (procedure_occurrence_id)",
        )
    }
    kinds = {"ct_chest": CT_OF_CHEST, "cr_chest": PLAIN_CHEST_XRAY}
    checked = {kind: 0 for kind in kinds}
    for row in planted(node):
        if row["study_kind"] not in kinds:
            continue
        got = linked[row["series_instance_uid"]]
        assert got["procedure_concept_id"] == kinds[row["study_kind"]], row
        assert got["person_id"] == got["image_person"] == int(row["person_id"])
        assert got["procedure_date"] == date.fromisoformat(row["study_date"])
        checked[row["study_kind"]] += 1
    assert checked["ct_chest"] >= 20 and checked["cr_chest"] >= 1, checked


def test_visits_are_the_persons_and_cover_the_date(indexed):
    found = rows(
        indexed,
        "SELECT i.person_id, i.image_occurrence_date AS day, v.person_id AS visit_person,"
        " v.visit_start_date, v.visit_end_date FROM image_occurrence AS i"
        " JOIN visit_occurrence AS v USING (visit_occurrence_id)",
    )
    assert len(found) > 50
    for row in found:
        assert row["visit_person"] == row["person_id"]
        assert row["visit_start_date"] <= row["day"] <= row["visit_end_date"]


def test_features_are_the_series_header_values(indexed):
    series = {
        r["series_instance_uid"]: r
        for r in rows(indexed, "SELECT * FROM imaging_series WHERE person_id IS NOT NULL")
    }
    occurrence = {
        r["image_occurrence_id"]: r["image_series_uid"]
        for r in rows(indexed, "SELECT * FROM image_occurrence")
    }
    features = rows(indexed, "SELECT * FROM image_feature")
    columns = rows(indexed, "DESCRIBE image_feature")
    assert [c["column_name"] for c in columns] == [c for c, _ in IMAGE_FEATURE_COLUMNS]
    by_kind: dict[str, int] = {}
    for f in features:
        uid = occurrence[f["image_occurrence_id"]]
        s = series[uid]
        kind = f["image_feature_source_value"]
        by_kind[kind] = by_kind.get(kind, 0) + 1
        assert f["person_id"] == s["person_id"]
        assert f["image_feature_id"] == stable_id(uid, kind)
        assert f["image_feature_event_id"] is None and f["alg_datetime"] is None
        if kind == "SliceThickness":
            assert (f["value_as_number"], f["unit_source_value"]) == (s["slice_thickness"], "mm")
        elif kind == "KVP":
            assert (f["value_as_number"], f["unit_source_value"]) == (s["kvp"], "kV")
        elif kind == "Contrast":
            assert f["value_as_string"] == s["contrast"] != "unknown"
            assert s["rules_version"] in f["alg_system"]
        else:
            assert kind == "BurnedInAnnotation"
            assert f["value_as_string"] == s["burned_in"] != "unknown"
    assert set(by_kind) == {"SliceThickness", "KVP", "Contrast", "BurnedInAnnotation"}
    assert by_kind["SliceThickness"] == sum(
        s["slice_thickness"] is not None for s in series.values()
    )
    assert by_kind["Contrast"] == sum(s["contrast"] != "unknown" for s in series.values())


def test_no_path_reaches_the_readable_tables(node, indexed):
    assert rows(
        indexed,
        "SELECT count(*) AS n FROM image_occurrence"
        " WHERE local_path IS NOT NULL OR wadors_uri IS NOT NULL",
    ) == [{"n": 0}]
    for name in ("image_occurrence", "image_feature"):
        values = rows(
            indexed,
            f"SELECT string_agg(CAST(COLUMNS(*) AS VARCHAR), '|') FROM {name}",
        )[0]
        joined = "|".join(v for v in values.values() if v)
        assert str(node.archive) not in joined and "/" not in joined, name
        assert "SYN" not in joined.upper(), name  # no PatientID


def test_ids_are_stable_and_a_rerun_gives_the_same_tables(node, tmp_path):
    database = node.fresh_database("omop-rerun")
    headers = tmp_path / "headers.sqlite"
    node.index(database, headers)
    sql = {
        name: f"SELECT * FROM {name} ORDER BY ALL" for name in ("image_occurrence", "image_feature")
    }
    first = {name: rows(database, q) for name, q in sql.items()}
    assert all(
        r["image_occurrence_id"] == stable_id(r["image_series_uid"])
        for r in first["image_occurrence"]
    )
    again = node.index(database, headers)
    assert again.read == 0
    assert {name: rows(database, q) for name, q in sql.items()} == first

    # the node's vocabulary gains SNOMED's chest: the next run codes chest series with it
    with duckdb.connect(str(database)) as con:
        con.execute(
            "INSERT INTO concept (concept_id, concept_name, domain_id, vocabulary_id,"
            " concept_class_id, standard_concept, concept_code, valid_start_date,"
            " valid_end_date) VALUES (90000001, 'Thoracic structure', 'Spec Anatomic Site',"
            " 'SNOMED', 'Body Structure', 'S', '816094009', DATE '1970-01-01',"
            " DATE '2099-12-31')"
        )
    node.index(database, headers)
    coded = rows(database, sql["image_occurrence"])
    assert [r["image_occurrence_id"] for r in coded] == [
        r["image_occurrence_id"] for r in first["image_occurrence"]
    ]
    chest = [r for r in coded if r["anatomic_site_source_value"] == "CHEST"]
    assert chest and all(r["anatomic_site_concept_id"] == 90000001 for r in chest)
    assert all(r["anatomic_site_concept_id"] == 0 for r in coded if r not in chest)


def test_opted_out_persons_are_absent_through_the_view_layer(indexed, tmp_path):
    database = tmp_path / "opted-out.duckdb"
    shutil.copy(indexed, database)
    people = sorted({r["person_id"] for r in rows(database, "SELECT person_id FROM image_feature")})
    out = people[::3]
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE TABLE fivesafes_opt_out (person_id BIGINT)")
        con.executemany("INSERT INTO fivesafes_opt_out VALUES (?)", [[p] for p in out])
    data = open_omop(DuckDBSource(engine="duckdb", path=database))
    try:
        for name in ("image_occurrence", "image_feature"):
            seen = set(data.table(name).to_pandas()["person_id"])
            assert not seen & set(out), name
            assert seen == set(people) - set(out), name
    finally:
        data.close()


# ---- the rules, one by one, on tiny hand-made nodes -------------------------------------


def tiny_node(tmp_path: Path, *statements: str) -> Path:
    """A node whose CDM is one person (pseudonym ``P0001``) and ``statements``; one CT chest
    series of two images, StudyDate 2020-01-02, indexed."""
    database = tmp_path / "tiny.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE TABLE person (person_id BIGINT, person_source_value VARCHAR)")
        con.execute("INSERT INTO person VALUES (7, 'P0001')")
        for statement in statements:
            con.execute(statement)
    for n in (1, 2):
        write_image(tmp_path / "archive" / f"{n}.dcm", SOPInstanceUID=f"2.25.100{n}")
    index_archive(
        [tmp_path / "archive"],
        database=database,
        header_store=tmp_path / "headers.sqlite",
        rules=load_rules(),
        pseudonym_of=lambda patient_id: patient_id,
    )
    return database


def the_occurrence(database: Path) -> dict:
    found = rows(database, "SELECT * FROM image_occurrence")
    assert len(found) == 1
    return found[0]


def test_a_node_without_procedures_visits_or_vocabulary_gets_nulls_and_zeros(tmp_path):
    row = the_occurrence(tiny_node(tmp_path))
    assert (row["person_id"], row["procedure_occurrence_id"], row["visit_occurrence_id"]) == (
        7,
        None,
        None,
    )
    assert (row["anatomic_site_concept_id"], row["modality_concept_id"]) == (0, 0)
    assert row["image_series_uid"] == "2.25.11" and row["image_occurrence_id"] == stable_id(
        "2.25.11"
    )


PROCEDURES = """
CREATE TABLE procedure_occurrence AS SELECT * FROM (VALUES
    -- id, person, concept, date, visit       -- why it is or is not chosen
    (1, 7, 4000001, DATE '2020-01-02', 10),   -- that day, not an imaging procedure: rank 3
    (2, 7, 4163872, DATE '2020-01-02', 11),   -- an imaging procedure, not this study's: rank 2
    (4, 7, 4058335, DATE '2020-01-02', 12),   -- CT of chest: this study's own, rank 1
    (3, 8, 4058335, DATE '2020-01-02', 13),   -- another person's
    (5, 7, 4058335, DATE '2020-01-03', 14),   -- another day
    (6, 7, 4058335, DATE '2020-01-02', 15)    -- this study's own too, a higher id
) AS p (procedure_occurrence_id, person_id, procedure_concept_id, procedure_date,
        visit_occurrence_id)
"""

VISITS = """
CREATE TABLE visit_occurrence AS SELECT * FROM (VALUES
    (11, 7, DATE '2020-01-01', DATE '2020-01-05'),   -- covers the day: latest start of two
    (10, 7, DATE '2019-12-30', DATE '2020-01-04'),   -- covers the day
    (12, 7, DATE '2020-01-03', DATE '2020-01-03'),   -- the procedure's, not covering the day
    (20, 8, DATE '2020-01-02', DATE '2020-01-02')    -- another person's
) AS v (visit_occurrence_id, person_id, visit_start_date, visit_end_date)
"""


def test_the_studys_own_procedure_comes_first_then_its_covering_visit(tmp_path):
    row = the_occurrence(tiny_node(tmp_path, PROCEDURES, VISITS))
    assert row["procedure_occurrence_id"] == 4
    assert row["visit_occurrence_id"] == 11  # the procedure's visit 12 does not cover the day


def test_an_imaging_procedure_comes_before_any_other_and_its_visit_first(tmp_path):
    procedures = PROCEDURES.replace("4058335", "4000002")  # no CT of chest any more
    visits = VISITS.replace("(12, 7, DATE '2020-01-03'", "(12, 7, DATE '2020-01-02'")
    row = the_occurrence(tiny_node(tmp_path, procedures, visits))
    assert (row["procedure_occurrence_id"], row["visit_occurrence_id"]) == (2, 11)


def test_any_procedure_that_day_when_no_imaging_one(tmp_path):
    procedures = PROCEDURES.replace("4058335", "4000002").replace("4163872", "4000003")
    row = the_occurrence(tiny_node(tmp_path, procedures))
    assert (row["procedure_occurrence_id"], row["visit_occurrence_id"]) == (1, None)


SITES = """
CREATE TABLE concept AS SELECT * FROM (VALUES
    (101, '51185008', 'SNOMED', 'Spec Anatomic Site', 'S', NULL),   -- the older code
    (102, '816094009', 'SNOMED', 'Spec Anatomic Site', 'S', NULL),  -- today's: preferred
    (103, '816094009', 'SNOMED', 'Spec Anatomic Site', NULL, NULL)  -- not standard
) AS c (concept_id, concept_code, vocabulary_id, domain_id, standard_concept, invalid_reason)
"""


@pytest.mark.parametrize(
    ("concepts", "expected"),
    [
        (SITES, 102),
        (
            SITES.replace("'816094009', 'SNOMED', 'Spec Anatomic Site', 'S'", "'x', 'x', 'x', 'S'"),
            101,
        ),
        (SITES.replace("'Spec Anatomic Site'", "'Observation'"), 0),
    ],
    ids=["today's code first", "the older code", "not a site"],
)
def test_the_anatomic_site_is_the_nodes_standard_snomed_concept(tmp_path, concepts, expected):
    assert the_occurrence(tiny_node(tmp_path, concepts))["anatomic_site_concept_id"] == expected


def test_rows_sharing_a_hash_keep_it_in_key_order_then_take_the_hash_of_key_and_number():
    hashed = "WITH hashed AS (SELECT * FROM (VALUES ('b', 5), ('a', 5), ('c', 6), ('d', 5))"
    sql = (
        f"{hashed} AS x (key, h)), {unique_ids('key')} SELECT key, id FROM unique_ids ORDER BY key"
    )
    with duckdb.connect() as con:
        found = dict(con.execute(sql).fetchall())
    assert found == {"a": 5, "b": stable_id("b", "2"), "c": 6, "d": stable_id("d", "3")}
