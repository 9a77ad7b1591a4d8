"""Approved temporary pooling's data (issue 18): a node's minimised, date-shifted extract of its
linked persons, read back within bounds, and the pool's OMOP CDM merged from the extracts, on
which the analysis frame is the node's own frame.

Unit tests on real DuckDB files made by the synthetic generator (``fivesafes synth omop``);
nodes with a part of the data each are copies of one generated CDM with rows deleted, so the
node's frame on the whole CDM is the reference for the pool's.
"""

from __future__ import annotations

import json
import shutil
import struct
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from fivesafes.analyses.variables import analysis_frame
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.domains import served
from fivesafes.data.engines import open_omop
from fivesafes.data.source import parse_data_source
from fivesafes.data.synth import generate
from fivesafes.pool.checks import Bounds
from fivesafes.pool.extract import Extract, extract
from fivesafes.pool.merge import merge
from fivesafes.pool.wire import MARK, write_extract
from pool_frames import differing, frame, keyed_shift, link, open_cdm

NAMES = [
    "age",
    "sex",
    "smoker",
    "bmi",
    "lung_cancer",
    "t2dm",
    "statin",
    "visits_past_year",
    "time_to_lung_cancer",
]
FIXED = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}
FIRST_BMI = {  # the index date is an event of the person's own, so it moves with their dates
    "name": "from the first BMI",
    "criteria": [{"domain": "measurement", "concepts": [3038553], "descendants": False}],
}
FIRST_SMOKING = {
    "name": "from the first smoking status",
    "criteria": [{"domain": "observation", "concepts": [43054909], "descendants": False}],
}
LUNG_CANCER_FAMILY = {443388, 4115276, 4110591}  # the tumour, NSCLC and SCLC


def no_shift(link_id: str) -> int:
    return 0


def pool_numbers(links: set[str]) -> dict[int, str]:
    """The pool's person_id -> link id, by merge's documented rule (sorted link ids, 1..N)."""
    return dict(enumerate(sorted(links), start=1))


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pool") / "northfield.duckdb"
    generate(path, 1000, 3, "northfield")
    return path


def copy_of(source: Path, to: Path, *statements: str) -> Path:
    shutil.copy(source, to)
    with duckdb.connect(str(to)) as con:
        for statement in statements:
            con.execute(statement)
    return to


def test_with_no_shift_the_pool_frame_is_the_node_frame(source, tmp_path):
    linked = {p: link(p) for p in range(1, 801)}
    with open_cdm(source) as db:
        cohort = set(analysis_frame(db, Cohort.model_validate(FIRST_BMI), ["age"]).person_ids)
        made = extract(db, linked, NAMES, no_shift, persons=cohort)
        chosen = {p: linked[p] for p in sorted(cohort & set(linked))}
        expected = {
            name: frame(db, c, chosen, NAMES) for name, c in (("fixed", FIXED), ("bmi", FIRST_BMI))
        }
    report = merge({"northfield": Extract.from_bytes(made.to_bytes())}, tmp_path / "pool.duckdb")
    assert report.persons_pooled == len(chosen) > 300
    assert report.persons_per_node == {"northfield": len(chosen)}
    assert (report.gender_disagreements, report.birth_disagreements) == (0, 0)
    pool_source = parse_data_source({"engine": "duckdb", "path": str(tmp_path / "pool.duckdb")})
    with open_omop(pool_source) as pool:
        assert served(pool.stored_tables())["omop"] == []
        got = {
            name: frame(pool, c, pool_numbers(set(chosen.values())), NAMES)
            for name, c in (("fixed", FIXED), ("bmi", FIRST_BMI))
        }
    for name in expected:
        assert set(got[name]) == set(expected[name])
        for variable, values in expected[name].items():
            assert differing(values, got[name][variable]) == [], (name, variable)
    events = expected["fixed"]["time_to_lung_cancer_event"].values()
    assert sum(events) >= 3  # the comparison covers events, not only censored times
    assert len(set(expected["fixed"]["smoker"].values())) >= 3


def test_per_person_shifts_keep_every_interval(source, tmp_path):
    timed = copy_of(  # a time of birth too, for the persons born in odd years
        source,
        tmp_path / "timed.duckdb",
        "UPDATE person SET birth_datetime = make_timestamp(year_of_birth, month_of_birth,"
        " day_of_birth, 8, 30, 0) WHERE year_of_birth % 2 = 1",
    )
    linked = {p: link(p) for p in range(1, 1001)}
    with open_cdm(timed) as db:
        made = extract(db, linked, NAMES, keyed_shift)
        expected = {
            name: frame(db, c, linked, NAMES) for name, c in (("fixed", FIXED), ("bmi", FIRST_BMI))
        }
    merge({"northfield": made}, tmp_path / "pool.duckdb")
    numbers = pool_numbers(set(linked.values()))
    with open_cdm(tmp_path / "pool.duckdb") as pool:
        got = {
            name: frame(pool, c, numbers, NAMES)
            for name, c in (("fixed", FIXED), ("bmi", FIRST_BMI))
        }

    # Dated from the person's own first BMI, every variable is the node's; age is whole
    # calendar years between two moved dates, so it may differ by one (tolerance: 1 year)
    # where the shift carries one of them over a new year and not the other.
    for variable, values in expected["bmi"].items():
        bad = differing(values, got["bmi"][variable])
        if variable == "age":
            assert all(abs(values[k] - got["bmi"]["age"][k]) == 1 for k in bad)
        else:
            assert bad == [], variable
    assert sum(expected["bmi"]["time_to_lung_cancer_event"].values()) >= 3
    # Dated from a calendar day, the variables do change: a pool's cohorts must be dated
    # from events of the person's own.
    assert differing(expected["fixed"]["visits_past_year"], got["fixed"]["visits_past_year"])

    births = (
        "SELECT person_id, year_of_birth, month_of_birth, day_of_birth, birth_datetime,"
        " observation_period_start_date FROM person JOIN observation_period USING (person_id)"
    )
    with duckdb.connect(str(timed), read_only=True) as con:
        node = con.execute(births).fetchall()
    with duckdb.connect(str(tmp_path / "pool.duckdb"), read_only=True) as con:
        pooled = {row[0]: row[1:] for row in con.execute(births).fetchall()}
    by_link = {link_id: n for n, link_id in numbers.items()}
    for person, year, month, day, at, start in node:
        moved = timedelta(days=keyed_shift(link(person)))
        born = date(year, month, day) + moved
        at = None if at is None else at + moved
        assert pooled[by_link[link(person)]] == (born.year, born.month, born.day, at, start + moved)
    assert 300 < sum(row[4] is not None for row in node) < 700
    assert len({keyed_shift(link(p)) for p in linked}) > 300


PERIOD = ["observation_period_start_date", "observation_period_end_date"]
CONCEPT = ["concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id"]
CONCEPT += ["standard_concept", "concept_code", "valid_start_date", "valid_end_date"]
ANCESTOR = ["ancestor_concept_id", "descendant_concept_id"]
ANCESTOR += ["min_levels_of_separation", "max_levels_of_separation"]
ALLOWED = {  # what an extract of sex and lung_cancer holds, table by table
    "person": ["person_id", "gender_concept_id"],
    "observation_period": ["person_id", *PERIOD],
    "condition_occurrence": ["person_id", "condition_concept_id", "condition_start_date"],
    "concept": [*CONCEPT, "invalid_reason"],
    "concept_ancestor": ANCESTOR,
}


def test_sex_and_lung_cancer_release_nothing_else(source, tmp_path):
    marked = copy_of(
        source,
        tmp_path / "marked.duckdb",
        "UPDATE person SET person_source_value = 'MRN' || lpad(person_id::VARCHAR, 7, '0'),"
        " provider_id = 77, care_site_id = 78, location_id = 79",
        "UPDATE condition_occurrence SET condition_source_value = 'MRN-note', provider_id = 77",
    )
    linked = {p: link(p) for p in range(1, 601)}
    with open_cdm(marked) as db:
        made = extract(db, linked, ["sex", "lung_cancer"], keyed_shift)
    assert {name: t.column_names for name, t in made.tables.items()} == ALLOWED
    data = made.to_bytes()
    assert b"MRN" not in data
    assert merge({"north": made}, tmp_path / "pool.duckdb").persons_pooled == 600

    with duckdb.connect(str(tmp_path / "pool.duckdb"), read_only=True) as con:
        columns: dict[str, list[str]] = {}
        for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " ORDER BY ordinal_position"
        ).fetchall():
            columns.setdefault(table, []).append(column)
        assert con.execute("SELECT count(year_of_birth) FROM person").fetchone() == (0,)
        rows = con.execute("SELECT DISTINCT condition_concept_id FROM condition_occurrence")
        concepts = {c for (c,) in rows.fetchall()}
        pooled_rows = con.execute("SELECT count(*) FROM condition_occurrence").fetchone()
    with duckdb.connect(str(source), read_only=True) as con:
        node_rows = con.execute(
            "SELECT count(*) FROM condition_occurrence WHERE person_id <= 600"
            " AND condition_concept_id IN (SELECT descendant_concept_id FROM concept_ancestor"
            " WHERE ancestor_concept_id = 443388)"
        ).fetchone()
    assert columns == {
        **ALLOWED,
        "person": ["person_id", "gender_concept_id", "year_of_birth"],  # always, empty here
        "observation_period": ["observation_period_id", *ALLOWED["observation_period"]],
        "condition_occurrence": ["condition_occurrence_id", *ALLOWED["condition_occurrence"]],
    }
    assert concepts <= LUNG_CANCER_FAMILY
    assert pooled_rows == node_rows and node_rows[0] > 0
    assert b"MRN" not in (tmp_path / "pool.duckdb").read_bytes()


def test_two_nodes_each_hold_a_part_and_only_persons_linked_at_both_are_pooled(source, tmp_path):
    node_a = copy_of(source, tmp_path / "a.duckdb", "DELETE FROM condition_occurrence")
    moved = [  # node B numbers its persons its own way
        f"UPDATE {t} SET person_id = person_id + 5000"
        for t in (
            "person",
            "observation_period",
            "visit_occurrence",
            "condition_occurrence",
            "drug_exposure",
            "procedure_occurrence",
            "measurement",
            "observation",
            "death",
        )
    ]
    node_b = copy_of(
        source,
        tmp_path / "b.duckdb",
        "DELETE FROM observation",
        *moved,
        "UPDATE person SET gender_concept_id = 8507 + 8532 - gender_concept_id"
        " WHERE person_id = 5300",  # the other gender at B for one person
    )
    variables = ["sex", "smoker", "lung_cancer", "time_to_lung_cancer"]
    links_a = {p: link(p) for p in range(1, 701)}
    links_b = {p + 5000: link(p) for p in range(201, 1001)}
    with open_cdm(node_a) as db:
        from_a = extract(db, links_a, variables, keyed_shift)
        unshifted_a = extract(db, links_a, variables, no_shift)
    with open_cdm(node_b) as db:
        from_b = extract(db, links_b, variables, keyed_shift)
    report = merge({"a": from_a, "b": from_b}, tmp_path / "pool.duckdb")
    assert report.persons_per_node == {"a": 700, "b": 800}
    assert report.persons_pooled == 500
    assert (report.gender_disagreements, report.birth_disagreements) == (1, 0)

    both = {p: link(p) for p in range(201, 701)}
    numbers = pool_numbers(set(both.values()))
    with open_cdm(source) as db:
        expected = frame(db, FIRST_SMOKING, both, variables)
    with open_cdm(tmp_path / "pool.duckdb") as pool:
        got = frame(pool, FIRST_SMOKING, numbers, variables)
        assert pool.table("person").count().to_pyarrow().as_py() == 500
    # The index (first smoking status) is node A's; lung cancer is node B's
    for variable in ("sex", "smoker", "lung_cancer", "time_to_lung_cancer"):
        assert differing(expected[variable], got[variable]) == [], variable
    assert sum(got["lung_cancer"].values()) >= 5
    assert sum(got["time_to_lung_cancer_event"].values()) >= 3

    # Controls: shifts that differ between the nodes break the intervals across them; the
    # person's attributes follow the node order
    merge({"a": unshifted_a, "b": from_b}, tmp_path / "skewed.duckdb")
    merge({"a": from_a, "b": from_b}, tmp_path / "b_first.duckdb", order=["b", "a"])
    with open_cdm(tmp_path / "skewed.duckdb") as pool:
        skewed = frame(pool, FIRST_SMOKING, numbers, variables)
    with open_cdm(tmp_path / "b_first.duckdb") as pool:
        b_first = frame(pool, FIRST_SMOKING, numbers, variables)
    assert differing(expected["time_to_lung_cancer"], skewed["time_to_lung_cancer"])
    assert differing(expected["sex"], b_first["sex"]) == [link(300)]


@pytest.fixture(scope="module")
def small(source) -> Extract:
    linked = {p: link(p) for p in range(1, 301)}
    with open_cdm(source) as db:
        made = extract(db, linked, ["sex", "lung_cancer"], keyed_shift)
    assert made.tables["condition_occurrence"].num_rows > 0
    return made


def pack(header: object, streams: list[bytes]) -> bytes:
    """An extract's bytes by hand, in the format ``fivesafes.pool.wire`` documents."""
    text = json.dumps(header).encode()
    text += b" " * (-(len(MARK) + 4 + len(text)) % 8)
    return MARK + struct.pack(">I", len(text)) + text + b"".join(streams)


def stream(table: pa.Table, compression: str | None = None) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def altered(small: Extract, name: str, table: pa.Table) -> bytes:
    return write_extract(small.variables, {**small.tables, name: table})


def test_a_well_formed_extract_reads_back_as_it_was(small):
    again = Extract.from_bytes(small.to_bytes())
    assert again.variables == small.variables
    assert all(again.tables[name].equals(small.tables[name]) for name in small.tables)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("junk", "not a pool extract"),
        ("truncated", "length is not the sum"),
        ("trailing", "length is not the sum"),
        ("oversized", "larger than a pool accepts"),
        ("too many rows", "more rows than a pool accepts"),
        ("unknown variable", "does not define"),
        ("tables out of order", "exactly the tables its variables need"),
        ("compressed", "compressed"),
        ("corrupt stream", "not well-formed Arrow streams"),
        ("extra column", "does not have the columns and types"),
        ("not a link id", "not a link id"),
        ("person twice", "a person twice"),
        ("orphan rows", "rows of persons it does not hold"),
        ("unreleased concept", "a concept not released"),
        ("missing date", "lacks a value the CDM requires"),
    ],
)
def test_a_malformed_or_oversized_extract_is_refused_in_words(small, case, message):
    good = small.to_bytes()
    person = small.tables["person"]
    conditions = small.tables["condition_occurrence"]
    secret = "lk_SECRET9990001234"
    header = {
        "variables": list(small.variables),
        "tables": [[n, len(stream(t))] for n, t in small.tables.items()],
    }
    bounds = Bounds()
    if case == "junk":
        data = b"PAR1" + bytes(range(200))
    elif case == "truncated":
        data = good[:-40]
    elif case == "trailing":
        data = good + secret.encode()
    elif case == "oversized":
        data, bounds = good, Bounds(max_bytes=len(good) - 1)
    elif case == "too many rows":
        data, bounds = good, Bounds(max_persons=len(person) - 1)
    elif case == "unknown variable":
        data = pack({**header, "variables": ["sex", secret]}, [])
    elif case == "tables out of order":
        data = pack({**header, "tables": header["tables"][::-1]}, [])
    elif case == "compressed":
        streams = [stream(t, "zstd") for t in small.tables.values()]
        sizes = [[n, len(s)] for n, s in zip(small.tables, streams, strict=True)]
        data = pack({**header, "tables": sizes}, streams)
    elif case == "corrupt stream":
        data = bytearray(good)
        at = good.index(b"\xff\xff\xff\xff", len(MARK) + 4)  # the first stream's first message
        data[at + 4 : at + 8] = struct.pack("<i", 1 << 30)
        data = bytes(data)
    elif case == "extra column":
        data = altered(
            small,
            "person",
            person.append_column("person_source_value", pa.array([secret] * len(person))),
        )
    elif case == "not a link id":
        data = altered(
            small, "person", person.set_column(0, "person_id", pa.array([secret] * len(person)))
        )
    elif case == "person twice":
        data = altered(small, "person", pa.concat_tables([person, person.slice(0, 1)]))
    elif case == "orphan rows":
        ids = pa.array([link(5000)] * len(conditions))
        data = altered(small, "condition_occurrence", conditions.set_column(0, "person_id", ids))
    elif case == "unreleased concept":
        other = pa.array([201826] * len(conditions), pa.int32())  # type 2 diabetes
        data = altered(
            small, "condition_occurrence", conditions.set_column(1, "condition_concept_id", other)
        )
    else:
        empty = pa.nulls(len(conditions), pa.date32())
        data = altered(
            small, "condition_occurrence", conditions.set_column(2, "condition_start_date", empty)
        )
    with pytest.raises(ValueError, match=message) as refused:
        Extract.from_bytes(data, bounds)
    assert "SECRET" not in str(refused.value) and "999" not in str(refused.value)
    assert refused.value.__cause__ is None
