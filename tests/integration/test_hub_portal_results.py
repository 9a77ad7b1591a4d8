"""A task's page in the hub's portal for every analysis the hub combines, from real results:
a real hub and node processes run each analysis on synthetic OMOP data, and the page must show
each node's verdict (passed, suppressed, refused with its reason in words, missing) and the
very figures the client's result class gives for the same task, with a server-drawn SVG where
a picture serves. Each result downloads as CSV, from the portal and the API alike, holding
the page's tables cell by cell, and goes to the airlock as that file. A task that does not
exist, or is not yours, is one "not found" page, and one "not found" CSV."""

from __future__ import annotations

import csv
import html
import io
import re
import time
from datetime import date

import httpx
import pytest
from markupsafe import escape

from fivesafes.client.results import (
    AttritionResult,
    CharacterisationResult,
    CountResult,
    CoxResult,
    CrosstabResult,
    GLMResult,
    GroupedSummaryResult,
    KaplanMeierResult,
    MetaResult,
    SummaryResult,
)
from fivesafes.data.synth import concepts as c
from fivesafes.hub.results import number
from fivesafes.protocol.runs import REASON_TEXT, ReasonCode
from portal import expected_csv, person, session_for, start_portal_hub

EVERYONE = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}
HYPERTENSION = {
    "name": "hypertension",
    "criteria": [{"domain": "condition", "concepts": [c.ESSENTIAL_HYPERTENSION]}],
    "age": {"min": 18},
}
RUNNING = ["northfield", "riverside"]
TODAY = date.today()

# analysis -> (parameters, gate tightening); every task in a project of its own, so no output
# is refused for differencing against another test's
TASKS = {
    "count": ("count", {"cohort": HYPERTENSION}, None),
    "count_suppressed": ("count", {"cohort": HYPERTENSION}, {"threshold": 1_000_000}),
    "summary": ("summary", {"cohort": EVERYONE, "variable": "age"}, None),
    "summary_by": ("summary", {"cohort": EVERYONE, "variable": "bmi", "by": "sex"}, None),
    "crosstab": ("crosstab", {"cohort": EVERYONE, "rows": "smoker", "columns": "sex"}, None),
    "histogram": (
        "histogram",
        {"cohort": EVERYONE, "variable": "age", "edges": [0, 30, 45, 60, 75, 90, 130]},
        None,
    ),
    "km": (
        "km",
        {"cohort": EVERYONE, "time": "time_to_lung_cancer", "by": "sex"}
        | {"interval": 1.0, "horizon": 8.0},
        None,
    ),
    "glm": (
        "glm",
        {"cohort": EVERYONE, "formula": "lung_cancer ~ age + sex + smoker", "family": "binomial"},
        None,
    ),
    "coxph": ("coxph", {"cohort": EVERYONE, "formula": "time_to_lung_cancer ~ age + smoker"}, None),
    "meta": (
        "meta",
        {"cohort": EVERYONE, "formula": "bmi ~ age + sex", "family": "gaussian"},
        None,
    ),
    "attrition": ("attrition", {"cohort": HYPERTENSION}, None),
    "characterise": (
        "characterise",
        {"cohort": HYPERTENSION, "top": 5, "window_days": 365, "domains": ["condition", "drug"]},
        None,
    ),
}


class World:
    def __init__(self, harness, data) -> None:
        self.harness = harness
        start_portal_hub(harness)
        for name in (*RUNNING, "lakeside"):
            harness.add_node(name, {"engine": "duckdb", "path": str(data[name])})
        harness.add_node("offline", {"engine": "duckdb", "path": str(data["lakeside"])},
                         start=False)  # fmt: skip
        self.alice = person(harness, "alice", totp=False)
        self.bob = person(harness, "bob", totp=False)
        self.root = person(harness, "root", roles=("hub_admin",), totp=False)
        self.clients = {n: session_for(harness, n) for n in ("alice", "bob", "root")}
        # the count asks every node: lakeside has not approved (refuses), offline never answers
        everyone = [*RUNNING, "lakeside", "offline"]
        counting = harness.project(["alice"], everyone, approve=False, pi="alice")
        for node in RUNNING:
            harness.approve(node, counting)
        self.early: dict[str, str] = {}
        self.tasks: dict[str, str] = {}
        with harness.federation(self.alice.token, counting) as fed:
            started = time.monotonic()  # the count's deadline is for offline, not a slow start
            while {n.name for n in fed.nodes() if n.online} < {*RUNNING, "lakeside"}:
                assert time.monotonic() - started < 60, "the nodes did not start polling"
                time.sleep(0.5)
            self.tasks["count"] = fed.submit("count", TASKS["count"][1], timeout=45).task_id
            self.early["count"] = self.page(self.tasks["count"])
            for key, (analysis, parameters, gate) in TASKS.items():
                if key == "count":
                    continue
                project = harness.project(["alice"], RUNNING, pi="alice", title=key)
                view = fed.submit(analysis, parameters, project=project, timeout=240, gate=gate)
                self.tasks[key] = view.task_id
            self.views = {key: fed.wait(task, 240) for key, task in self.tasks.items()}

    def page(self, task: str, who: str = "alice", **kw) -> httpx.Response:
        return self.clients[who].get(f"/tasks/{task}", **kw)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from federation import Harness
    from fivesafes.data.synth import generate
    from fivesafes.demo.processes import Supervisor

    root = tmp_path_factory.mktemp("hubportalresults")
    data = {}
    for name, persons, seed in (("northfield", 1500, 31), ("riverside", 1200, 32),
                                ("lakeside", 200, 33)):  # fmt: skip
        data[name] = root / f"{name}.duckdb"
        generate(data[name], persons, seed, name)
    with Supervisor() as supervisor:
        yield World(Harness(root / "fed", supervisor), data)


def shown(world, key: str) -> str:
    """The task's page, complete, as alice sees it (one line per table row)."""
    view = world.views[key]
    assert view.state == "complete", key
    response = world.page(view.task_id)
    assert response.status_code == 200, response.text
    assert "Traceback" not in response.text
    return response.text


def cell(value) -> str:
    return f"<td>{html.escape(number(value))}</td>"


def verdicts(page: str) -> dict[str, str]:
    """Each node's verdict as the page's node table says it."""
    rows = re.findall(
        r"<tr><td>([a-z]+)</td><td>[a-z]+</td>\s*<td class=\"verdict-([a-z]+)\">", page
    )
    return dict(rows)


def test_a_count_shows_passed_refused_in_words_and_missing_and_the_total(world):
    early = world.early["count"]
    assert early.status_code == 200 and "waiting for nodes" in early.text
    assert f'hx-get="/tasks/{world.tasks["count"]}"' in early.text  # htmx polls it
    page = shown(world, "count")
    result = CountResult.from_view(world.views["count"])
    assert verdicts(page) == {"northfield": "passed", "riverside": "passed",
                              "lakeside": "refused", "offline": "missing"}  # fmt: skip
    refusal = REASON_TEXT[ReasonCode.PROJECT_NOT_APPROVED]
    assert escape(refusal) in page and "(project_not_approved)" in page
    assert escape(REASON_TEXT[ReasonCode.NODE_UNAVAILABLE]) in page
    assert result.total is not None and f'"task-total">{result.total}</strong>' in page
    for node in result.nodes:
        if node.value is not None:
            assert cell(node.value) in page
    assert "<svg" in page and 'hx-trigger="every 1s"' not in page  # done: no more polling


def test_a_count_every_node_suppressed_says_so_and_shows_no_number(world):
    page = shown(world, "count_suppressed")
    result = CountResult.from_view(world.views["count_suppressed"])
    assert result.total is None and all(n.suppressed for n in result.nodes)
    assert verdicts(page) == {"northfield": "suppressed", "riverside": "suppressed"}
    assert '"task-total">suppressed</strong>' in page
    assert "<svg" not in page  # nothing released, nothing drawn


def test_a_summary_shows_each_node_and_the_pooled_figures(world):
    page = shown(world, "summary")
    result = SummaryResult.from_view(world.views["summary"])
    assert verdicts(page) == {"northfield": "passed", "riverside": "passed"}
    assert result.n is not None and result.mean is not None
    for figure in (result.n, result.mean, result.sd):
        assert cell(figure) in page
    for node in result.nodes:
        assert cell(node.mean) in page and cell(node.n) in page
    frame = result.to_frame()
    assert cell(frame.iloc[-1]["q50"]) in page  # the pooled median, from released bins
    assert "<svg" in page


def test_a_summary_by_a_factor_shows_each_level(world):
    page = shown(world, "summary_by")
    result = GroupedSummaryResult.from_view(world.views["summary_by"])
    assert set(result.groups) == {"female", "male"}
    for level, pooled in result.groups.items():
        assert f'<td class="text">{level}</td>' in page  # words: aligned left
        assert cell(pooled["mean"]) in page and cell(pooled["n"]["value"]) in page


def test_a_crosstab_shows_the_combined_table_and_each_nodes(world):
    page = shown(world, "crosstab")
    result = CrosstabResult.from_view(world.views["crosstab"])
    frame = result.to_frame()
    for row in frame.index:
        for column in frame.columns:
            value = frame.loc[row, column]
            assert (cell(int(value)) if value is not None and value == value else
                    "<td>suppressed</td>") in page  # fmt: skip
    assert "released table" in page and all(f"{n}: its released" in page for n in result.nodes)


def test_a_histogram_shows_each_bin_and_bars(world):
    page = shown(world, "histogram")
    result = CrosstabResult.from_view(world.views["histogram"])
    assert len(result.cells) == 6
    for c_ in result.cells:
        value = c_["count"]["value"]
        assert (cell(value) if value is not None else "<td>suppressed</td>") in page
    assert "<svg" in page and "Histogram of age" in page


def test_kaplan_meier_shows_the_pooled_curve_and_draws_it(world):
    page = shown(world, "km")
    result = KaplanMeierResult.from_view(world.views["km"])
    assert set(result.groups) == {"female", "male"}
    for level in result.groups:
        for point in result.curve(level):
            assert cell(point["survival"]) in page and cell(point["lower"]) in page
    assert page.count("<svg") == 1 and "Kaplan-Meier curves of time_to_lung_cancer" in page


def test_a_glm_shows_the_coefficients_and_their_intervals(world):
    page = shown(world, "glm")
    result = GLMResult.from_view(world.views["glm"])
    assert result.ok, result.error
    for name, b, se, ci in zip(result.names, result.params, result.bse, result.conf_int,
                               strict=True):  # fmt: skip
        assert f"<th>{html.escape(name)}</th>" in page
        assert cell(b) in page and cell(se) in page and cell(ci[0]) in page
    assert f"deviance {number(result.deviance)}" in page and "<svg" in page


def test_a_cox_model_shows_hazard_ratios(world):
    page = shown(world, "coxph")
    result = CoxResult.from_view(world.views["coxph"])
    assert result.ok, result.error
    for b, hr in zip(result.params, result.hazard_ratios, strict=True):
        assert cell(b) in page and cell(hr) in page
    assert f"{result.events} events" in page and "<svg" in page


def test_a_meta_analysis_shows_each_fit_and_a_forest_plot_per_term(world):
    page = shown(world, "meta")
    result = MetaResult.from_view(world.views["meta"])
    assert result.ok, result.error
    for term in result.terms:
        assert cell(term["fixed"]) in page and cell(term["random"]) in page
    for fit in result.nodes.values():
        assert all(cell(b) in page for b in fit["params"])
    terms = [t for t in result.names if t != "Intercept"]
    assert page.count("<svg") == len(terms) and "Forest plot of age" in page


def test_attrition_shows_each_step_and_draws_them(world):
    page = shown(world, "attrition")
    result = AttritionResult.from_view(world.views["attrition"])
    assert len(result.steps) >= 2
    for step in result.steps:
        value = step["count"]["value"]
        assert f'<td class="text">{html.escape(step["name"])}</td>' in page
        assert (cell(value) if value is not None else "<td>suppressed</td>") in page
    assert "<svg" in page


def test_a_characterisation_shows_age_sex_and_top_concepts(world):
    page = shown(world, "characterise")
    result = CharacterisationResult.from_view(world.views["characterise"])
    assert result.count is not None and f"The cohort: {result.count} persons" in page
    for c_ in result.age + result.sex:
        value = c_["count"]["value"]
        assert (cell(value) if value is not None else "<td>suppressed</td>") in page
    for domain in result.concepts:
        for concept in result.top(domain).itertuples():
            name = f'<td class="text">{html.escape(concept.name)}</td>'
            assert name in page and cell(concept.persons) in page


def test_a_bad_task_id_and_another_projects_task_get_one_not_found_page(world):
    task = world.tasks["glm"]
    absent = world.page("t_doesnotexist")
    outsider = world.page(task, who="bob")
    assert absent.status_code == outsider.status_code == 404
    assert absent.text == outsider.text and "lung_cancer" not in outsider.text
    # a hub admin sees every project, but a task's results only its members (as the API)
    assert world.page(task, who="root").status_code == 404


def unescaped(rows: list[list[str]]) -> list[list[str]]:
    """The CSV's cells as the page shows them: a ``'`` that keeps a spreadsheet from running a
    cell as a formula taken off again."""
    return [[c[1:] if c[:1] == "'" and c[1:2] in ("=", "+", "-", "@") else c for c in row]
            for row in rows]  # fmt: skip


def api_csv(world, task: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{world.harness.hub_url}/api/v1/tasks/{task}/result.csv"
    return httpx.get(url, headers=headers, timeout=30)


@pytest.mark.parametrize("key", list(TASKS))
def test_every_result_downloads_as_its_pages_tables_cell_by_cell(world, key):
    view = world.views[key]
    page = shown(world, key)
    assert f'href="/tasks/{view.task_id}/result.csv"' in page  # the page's download link
    response = world.page(view.task_id + "/result.csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    name = f"task-{view.task_id}-{view.analysis}.csv"
    assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
    rows = list(csv.reader(io.StringIO(response.text)))
    assert unescaped(rows) == expected_csv(page)
    assert len(rows) > 1, "every result shows something"
    # the API's CSV is the portal's, byte for byte
    api = api_csv(world, view.task_id, world.alice.token)
    assert api.status_code == 200 and api.content == response.content
    assert api.headers["content-disposition"] == response.headers["content-disposition"]


def test_a_suppressed_count_is_marked_in_its_csv_never_a_number(world):
    task = world.views["count_suppressed"].task_id
    rows = list(csv.DictReader(io.StringIO(world.page(task + "/result.csv").text)))
    counts = [r["count"] for r in rows if r["table"] != "notes"]
    assert counts == ["suppressed", "suppressed", "suppressed"]  # two nodes and the total


def test_a_csv_is_for_the_projects_members_only_and_one_not_found(world):
    task = world.tasks["glm"]
    absent = world.page("t_doesnotexist/result.csv")
    assert absent.status_code == 404
    for who in ("bob", "root"):  # not a member; a hub admin (not a member either)
        outsider = world.page(task + "/result.csv", who=who)
        assert (outsider.status_code, outsider.text) == (404, absent.text)
        assert "lung_cancer" not in outsider.text
    api_absent = api_csv(world, "t_doesnotexist", world.alice.token)
    assert api_absent.status_code == 404
    for token in (world.bob.token, world.root.token):
        refused = api_csv(world, task, token)
        assert (refused.status_code, refused.json()) == (404, api_absent.json())
    assert api_csv(world, task, None).status_code == 401
    signed_out = httpx.get(f"{world.harness.hub_url}/tasks/{task}/result.csv")
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/sign-in")


def test_send_to_the_airlock_makes_a_draft_request_holding_the_csv(world):
    task = world.tasks["crosstab"]
    alice = world.clients["alice"]
    assert 'action="/tasks/' + task + '/airlock"' in world.page(task).text
    sent = alice.post(f"/tasks/{task}/airlock", data={"csrf": alice.csrf})
    assert sent.status_code == 303, sent.text
    request = sent.headers["location"]
    assert re.fullmatch(r"/airlock/ar_[0-9a-f]+", request)
    name = f"task-{task}-crosstab.csv"
    draft = alice.get(request)
    assert draft.status_code == 200 and name in draft.text and f"Task {task}" in draft.text
    held = alice.get(f"{request}/files/{name}")
    assert held.status_code == 200
    assert held.content == world.page(task + "/result.csv").content  # the download's bytes
    bob = world.clients["bob"]  # not a member: the task page's "not found"
    refused = bob.post(f"/tasks/{task}/airlock", data={"csrf": bob.csrf})
    assert refused.status_code == 404
    unsigned = alice.post(f"/tasks/{task}/airlock", data={})  # no CSRF token: refused
    assert unsigned.status_code == 403
