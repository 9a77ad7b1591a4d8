"""A node compiles each query's SQL once per (query and its inputs, data source, opt-out
version) and keeps it in a bounded cache (``fivesafes.data.compiled``): a repeated query is
not compiled again and counts the same persons; a change to any part of the key compiles
afresh; an opt-out is never answered with SQL compiled before it. DuckDB and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ibis
import numpy as np
import pytest

from fivesafes.analyses.count.node import cohort_person_set, count_persons
from fivesafes.cohorts.circe import CirceCohort
from fivesafes.cohorts.compile import cohort_ids, criterion_events
from fivesafes.cohorts.concepts import known_concepts
from fivesafes.cohorts.criteria import Cohort
from fivesafes.cohorts.to_circe import to_circe
from fivesafes.data.compiled import Compiled, CompiledSql, Prepared, fetch, query_key
from fivesafes.data.engines import open_omop
from fivesafes.data.opt_out import OptOutList, replace_opt_outs
from fivesafes.data.source import DuckDBSource, OmopDatabase, PostgresSource, Source
from fivesafes.data.synth import generate
from fixtures_omop import FEMALE, MALE, PG_URL, OmopRows, drop_schema, new_schema_name, write_duckdb

DIABETES, T2DM, ASTHMA = 201820, 201826, 317009

ROWS = OmopRows(
    person=[(1, MALE, 1950), (2, FEMALE, 1960), (3, MALE, 1970), (4, FEMALE, 1980)],
    observation_period=[(p, "2000-01-01", "2020-12-31") for p in (1, 2, 3, 4)],
    condition=[
        (1, T2DM, "2010-05-01"),
        (2, T2DM, "2011-06-01"),
        (3, DIABETES, "2012-07-01"),
        (4, ASTHMA, "2013-08-01"),
    ],
    concept_ancestor=[(DIABETES, DIABETES), (DIABETES, T2DM)],
)
DIABETIC = Cohort.model_validate(
    {"name": "diabetes", "criteria": [{"domain": "condition", "concepts": [DIABETES]}]}
)
ASTHMATIC = Cohort.model_validate(
    {"name": "asthma", "criteria": [{"domain": "condition", "concepts": [ASTHMA]}]}
)


@pytest.fixture
def source(omop_engine: str, tmp_path: Path) -> Iterator[Source]:
    """The tiny CDM as a data source on the engine under test (nothing opened yet)."""
    path = write_duckdb(ROWS.tables(), tmp_path / "omop.duckdb")
    if omop_engine == "duckdb":
        yield DuckDBSource(engine="duckdb", path=path)
        return
    from fivesafes.data.pg_load import copy_omop_to_postgres

    schema = new_schema_name()
    try:
        copy_omop_to_postgres(path, PG_URL, schema)
        yield PostgresSource(engine="postgres", url=PG_URL, schema=schema)
    finally:
        drop_schema(schema)


class CountingCompiles:
    """Counts how often the engine's compiler is asked for SQL."""

    def __init__(self, db: OmopDatabase) -> None:
        self.calls = 0
        compile_ = db.backend.compile

        def counted(*args: object, **kwargs: object) -> str:
            self.calls += 1
            return str(compile_(*args, **kwargs))

        db.backend.compile = counted


def test_a_repeated_query_is_compiled_once_and_finds_the_same_persons(source: Source) -> None:
    with open_omop(source) as db:
        compiles = CountingCompiles(db)
        first = cohort_person_set(db, DIABETIC)
        assert (compiles.calls, db.compiled.misses, db.compiled.hits) == (2, 2, 0)
        # (the concept check and the cohort's persons: two queries, two entries)
        for _ in range(3):
            assert cohort_person_set(db, DIABETIC) == first
        assert (compiles.calls, db.compiled.misses, db.compiled.hits) == (2, 2, 6)
        assert set(first) == {1, 2, 3} and count_persons(db, DIABETIC) == 3


def test_a_circe_definition_is_compiled_once(tmp_path: Path) -> None:
    """circepy's plan (the node's slowest to build and compile) is kept the same way."""
    path = tmp_path / "synthetic.duckdb"
    generate(path, 300, 5)
    circe = CirceCohort(name="diabetes", circe=to_circe(DIABETIC))
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        compiles = CountingCompiles(db)
        first = cohort_person_set(db, circe)
        assert compiles.calls == 2 and len(first) > 0
        assert cohort_person_set(db, circe) == first
        assert compiles.calls == 2
        assert cohort_person_set(db, DIABETIC) == first  # the model and its Circe agree
        # circepy's concept sets are typed as the CDM's concept ids: DuckDB's plan matches
        # the events' own column against them, never a cast of it
        sql = next(c.sql for c in db.compiled._entries.values() if "codesets" in c.sql)
        plan = db.backend.con.execute(f"EXPLAIN {sql}").fetchall()[0][1]
        assert "condition_concept_id" in plan and "CAST(condition_concept_id" not in plan


def test_cached_sql_gives_what_ibis_gives_type_for_type(source: Source) -> None:
    with open_omop(source) as db:
        expected = cohort_ids(db, cohort=DIABETIC).to_pyarrow()
        for _ in range(2):  # compiled, then from the cache
            found = fetch(db, cohort_ids, cohort=DIABETIC)
            assert found.schema == expected.schema
            assert sorted(found.column("person_id").to_pylist()) == [1, 2, 3]


def test_each_part_of_the_key_changes_it(tmp_path: Path) -> None:
    path = write_duckdb(ROWS.tables(), tmp_path / "omop.duckdb")
    other = write_duckdb(ROWS.tables(), tmp_path / "other.duckdb")
    with (
        open_omop(DuckDBSource(engine="duckdb", path=path)) as db,
        open_omop(DuckDBSource(engine="duckdb", path=other)) as elsewhere,
        open_omop(DuckDBSource(engine="duckdb", path=path)) as again,
    ):
        base = query_key(db, cohort_ids, {"cohort": DIABETIC})
        changed = {
            "the definition": query_key(db, cohort_ids, {"cohort": ASTHMATIC}),
            "a parameter": query_key(db, known_concepts, {"ids": [DIABETES, T2DM]}),
            "the query": query_key(db, known_concepts, {"ids": [DIABETES]}),
            "the data source": query_key(elsewhere, cohort_ids, {"cohort": DIABETIC}),
        }
        assert query_key(again, cohort_ids, {"cohort": DIABETIC}) == base  # same source
        db._opt_out_version = "1:4:4:4"  # as if the list had one person in it
        changed["the opt-out version"] = query_key(db, cohort_ids, {"cohort": DIABETIC})
    assert changed["a parameter"] != query_key(again, known_concepts, {"ids": [DIABETES]})
    assert base not in changed.values()
    assert len(set(changed.values())) == len(changed)


def test_an_opt_out_is_never_answered_with_sql_compiled_before_it(source: Source) -> None:
    """One cache across connections (a node reopening its source): SQL compiled while the
    source had no opt-out list must not run once it has one. Were the opt-out version left
    out of the key, the second count would reuse that SQL and still count person 2."""
    shared = CompiledSql()
    with open_omop(source, compiled=shared) as db:
        assert set(cohort_person_set(db, DIABETIC)) == {1, 2, 3}
        assert db.opt_out_version() == "none"
    replace_opt_outs(source, OptOutList(np.array([2], dtype=np.int64)))
    with open_omop(source, compiled=shared) as db:
        assert db.opt_out_version() == "1:2:2:2"
        misses = shared.misses
        assert set(cohort_person_set(db, DIABETIC)) == {1, 3}
        assert shared.misses == misses + 2  # the concept check and the persons, compiled anew
        assert count_persons(db, DIABETIC) == 2
    replace_opt_outs(source, OptOutList(np.array([2, 3], dtype=np.int64)))
    with open_omop(source, compiled=shared) as db:
        assert set(cohort_person_set(db, DIABETIC)) == {1}
        assert db.opt_out_version() == "2:5:2:3"


def test_the_cache_is_bounded_and_keeps_the_most_recently_used() -> None:
    def sql(n: int, size: int = 10) -> Compiled:
        return Compiled(str(n) * size, schema=None)

    cache = CompiledSql(max_entries=3, max_chars=1_000)
    for n in range(5):
        cache.put(f"k{n}", sql(n))
    assert len(cache) == 3 and cache.get("k0") is None and cache.get("k1") is None
    assert cache.get("k2") is not None  # now the most recent: k3 goes first
    cache.put("k5", sql(5))
    assert cache.get("k3") is None and cache.get("k2") is not None
    by_size = CompiledSql(max_entries=100, max_chars=100)
    for n in range(5):
        by_size.put(f"k{n}", sql(n, 40))
    assert len(by_size) == 2 and by_size.chars == 80
    by_size.put("huge", sql(9, 101))  # larger than the whole cache: not kept
    assert by_size.get("huge") is None and len(by_size) == 2
    with pytest.raises(ValueError, match="at least one"):
        CompiledSql(max_entries=0)


def every_person(db: OmopDatabase) -> ibis.Table:
    return db.table("person")


def test_a_query_is_a_pure_function_of_its_key(tmp_path: Path) -> None:
    """A builder that could read anything besides its inputs (a closure) is refused; inputs
    are JSON (a model by its JSON form)."""
    path = write_duckdb(ROWS.tables(), tmp_path / "omop.duckdb")
    threshold = 10
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        with pytest.raises(TypeError, match="closure"):
            fetch(db, lambda db: db.table("person").limit(threshold))
        with pytest.raises(TypeError, match="JSON"):
            fetch(db, cohort_ids, cohort=object())
        assert fetch(db, every_person).num_rows == 4


def in_memory(db: OmopDatabase) -> ibis.Table:
    wanted = ibis.memtable({"person_id": [1, 2]})
    person = db.table("person")
    return person.semi_join(wanted, person.person_id == wanted.person_id).select("person_id")


def test_a_query_holding_an_in_memory_table_runs_but_is_not_kept(tmp_path: Path) -> None:
    path = write_duckdb(ROWS.tables(), tmp_path / "omop.duckdb")
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        for _ in range(2):
            assert sorted(fetch(db, in_memory).column("person_id").to_pylist()) == [1, 2]
        assert len(db.compiled) == 0


def test_a_concept_set_is_typed_as_the_column_it_matches(tmp_path: Path) -> None:
    """The platform model's concept sets take the event column's type, so the SQL casts the
    few concept ids, never the event table's column (which would hide its statistics from
    the planner and stop DuckDB filtering the scan by the set)."""
    path = write_duckdb(ROWS.tables(), tmp_path / "omop.duckdb")
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        sql = str(ibis.to_sql(criterion_events(DIABETIC.criteria[0], db), dialect="duckdb"))
    assert "CAST(" not in sql
    assert sorted(set(cohort_ids_of(path))) == [1, 2, 3]


def cohort_ids_of(path: Path) -> list[int]:
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        return [int(i) for i in cohort_person_set(db, DIABETIC)]


def test_duckdb_prepares_each_query_once_per_connection(tmp_path: Path) -> None:
    """On DuckDB a kept query is also prepared, once per connection: asked again, it runs the
    prepared plan and finds what the SQL as text finds."""
    path = write_duckdb(ROWS.tables(), tmp_path / "omop.duckdb")
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        first = cohort_person_set(db, DIABETIC)
        assert len(db.prepared) == 2  # the concept check and the cohort's persons
        for _ in range(2):
            assert cohort_person_set(db, DIABETIC) == first
        assert len(db.prepared) == 2
        sql = next(c.sql for c in db.compiled._entries.values() if "person_id" in c.sql)
        as_text = db.backend.con.sql(sql).to_arrow_table()
        assert sorted(as_text.column("person_id").to_pylist()) == sorted(first)
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as again:
        assert len(again.prepared) == 0  # statements belong to their connection
        assert cohort_person_set(again, DIABETIC) == first


def test_a_prepared_statement_is_a_plan_not_a_result() -> None:
    """A prepared statement reads its tables as they are when it runs; the statements kept
    are bounded, the least recently used deallocated first."""
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE t (x INTEGER)")
    prepared = Prepared(max_entries=2)
    assert prepared.run(con, "SELECT count(*) AS n FROM t").column("n").to_pylist() == [0]
    con.execute("INSERT INTO t VALUES (1), (2)")
    assert prepared.run(con, "SELECT count(*) AS n FROM t").column("n").to_pylist() == [2]
    for query in ("SELECT 1 AS n", "SELECT 2 AS n", "SELECT count(*) AS n FROM t"):
        prepared.run(con, query)
    assert len(prepared) == 2
    with pytest.raises(duckdb.Error, match="does not exist"):
        con.execute("EXECUTE fivesafes_q1")  # the first, least recently used: deallocated
    with pytest.raises(ValueError, match="at least one"):
        Prepared(max_entries=0)
