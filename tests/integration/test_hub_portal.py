"""The hub's portal pages over real HTTP, with a real hub and a real node process: projects
(list, create, edit, members, each node's approval, the risk tier), a count run from the
project page and its result with each node's verdict, the public data use register, and the
audit explorer with a tampered event shown broken. Bad input gets a clear answer on the page
(or stable JSON for htmx); outsiders get one "not found" for absent and not theirs."""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import date, timedelta

import httpx
import pytest

from fivesafes.data.synth import concepts as c
from portal import person, session_for, start_portal_hub

HYPERTENSION = c.ESSENTIAL_HYPERTENSION
TODAY = date.today()


class World:
    def __init__(self, harness, data) -> None:
        self.harness = harness
        start_portal_hub(harness)
        harness.add_node("northfield", {"engine": "duckdb", "path": str(data)})
        harness.add_node("riverside", {"engine": "duckdb", "path": str(data)}, start=False)
        for name in ("alice", "bob", "carol"):
            person(harness, name, totp=False)
        person(harness, "root", roles=("hub_admin",), totp=False)
        person(harness, "erin", totp=False, accredited_until=TODAY - timedelta(days=1))
        self.clients = {
            n: session_for(harness, n) for n in ("alice", "bob", "carol", "root", "erin")
        }
        self.project = harness.project(
            ["alice", "bob", "erin"], ["northfield"], pi="alice", title="Blood pressure"
        )

    def post(self, who: str, path: str, data: dict, **kw) -> httpx.Response:
        client = self.clients[who]
        return client.post(path, data={"csrf": client.csrf, **data}, **kw)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from federation import Harness
    from fivesafes.data.synth import generate
    from fivesafes.demo.processes import Supervisor

    root = tmp_path_factory.mktemp("hubportal")
    data = root / "site.duckdb"
    generate(data, 400, 21, "northfield")
    with Supervisor() as supervisor:
        yield World(Harness(root / "fed", supervisor), data)


def form(**changes) -> dict:
    values = {
        "title": "Statins and strokes",
        "lay_summary": "Do statins prevent strokes?",
        "purpose": "Estimate stroke incidence by statin use.",
        "public_benefit": "Better prevention.",
        "start_date": TODAY.isoformat(),
        "end_date": (TODAY + timedelta(days=90)).isoformat(),
        "members": "alice bob",
        "nodes": ["northfield"],
        "data_domains": ["omop"],
        "sensitivity": "standard",
        "linkage": "none",
    }
    return {**values, **changes}


def test_signed_in_pages_send_strangers_to_sign_in_and_htmx_gets_json(world):
    url = world.harness.hub_url
    page = httpx.get(f"{url}/projects/{world.project}")
    assert page.status_code == 303
    assert page.headers["location"] == f"/sign-in?next=/projects/{world.project}"
    fragment = httpx.get(f"{url}/tasks/t_x", headers={"HX-Request": "true"})
    assert fragment.status_code == 401 and fragment.headers["HX-Redirect"].startswith("/sign-in")
    assert fragment.json()["error"]["code"] == "unauthenticated"


def test_a_researcher_creates_a_project_and_sees_it_with_its_approvals(world):
    bad = world.post("alice", "/projects", form(nodes=[], end_date="2000-01-01", title=""))
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    assert "nodes" in bad.text and "Traceback" not in bad.text
    assert 'value="Do statins prevent strokes?"' not in bad.text  # a textarea keeps it
    assert "Do statins prevent strokes?" in bad.text  # what was typed is kept for a retry
    unknown = world.post("alice", "/projects", form(members="alice nobody-at-all"))
    assert unknown.status_code == 422 and "nobody-at-all" in unknown.text
    made = world.post("alice", "/projects", form())
    assert made.status_code == 303, made.text
    path = made.headers["location"]
    alice = world.clients["alice"]
    assert "Statins and strokes" in alice.get("/projects").text
    shown = alice.get(path).text
    assert "Approval at each node" in shown and "pending" in shown
    assert "own record is what counts" in " ".join(shown.split())
    assert re.search(r"Risk tier \d", shown)
    # bob is a member: sees it, may not edit it; carol, outside, cannot tell it from nothing
    assert world.clients["bob"].get(path).status_code == 200
    assert world.clients["bob"].get(path + "/edit").status_code == 403
    outsider = world.clients["carol"].get(path)
    absent = world.clients["carol"].get("/projects/p_doesnotexist")
    assert outsider.status_code == absent.status_code == 404
    assert outsider.text == absent.text
    assert "Statins" not in world.clients["carol"].get("/projects").text
    assert "Statins" in world.clients["root"].get("/projects").text  # a hub admin sees all


def test_editing_makes_a_new_version_and_a_stale_form_is_refused(world):
    alice = world.clients["alice"]
    edit = f"/projects/{world.project}/edit"
    assert 'name="expect_version" value="1"' in alice.get(edit).text
    terms = {"title": "Blood pressure", "members": "alice bob erin"}
    changed = world.post("alice", edit, form(**terms, purpose="New.", expect_version="1"))
    assert changed.status_code == 303
    page = alice.get(f"/projects/{world.project}").text
    assert "version 2" in page and "New." in page
    stale = world.post("alice", edit, form(**terms, expect_version="1"))
    assert stale.status_code == 422 and "version 2" in stale.text
    no_token = alice.post(edit, data=form(title="Blood pressure"))
    assert no_token.status_code == 403 and "security token" in no_token.text


def test_a_count_from_the_project_page_shows_each_nodes_verdict_when_it_answers(world):
    project = world.harness.project(["alice", "erin"], ["northfield"], title="Counting", pi="alice")
    counts = f"/projects/{project}/counts"
    htmx = {"HX-Request": "true"}
    bad = world.post("alice", counts, {"domain": "condition", "concepts": "x1"}, headers=htmx)
    assert bad.status_code == 422 and "not sent" in bad.text and "<html" not in bad.text
    expired = world.post("erin", counts, {"domain": "condition", "concepts": str(HYPERTENSION)})
    assert expired.status_code == 403 and "expired" in expired.text
    outsider = world.post("carol", counts, {"domain": "condition", "concepts": "1"}, headers=htmx)
    assert outsider.status_code == 404 and outsider.json()["error"]["code"] == "not_found"
    sent = world.post("alice", counts, {"domain": "condition", "concepts": str(HYPERTENSION)},
                      headers=htmx)  # fmt: skip
    assert sent.status_code == 201, sent.text
    task = re.search(r'hx-get="/tasks/(t_[0-9a-f]+)"', sent.text).group(1)
    deadline = time.monotonic() + 30
    while "waiting for nodes" in (fragment := world.clients["alice"].get(
            f"/tasks/{task}", headers=htmx).text) and time.monotonic() < deadline:  # fmt: skip
        time.sleep(0.3)
    assert "complete" in fragment and "verdict-pass" in fragment
    token = world.harness.token_for("alice")
    api = httpx.get(
        f"{world.harness.hub_url}/api/v1/tasks/{task}", headers={"Authorization": f"Bearer {token}"}
    )
    released = api.json()["runs"][0]["output"]["count"]["value"]
    assert re.search(rf"<td>{released}</td>", fragment)
    assert "<svg" in fragment  # the bar chart, drawn on the server
    assert task in world.clients["alice"].get(f"/projects/{project}").text
    assert world.clients["bob"].get(f"/tasks/{task}").status_code == 404  # not in that project


def test_the_register_page_shows_what_the_api_publishes(world):
    page = httpx.get(f"{world.harness.hub_url}/register")
    api = httpx.get(f"{world.harness.hub_url}/api/v1/register").json()
    assert page.status_code == 200 and api["projects"]
    for project in api["projects"]:
        assert project["title"] in page.text
    assert "alice" not in page.text  # names nobody


def test_the_audit_explorer_filters_pages_and_shows_a_broken_link_where_it_is(world):
    root = world.clients["root"]
    assert world.clients["alice"].get("/audit").status_code == 403
    page = root.get("/audit")
    assert page.status_code == 200 and "Intact" in page.text
    only = root.get("/audit", params={"event_type": "project_created"}).text
    assert "project_created" in only and "login_failed</td>" not in only
    assert root.get("/audit", params={"before": "0"}).status_code == 422
    first = root.get("/audit", params={"size": "10"}).text
    older = re.search(r'href="(/audit\?before=(\d+)&amp;size=10)"', first)
    assert older, "no link to older events"
    second = root.get(older.group(1).replace("&amp;", "&")).text
    assert f"<td>{int(older.group(2)) - 1}</td>" in second and "Newest" in second
    db = sqlite3.connect(world.harness.root / "hub" / "hub.db")
    with db:
        db.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    db.close()
    broken = root.get("/audit").text
    assert "Broken at event 3" in broken and 'class="broken"' in broken


def test_every_page_has_labels_landmarks_and_named_controls(world):
    """Every page a researcher, a hub admin or a stranger opens passes the markup checks of
    tests/web_a11y.py (one language, main landmark and h1; a label for every field; a name
    for every button and link; alt text for every image)."""
    from web_a11y import accessibility_problems

    alice, root = world.clients["alice"], world.clients["root"]
    asked = {"domain": "condition", "concepts": str(HYPERTENSION)}
    sent = world.post(
        "alice", f"/projects/{world.project}/counts", asked, headers={"HX-Request": "true"}
    )
    task = re.search(r'hx-get="/tasks/(t_[0-9a-f]+)"', sent.text)
    assert task is not None, sent.text
    pages = {
        "/": alice, "/projects": alice, "/projects/new": alice,
        f"/projects/{world.project}": alice, f"/projects/{world.project}/edit": alice,
        "/register": alice, "/audit": root, "/airlock": alice, "/airlock/new": alice,
        "/nodes": alice,
    }  # fmt: skip
    pages[f"/tasks/{task.group(1)}"] = alice
    found = {}
    for path, client in pages.items():
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        found[path] = accessibility_problems(response.text)
    stranger = httpx.get(f"{world.harness.hub_url}/sign-in")
    found["/sign-in"] = accessibility_problems(stranger.text)
    assert {path: problems for path, problems in found.items() if problems} == {}


def test_a_hub_admin_sees_a_projects_tasks_but_no_link_to_results(world):
    asked = {"domain": "condition", "concepts": str(HYPERTENSION)}
    sent = world.post(
        "alice", f"/projects/{world.project}/counts", asked, headers={"HX-Request": "true"}
    )
    task = re.search(r'hx-get="/tasks/(t_[0-9a-f]+)"', sent.text).group(1)
    member = world.clients["alice"].get(f"/projects/{world.project}").text
    admin = world.clients["root"].get(f"/projects/{world.project}").text
    assert f'href="/tasks/{task}"' in member and "members only" not in member
    assert task in admin and f'href="/tasks/{task}"' not in admin
    assert "Results are for the project's members only." in admin
    assert world.clients["root"].get(f"/tasks/{task}").status_code == 404
