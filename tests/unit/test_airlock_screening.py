"""The airlock's pre-screen of a CSV: which columns are counts, and each count judged."""

from __future__ import annotations

import pytest

from fivesafes.airlock.files import RequestFile
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
