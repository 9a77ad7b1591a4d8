"""The identity store (``linkage.identity_store``): a CSV file loaded as a hospital's systems
write it; each row that fails a check is reported by line, field and reason, and not kept; the
report and the store never hold a refused value; the store is a file of mode 600; a load
replaces what it held in one transaction, and a load that keeps nothing changes nothing."""

from __future__ import annotations

import csv
import stat
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from fivesafes.linkage.identity_store import IdentityFileError, IdentityStore, read_file

TODAY = date(2026, 12, 7)
NOW = datetime(2026, 12, 7, 9, tzinfo=UTC)
HEADER = ["person_id", "nhs_number", "given_name", "family_name", "date_of_birth", "sex",
          "postcode"]  # fmt: skip
GOOD = [
    ["1", "943 476 5919", "Ann", "Lee", "1950-01-02", "F", "LS1 4AP"],
    ["2", "", "Bob", "Khan", "1961-05-06", "male", ""],
    ["3", "9990000018", "Cai", "Ng", "1970-07-08", "M", "m1 1ae"],
]
BAD = [
    ["4", "9434765918", "Dee", "Roe", "1971-01-01", "F", "LS2 9JT"],  # check digit
    ["5", "", "Eve", "Poe", "01/01/1972", "F", ""],  # date
    ["1", "", "Fay", "Doe", "1973-01-01", "F", ""],  # person twice
    ["6", "943 476 5919", "Gus", "Hay", "1974-01-01", "M", ""],  # NHS number twice
    ["7", "", "Hal", "Ray", "1975-01-01", "M", "NOT A CODE"],  # postcode
    ["8", "", "Ida"],  # short row
]


def write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_rows_that_fail_are_reported_by_line_and_reason_and_not_kept(tmp_path):
    assert GOOD[2][1] == "9990000018"  # a test-range number with its check digit
    kept, report = read_file(write(tmp_path / "ids.csv", GOOD + BAD), TODAY)
    assert [p.person_id for p in kept] == [1, 2, 3]
    assert report.rows == 9 and report.kept == 3
    assert [(r.line, r.field, r.reason) for r in report.rejected] == [
        (5, "nhs_number", "fails the modulus-11 check"),
        (6, "date_of_birth", "is not a date written YYYY-MM-DD"),
        (7, "person_id", "appears on an earlier row"),
        (8, "nhs_number", "is an earlier row's too"),
        (9, "postcode", "is not a UK postcode"),
        (10, "row", "has a different number of fields"),
    ]
    said = repr(report)
    for row in BAD:
        assert all(value not in said for value in row[2:4])  # no name of a refused row


def test_the_store_is_its_owners_only_and_a_load_replaces_it_whole(tmp_path):
    store = IdentityStore(tmp_path / "node" / "identities.sqlite")
    kept, report = read_file(write(tmp_path / "ids.csv", GOOD), TODAY)
    store.replace(kept, report, NOW)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert [p.given_name for p in store.identities()] == ["ANN", "BOB", "CAI"]
    status = store.status()
    assert (status["persons"], status["with_nhs_number"], status["with_postcode"]) == (3, 2, 2)
    assert status["last_load"]["sha256"] == report.sha256

    kept, report = read_file(write(tmp_path / "ids2.csv", GOOD[1:]), TODAY)
    store.replace(kept, report, NOW)
    assert [p.person_id for p in store.identities()] == [2, 3]

    kept, report = read_file(write(tmp_path / "bad.csv", BAD[:2]), TODAY)
    assert kept == []
    with pytest.raises(IdentityFileError, match="nothing was changed"):
        store.replace(kept, report, NOW)
    assert [p.person_id for p in store.identities()] == [2, 3]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"person_id,given_name\n1,Ann\n", "missing: family_name, date_of_birth"),
        (b"person_id,person_id,given_name,family_name,date_of_birth\n", "named twice"),
        (b"person_id,given_name,family_name,date_of_birth\n1,\xff\xfe,Lee,1950-01-01\n",
         "not UTF-8"),
        (b",".join(b"c%d" % i for i in range(60)) + b"\n", "more than 50 columns"),
    ],
)  # fmt: skip
def test_a_file_that_cannot_be_loaded_is_said_in_words(tmp_path, content, said):
    path = tmp_path / "ids.csv"
    path.write_bytes(content)
    with pytest.raises(IdentityFileError, match=said):
        read_file(path, TODAY)
