"""The portal's count table says one thing per cell (issue 13, D: a released count once read
"succeeded | 340 | suppressed False | reason: suppressed"): read back cell by cell from the
rendered HTML for a node that released a count, one whose count was suppressed, one that
refused, and the total."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

from fivesafes.hub.results import shown
from fivesafes.protocol.models import RunView, TaskView

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def released(value: int | None, suppressed: bool, rule: str) -> dict:
    gate = {"verdict": "fail" if suppressed else "pass", "profile": "default", "rules": []}
    return {"count": {"value": value, "suppressed": suppressed, "rule": rule}, "gate": gate}


class Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_each_cell_of_the_count_table_says_one_thing():
    view = TaskView(
        task_id="t1", project_id="p1", analysis="count", state="complete",
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
                  "nodes_suppressed": ["riverside"]},
    )  # fmt: skip
    [table] = shown(view).tables
    parser = Cells()
    parser.feed(table.html)
    assert parser.rows == [
        ["node", "answer", "count", "disclosure control", "not included because"],
        ["northfield", "succeeded", "340", "released, rounded to 10", ""],
        ["riverside", "succeeded", "suppressed",
         "suppressed: threshold: fewer than 10 distinct persons", ""],
        ["lakeside", "refused", "—", "not included", "Not approved here."],
        ["total", "complete", "340", "released, rounded to 10", "1 node(s) not included"],
    ]  # fmt: skip


def test_words_align_left_and_figures_right():
    """Cells of a column of words (a node, a modality) are marked ``text`` (left-aligned by
    portal.css); figures, suppressed or not, stay right-aligned."""
    import re

    import pandas as pd

    from fivesafes.analyses.results.page import table

    frame = pd.DataFrame(
        {"modality": ["CT", "MR"], "persons": pd.array([40, None], "Int64"), "p": [0.5, 0.25]}
    )
    html = table("t", frame, missing="suppressed").html
    body = html.partition("<tbody>")[2]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.DOTALL)
    cells = [re.findall(r"<td( class=\"text\")?>([^<]*)</td>", row) for row in rows]
    assert cells == [
        [(' class="text"', "CT"), ("", "40"), ("", "0.5000")],
        [(' class="text"', "MR"), ("", "suppressed"), ("", "0.2500")],
    ]
    css = (Path(__file__).parents[2] / "src/fivesafes/web/static/portal.css").read_text()
    assert "table.result td.text { text-align: left; }" in css


def test_a_column_of_figures_some_suppressed_stays_a_column_of_figures():
    import pandas as pd

    from fivesafes.analyses.results.page import table

    frame = pd.DataFrame({"node": ["a", "b"], "count": [520, "suppressed"]})
    html = table("t", frame).html
    assert '<td class="text">a</td>' in html and "<td>520</td>" in html
    assert "<td>suppressed</td>" in html
