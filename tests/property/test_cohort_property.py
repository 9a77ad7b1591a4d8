"""Random tiny CDMs and random cohorts: the Ibis compilation agrees with the pandas reference.

The values are drawn from small pools around the edges that matter (window bounds, range
bounds, birth years one apart, concepts with and without ancestors, missing values), so
Hypothesis finds the off-by-one and NULL cases rather than wide, empty cohorts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import ibis
import pandas as pd
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cohort_reference import reference_persons
from fivesafes.cohorts.compile import cohort_persons
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.source import OmopDatabase
from fixtures_omop import FEMALE, MALE, OmopRows

CONCEPTS = [1, 2, 3]
UNITS = [10, 11]
VALUE_CONCEPTS = [20, 21]
DAYS = ["2005-06-30", "2019-12-31", "2020-01-01", "2020-01-02"]
VALUES = [None, 1.0, 2.0, 2.5, 3.0]
BIRTH_YEARS = [1955, 1959, 1960]
AGES = [45, 46, 50, 59, 60, 61, 64, 65]  # every index year minus every birth year

persons = st.lists(
    st.tuples(st.sampled_from([MALE, FEMALE, 0]), st.sampled_from(BIRTH_YEARS)),
    min_size=3,
    max_size=5,
)
person_ids = st.integers(1, 6)  # 6 never has a person row: orphan events are harmless
concept = st.sampled_from(CONCEPTS)
day = st.sampled_from(DAYS)


@st.composite
def omop_rows(draw: st.DrawFn) -> OmopRows:
    events = st.lists(st.tuples(person_ids, concept, day), max_size=8)
    return OmopRows(
        person=[(n, g, y) for n, (g, y) in enumerate(draw(persons), start=1)],
        observation_period=[
            (p, start, "2022-01-01") for p, start in draw(st.lists(st.tuples(person_ids, day)))
        ],
        condition=draw(events),
        drug=draw(events),
        procedure=draw(events),
        measurement=draw(
            st.lists(
                st.tuples(
                    person_ids,
                    concept,
                    day,
                    st.sampled_from(VALUES),
                    st.sampled_from([None, *UNITS]),
                ),
                max_size=6,
            )
        ),
        observation=draw(
            st.lists(
                st.tuples(person_ids, concept, day, st.sampled_from([None, *VALUE_CONCEPTS])),
                max_size=6,
            )
        ),
        concept_ancestor=draw(st.lists(st.tuples(concept, concept), max_size=5, unique=True)),
        concepts=[*CONCEPTS, *UNITS, *VALUE_CONCEPTS],
    )


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def bounds(
    draw: st.DrawFn, values: st.SearchStrategy[Any], low: str = "min", high: str = "max"
) -> dict[str, Any]:
    """An ordered range with either bound left out, or neither."""
    a, b = sorted([draw(values), draw(values)])
    keep = draw(st.sampled_from(["both", "low", "high"]))
    return {k: v for k, v, side in ((low, a, "low"), (high, b, "high")) if keep in (side, "both")}


@st.composite
def around(
    draw: st.DrawFn, pivot: Any, values: list[Any], low: str = "min", high: str = "max"
) -> dict[str, Any]:
    """A range with ``pivot`` on one of its bounds: where off-by-one errors show."""
    if draw(st.booleans()):
        other = draw(optional(st.sampled_from([v for v in values if v >= pivot])))
        return {low: pivot} if other is None else {low: pivot, high: other}
    other = draw(optional(st.sampled_from([v for v in values if v <= pivot])))
    return {high: pivot} if other is None else {low: other, high: pivot}


DOMAINS = ["condition", "drug", "procedure", "measurement", "observation"]  # OmopRows fields


@st.composite
def criteria(draw: st.DrawFn, rows: OmopRows) -> dict[str, Any]:
    """A random criterion; half the time built around one existing event, so that its
    window, value range, unit or value concept sits exactly on that event."""
    domain = draw(st.sampled_from(DOMAINS))
    events: list[tuple[Any, ...]] = getattr(rows, domain)
    anchor = draw(st.sampled_from([*events, None, *events])) if events else None
    raw: dict[str, Any] = {
        "domain": domain,
        "concepts": draw(st.lists(concept, min_size=1, max_size=2)),
        "descendants": draw(st.booleans()),
        "exclude": draw(st.sampled_from([False, False, False, True])),
    }
    if anchor is not None:
        raw["concepts"] = [anchor[1], *raw["concepts"][1:]]
        window = draw(optional(around(anchor[2], DAYS, "start", "end")))
    else:
        window = draw(optional(bounds(day, "start", "end")))
    if window:
        raw["window"] = window
    if domain == "measurement":
        if anchor is not None and anchor[3] is not None:
            value = draw(around(anchor[3], [v for v in VALUES if v is not None]))
        else:
            value = draw(optional(bounds(st.sampled_from([1.0, 2.0, 2.5, 3.0]))))
        if value:
            raw["value"] = value
        if units := draw(optional(st.lists(st.sampled_from(UNITS), min_size=1, max_size=2))):
            raw["units"] = units
    if domain == "observation":
        values = draw(optional(st.lists(st.sampled_from(VALUE_CONCEPTS), min_size=1)))
        if values:
            raw["value_concepts"] = values
    return raw


@st.composite
def cohorts(draw: st.DrawFn, rows: OmopRows) -> Cohort:
    raw: dict[str, Any] = {
        "name": "random",
        "criteria": draw(st.lists(criteria(rows), min_size=1, max_size=2)),
    }
    inclusions = [n for n, c in enumerate(raw["criteria"]) if not c["exclude"]]
    first_events = [{"type": "first_event", "criterion": n} for n in inclusions]
    index = draw(
        optional(
            st.sampled_from(
                [{"type": "fixed", "date": d} for d in DAYS]
                + [{"type": "observation_start"}]
                + first_events
            )
        )
    )
    if index is not None:
        raw["index"] = index
    if age := draw(optional(bounds(st.sampled_from(AGES)))):
        raw["age"] = age
    sex = draw(optional(st.lists(st.sampled_from(["female", "male"]), min_size=1, unique=True)))
    if sex is not None:
        raw["sex"] = sex
    try:
        return Cohort.model_validate(raw)
    except ValidationError:
        assume(False)
        raise


@contextmanager
def in_memory_duckdb(rows: OmopRows) -> Iterator[OmopDatabase]:
    con = duckdb.connect()
    for name, table in rows.tables().items():
        con.register("arrow_input", table)
        con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM arrow_input')
        con.unregister("arrow_input")
    db = OmopDatabase(ibis.duckdb.from_connection(con))
    try:
        yield db
    finally:
        db.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rows=omop_rows())
def test_ibis_agrees_with_the_pandas_reference(data: st.DataObject, rows: OmopRows) -> None:
    cohort = data.draw(cohorts(rows), label="cohort")
    tables = {name: table.to_pandas() for name, table in rows.tables().items()}
    expected = reference_persons(tables, cohort)
    event(f"cohort size {min(len(expected), 3)}")
    with in_memory_duckdb(rows) as db:
        frame = cohort_persons(cohort, db).execute()
    pairs = zip(frame["person_id"], frame["index_date"], strict=True)
    got = {int(p): pd.Timestamp(d).date() for p, d in pairs}
    assert len(frame) == len(got), "one row per person"
    assert got == expected
