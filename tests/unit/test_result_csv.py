"""A task's result as CSV holds exactly what its page shows (issue 13, D: "every result
downloads as CSV"): read back cell by cell from the page's own HTML, for a count with a node
that released, one whose count was suppressed and one that refused; a page of several tables
with row labels; nothing a spreadsheet would run; no CSV for a task still running. And the
words the portal and ``fivesafes nodes`` use for when a node was last seen."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from fivesafes.analyses.results.download import result_csv
from fivesafes.analyses.results.page import Shown, table
from fivesafes.cli.analyse import csv_paths
from fivesafes.hub.results import csv_name, csv_of, shown
from fivesafes.protocol.errors import Conflict
from fivesafes.protocol.models import RunView, TaskView
from fivesafes.web import when
from fivesafes.web.pages import render
from portal import expected_csv

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def released(value: int | None, suppressed: bool, rule: str) -> dict:
    gate = {"verdict": "fail" if suppressed else "pass", "profile": "default", "rules": []}
    return {"count": {"value": value, "suppressed": suppressed, "rule": rule}, "gate": gate}


def count_view(state: str = "complete") -> TaskView:
    return TaskView(
        task_id="t1", project_id="p1", analysis="count", state=state,
        created_at=NOW, deadline=NOW,
        runs=[
            RunView(run_id="r1", node="northfield", state="succeeded",
                    output=released(340, False, "rounded to 10")),
            RunView(run_id="r2", node="riverside", state="succeeded",
                    output=released(None, True, "threshold: fewer than 10 distinct persons")),
            RunView(run_id="r3", node="lakeside", state="refused",
                    reason="project_not_approved", message="Not approved here."),
        ],
        combined={"total": {"value": 340, "suppressed": False, "rule": "rounded to 10"},
                  "nodes_suppressed": ["riverside"]} if state == "complete" else None,
    )  # fmt: skip


REQUEST = SimpleNamespace(url=SimpleNamespace(path="/tasks/t1"), headers={})
"""What ``render`` reads of a request."""


def page_of(result: Shown) -> str:
    """The task page as the portal renders it (its frame left out)."""
    response = render(REQUEST, "hub/task.html", task=result, nav=[], csrf="x",
                      service_kind="hub", service_name="test", title="Task")  # fmt: skip
    return bytes(response.body).decode()


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_a_counts_csv_is_its_page_cell_by_cell():
    view = count_view()
    result = shown(view)
    text = csv_of(view)
    assert rows(text) == expected_csv(page_of(result))
    assert rows(text) == [
        ["table", "node", "answer", "count", "disclosure control", "not included because",
         "note"],
        ["Each node's released count and the total", "northfield", "succeeded", "340",
         "released, rounded to 10", "", ""],
        ["Each node's released count and the total", "riverside", "succeeded", "suppressed",
         "suppressed: threshold: fewer than 10 distinct persons", "", ""],
        ["Each node's released count and the total", "lakeside", "refused", "—",
         "not included", "Not approved here.", ""],
        ["Each node's released count and the total", "total", "complete", "340",
         "released, rounded to 10", "1 node(s) not included", ""],
        ["notes", "", "", "", "", "", "not included: lakeside (Not approved here.)"],
    ]  # fmt: skip
    assert csv_name(view) == "task-t1-count.csv"


def test_several_tables_with_row_labels_each_keep_their_own_columns():
    view = count_view()
    crosstab = pd.DataFrame(
        {"female": [12, None], "male": [30, 15]},
        index=pd.Index(["never", "current"], name="smoker"),
    )
    crosstab.columns.name = "sex"
    fit = pd.DataFrame({"coef": [0.5, -1.25], "P>|z|": [1e-6, 0.25]}, index=["Intercept", "age"])
    result = Shown(view, [], lines=["not included: lakeside (refused)"])
    result.tables.append(table("Persons: smoker by sex", crosstab, missing="suppressed",
                               index=True))  # fmt: skip
    result.tables.append(table("Coefficients", fit, index=True))
    result.details.append(table("northfield: its released table", crosstab, index=True))
    text = result_csv(result)
    assert rows(text) == expected_csv(page_of(result))
    assert rows(text) == [
        ["table", "smoker", "female", "male", "", "coef", "P>|z|", "note"],
        ["Persons: smoker by sex", "never", "12", "30", "", "", "", ""],
        ["Persons: smoker by sex", "current", "suppressed", "15", "", "", "", ""],
        ["Coefficients", "", "", "", "Intercept", "0.5000", "1.00e-06", ""],
        ["Coefficients", "", "", "", "age", "-1.2500", "0.2500", ""],
        ["northfield: its released table", "never", "12", "30", "", "", "", ""],
        ["northfield: its released table", "current", "—", "15", "", "", "", ""],
        ["notes", "", "", "", "", "", "", "not included: lakeside (refused)"],
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("shown_text", "in_the_csv"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1 call", "'+1 call"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-cmd", "'-cmd"),
        ("-1.2500", "-1.2500"),  # a negative number stays a number
        ("1.00e-06", "1.00e-06"),
        ("—", "—"),
        ("[-0.1000, 0.2000]", "[-0.1000, 0.2000]"),
    ],
)
def test_nothing_in_the_csv_runs_as_a_formula(shown_text, in_the_csv):
    result = Shown(count_view(), [])
    result.tables.append(table("Levels", pd.DataFrame({"level": [shown_text]})))
    assert rows(result_csv(result))[1] == ["Levels", in_the_csv]


def test_a_running_task_has_no_csv_yet():
    with pytest.raises(Conflict, match="not finished"):
        csv_of(count_view(state="running"))


def test_one_task_is_written_where_asked_several_each_by_its_id():
    assert csv_paths(Path("out/fit.csv"), ["t_1"]) == [Path("out/fit.csv")]
    assert csv_paths(Path("out/fit.csv"), ["t_1", "t_2"]) == [
        Path("out/fit-t_1.csv"), Path("out/fit-t_2.csv"),
    ]  # fmt: skip


# how long ago a node was last seen, in the portal's and the CLI's words
AGO = [
    (timedelta(seconds=0), "just now"),
    (timedelta(seconds=4), "just now"),
    (timedelta(seconds=-30), "just now"),  # a clock ahead of ours
    (timedelta(seconds=5), "5 seconds ago"),
    (timedelta(seconds=61), "1 minute ago"),
    (timedelta(minutes=3, seconds=59), "3 minutes ago"),
    (timedelta(hours=2), "2 hours ago"),
    (timedelta(days=1, hours=23), "1 day ago"),
    (timedelta(days=9), "9 days ago"),
]


@pytest.mark.parametrize(("before", "said"), AGO, ids=[s for _, s in AGO])
def test_how_long_ago_in_words(before, said):
    assert when.ago(NOW - before, NOW) == said


def test_last_seen_is_words_and_the_utc_time_or_never():
    then = datetime(2026, 12, 6, 11, 57, 3, tzinfo=UTC)
    assert when.seen(then, then + timedelta(minutes=3)) == "3 minutes ago (2026-12-06 11:57:03 UTC)"
    assert when.seen(None, NOW) == "never"
