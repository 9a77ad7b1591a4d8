"""The airlock's page parts keep a long file's page short: a 612-row row-level CSV shows its
pre-screen as one headline and a few grouped lines, with the cell-by-cell detail and all but
the first rows of its preview folded away in ``<details>`` (closed)."""

from __future__ import annotations

from jinja2 import Environment, FileSystemLoader, select_autoescape

from fivesafes.airlock.files import RequestFile
from fivesafes.airlock.portal.preview import preview
from fivesafes.airlock.screening import screen_files
from fivesafes.sdc.profiles import DEFAULT
from fivesafes.web.pages import TEMPLATES
from portal import Visible

ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
ROWS = "".join(f"P{i:06d},{18 + i % 70},{'fm'[i % 2]},{11 + i % 7}\n" for i in range(612))
PERSONS = RequestFile("persons.csv", ("person_id,age,sex,visits\n" + ROWS).encode())
MOST_VISIBLE = 40  # list items and table rows a reader sees without opening anything


def rendered(template: str, **context) -> Visible:
    seen = Visible()
    seen.feed(ENV.get_template(template).render(**context))
    return seen


def test_a_row_level_files_pre_screen_is_a_headline_and_its_detail_is_folded_away():
    screen = screen_files([PERSONS], DEFAULT)["persons.csv"]
    f = {"name": "persons.csv", "description": "", "pre_screen": screen.as_dict()}
    html = ENV.get_template("airlock/_screen.html").render(f=f)
    assert "looks like row-level data (one row per person: 612 rows" in html
    seen = rendered("airlock/_screen.html", f=f)
    assert len(seen.details) == 1 and "open" not in seen.details[0]
    assert seen.visible == len(screen.summary) <= 4


def test_a_long_tables_preview_shows_its_first_rows_and_folds_the_rest():
    view = {"id": "ar_1"}
    f = {"name": "persons.csv", "description": ""}
    seen = rendered("airlock/_preview.html", view=view, f=f, p=preview(f["name"], PERSONS.content))
    assert seen.visible <= 21  # the header row and 20 rows
    assert [d for d in seen.details if "open" in d] == []


def test_the_whole_file_stays_within_a_page_of_reasonable_height():
    screen = screen_files([PERSONS], DEFAULT)["persons.csv"]
    f = {"name": "persons.csv", "description": "", "pre_screen": screen.as_dict()}
    seen = rendered("airlock/_screen.html", f=f)
    shown = rendered("airlock/_preview.html", view={"id": "ar_1"}, f=f,
                     p=preview(f["name"], PERSONS.content))  # fmt: skip
    assert seen.visible + shown.visible <= MOST_VISIBLE
