"""The airlock's pre-screen of a CSV: which columns are counts, and each count judged."""

from __future__ import annotations

import pytest

from fivesafes.airlock.files import MAX_DETAIL, RequestFile
from fivesafes.airlock.screening import screen
from fivesafes.sdc.profiles import DEFAULT


def screened(text: str):
    return screen(RequestFile("t.csv", text.encode()), DEFAULT)


@pytest.mark.parametrize("marker", ["suppressed", "—", "NA", "withheld"])
def test_a_count_column_with_withheld_cells_is_still_judged(marker):
    """A result's CSV marks withheld cells in words; the rest of its column is counts."""
    result = screened(f"table,node,count,note\nCounts,a,120,\nCounts,b,{marker},\nCounts,c,7,\n")
    assert result.verdict == "fail"
    assert any(f.startswith("row 3, column 'count': threshold") for f in result.findings)


def test_a_column_of_markers_only_is_not_judged():
    result = screened("node,count\na,suppressed\nb,suppressed\n")
    assert (result.verdict, result.findings) == ("pass", [])


def test_words_in_a_column_make_it_a_label_column():
    assert screened("region,n\nnorth,120\nsouth,20\n").verdict == "pass"
    assert screened("region,n\nnorth,120\nsouth,7\n").verdict == "fail"


# ---- the headline: one verdict per file, in words -------------------------------------------


def rows_of(header: str, make, n: int) -> str:
    return header + "\n" + "".join(make(i) + "\n" for i in range(n))


SEXES, REGIONS = ("f", "m"), ("north", "south", "east", "west")
PERSONS = rows_of(
    "person_id,age,sex,region,visits",
    lambda i: f"P{i:06d},{18 + (i * 7) % 70},{SEXES[i % 2]},{REGIONS[i % 4]},{11 + i % 7}",
    612,
)


def test_a_row_level_file_leads_with_row_level_and_groups_its_findings():
    result = screened(PERSONS)
    assert result.verdict == "fail"
    assert result.headline.startswith(
        "looks like row-level data (one row per person: 612 rows; a column of identifiers "
        "('person_id')"
    )
    assert result.summary == [
        "judged under this service's profile 'default'",
        "rounding: 612 cells not a multiple of 10 (rows 1-612; column 'visits')",
        "not judged as counts: 1 column named as groups ('age')",
    ]  # one line per kind of finding, not one per cell
    assert (
        len(result.findings) == MAX_DETAIL
        and "more (the summary counts them" in (result.findings[-1])
    )


def dob(i: int) -> str:
    return f"19{50 + i % 40}-0{1 + i % 9}-1{i % 9},{SEXES[i % 2]}"


def measured(i: int) -> str:
    return f"{40 + i % 5},{SEXES[i % 2]},{REGIONS[i % 4]},{20 + i / 7:.1f}"


def by_age(i: int) -> str:
    return f"{i // 8},{SEXES[i % 2]},{REGIONS[(i // 2) % 4]},{10 * (i % 9 + 1)}"


# (what, the CSV, row-level?): the heuristics both ways (row_level.py's table)
ROW_LEVEL = [
    ("identifiers", PERSONS, True),
    ("dates of birth", rows_of("dob,sex", dob, 30), True),
    ("repeated groups", rows_of("age,sex,region,bmi", measured, 200), True),
    ("measurements only", rows_of("bmi,sbp", lambda i: f"{20 + i / 7:.1f},{110 + i / 3:.2f}", 150),
     True),
    ("a small table", "region,n\nnorth,120\nsouth,40\n", False),
    ("a 600-row aggregate table", rows_of("age,sex,region,n", by_age, 600), False),
    ("monthly counts", rows_of("month,n", lambda i: f"{2020 + i // 12}-{1 + i % 12:02d}-01,"
                               f"{100 + 10 * i}", 60), False),
    ("a region id", rows_of("region_id,n", lambda i: f"{i},{20 + 10 * i}", 60), False),
    ("a result's CSV", "table,node,count,note\nCounts,a,120,\nCounts,b,suppressed,\n", False),
    ("means over groups", rows_of("age,sex,mean_bmi",
                                  lambda i: f"{i // 2},{SEXES[i % 2]},{25 + i / 100:.2f}", 180),
     False),
]  # fmt: skip


@pytest.mark.parametrize(("what", "text", "row_level"), ROW_LEVEL, ids=[r[0] for r in ROW_LEVEL])
def test_row_level_data_is_told_from_a_table(what, text, row_level):
    headline = screened(text).headline
    assert headline.startswith("looks like row-level data") is row_level, headline


HEADLINES = [
    ("region,n\nnorth,120\nsouth,7\n", "fail", "unsuppressed small cells: 1 count below 10"),
    ("region,n\nnorth,120\nsouth,41\neast,33\n", "review",
     "counts not rounded to base 10 (2 cells)"),
    ("region,n\nnorth,120\nsouth,40\n", "pass", "passes the checks (1 count column, 2 cells)"),
    ("group,mean_age\na,51.5\n", "review", "partly checked: 1 column not counts ('mean_age')"),
    ("region,n\n", "not checked", "not checked: no rows"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "verdict", "headline"), HEADLINES)
def test_every_file_gets_one_verdict_in_words(text, verdict, headline):
    result = screened(text)
    assert (result.verdict, result.headline) == (verdict, headline)
    if verdict != "not checked":
        assert result.summary[0] == "judged under this service's profile 'default'"
