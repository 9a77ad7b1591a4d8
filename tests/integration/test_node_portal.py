"""The node's portal over real HTTP: a ``fivesafes node portal`` process beside a real hub and
node agent (a federated count released, a second project awaiting the custodian).

* every route and every kind of caller (nobody, the node's custodian, its TRE admin, its output
  checker, a custodian of another node) answers as one table says; a new route without a row
  fails; an outsider cannot tell a project that exists from one that does not;
* the approvals queue comes from the hub's signed records (a real hub → node sync) and a
  decision made in the portal is the command line's: recorded and audited at the node, told
  to the hub;
* the audit explorer filters and pages, and shows an edited, deleted or reordered event as
  broken, saying where;
* the patient data account answers by identifier; the identifier is never shown back, logged or
  put in an error;
* bad input gets a clear error page, never a stack trace, never what was typed.
"""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from starlette.routing import Mount, Route

from audit_tampering import read_rows, write_rows
from fivesafes.analyses.count import cohort_person_set
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import concepts as c
from fivesafes.governance.accounts.settings import AccountSettings
from fivesafes.governance.roles import grant, node_scope
from fivesafes.hub.db import ProjectNode
from fivesafes.node.accounts import node_accounts
from fivesafes.node.config import NodeConfig
from fivesafes.node.db import AUDIT, Approval
from fivesafes.node.portal.app import create_portal_app
from fivesafes.node.service import NodeService
from node_portal import nhs, node_person, pseudonymised_cdm, start_node_portal
from portal import csrf_of, sign_in

NODE = "northfield"
LUNG_CANCER = {"name": "lc", "criteria": [{"domain": "condition", "concepts": [c.LUNG_CANCER]}]}
CALLERS = ("anon", "custodian", "tre_admin", "checker", "elsewhere")
SENTINEL = "ZZSENTINEL9431"

# (method, route) -> the status each caller gets, in the order of CALLERS:
#  anon custodian tre_admin checker elsewhere
MATRIX: dict[tuple[str, str], tuple[int, ...]] = {
    ("GET", "/api/v1/health"): (200, 200, 200, 200, 200),
    ("GET", "/static"): (200, 200, 200, 200, 200),
    ("GET", "/sign-in"): (200, 200, 200, 200, 200),
    ("POST", "/sign-in"): (403, 403, 403, 403, 403),  # no sign-in form token
    ("POST", "/sign-out"): (303, 403, 403, 403, 403),  # a wrong CSRF token: still signed in
    ("GET", "/"): (303, 200, 200, 200, 200),
    ("GET", "/approvals"): (303, 200, 200, 403, 403),
    ("GET", "/approvals/{project_id}"): (303, 200, 200, 403, 403),
    # decisions on a project the hub does not have: permission is checked first
    ("POST", "/approvals/{project_id}/approve"): (303, 404, 403, 403, 403),
    ("POST", "/approvals/{project_id}/reject"): (303, 404, 403, 403, 403),
    ("POST", "/approvals/{project_id}/revoke"): (303, 404, 404, 403, 403),
    ("POST", "/approvals/{project_id}/extraction/approve"): (303, 404, 403, 403, 403),
    ("POST", "/approvals/{project_id}/extraction/revoke"): (303, 404, 404, 403, 403),
    ("GET", "/audit"): (303, 200, 200, 403, 403),
    ("GET", "/patient-account"): (303, 200, 403, 403, 403),
    ("POST", "/patient-account"): (303, 200, 403, 403, 403),
    # the airlock's pages (fivesafes.airlock.portal): alice's submitted request of the
    # released project, table.csv; nobody here is its author, the checker may review it
    ("GET", "/airlock"): (303, 200, 200, 200, 200),
    ("GET", "/airlock/new"): (303, 200, 200, 200, 200),
    ("POST", "/airlock"): (303, 422, 422, 422, 422),  # no project named
    ("GET", "/airlock/queue"): (303, 403, 403, 200, 403),
    ("GET", "/airlock/{request_id}"): (303, 404, 404, 200, 404),
    ("GET", "/airlock/{request_id}/files/{name}"): (303, 404, 404, 200, 404),
    ("GET", "/airlock/{request_id}/review"): (303, 404, 404, 200, 404),
    ("GET", "/airlock/{request_id}/consolidate"): (303, 404, 404, 200, 404),
    ("POST", "/airlock/{request_id}/votes"): (303, 404, 404, 422, 404),  # no vote sent
    ("POST", "/airlock/{request_id}/consolidate"): (303, 404, 404, 422, 404),
    ("POST", "/airlock/{request_id}/files"): (303, 404, 404, 403, 404),
    ("POST", "/airlock/{request_id}/files/{name}/remove"): (303, 404, 404, 403, 404),
    ("POST", "/airlock/{request_id}/submit"): (303, 404, 404, 403, 404),
    ("POST", "/airlock/{request_id}/revise"): (303, 404, 404, 403, 404),
    ("POST", "/airlock/{request_id}/withdraw"): (303, 404, 404, 403, 404),
    ("POST", "/airlock/{request_id}/bundle"): (303, 404, 404, 403, 404),
    # the imaging extracts' pages (fivesafes.extracts.portal): none is held here, so every
    # extract is one that does not exist, the answer an extract one may not see gets too
    ("GET", "/extracts"): (303, 200, 200, 200, 200),
    ("GET", "/extracts.csv"): (303, 200, 200, 200, 200),
    ("GET", "/extracts/{extract_id}"): (303, 404, 404, 404, 404),
    ("GET", "/extracts/{extract_id}/files/{n}/thumbnail.png"): (303, 404, 404, 404, 404),
    ("POST", "/extracts/{extract_id}/release"): (303, 404, 404, 404, 404),
    ("POST", "/extracts/{extract_id}/withdraw"): (303, 404, 404, 404, 404),
    # the slides' pages (fivesafes.pathology.portal): no slide is registered here, so every slide
    # is one that does not exist; who may not look at slides is refused first (403)
    ("GET", "/slides"): (303, 200, 200, 200, 403),
    ("GET", "/slides.csv"): (303, 200, 200, 200, 403),
    ("GET", "/slides/{slide_id}"): (303, 404, 404, 404, 403),
    ("GET", "/slides/{slide_id}/dzi.json"): (303, 404, 404, 404, 403),
    ("GET", "/slides/{slide_id}/tiles/{level}/{col}_{row}.jpeg"): (303, 404, 404, 404, 403),
    ("GET", "/slides/{slide_id}/predictions.json"): (303, 404, 404, 404, 403),
    ("GET", "/slides/{slide_id}/predictions/{prediction_id}/annotations.json"): (
        303, 404, 404, 404, 403),
    ("GET", "/slides/{slide_id}/predictions/{prediction_id}/heatmap.png"): (
        303, 404, 404, 404, 403),
}  # fmt: skip


def portal_routes(config_path) -> set[tuple[str, str]]:
    app = create_portal_app(NodeService(NodeConfig.model_validate(
        {"node": {"name": NODE, "hub_url": "http://127.0.0.1:1"},
         "data": {"engine": "duckdb", "path": str(config_path)}}))).app  # fmt: skip
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Route):
            found |= {(m, route.path) for m in (route.methods or ()) if m != "HEAD"}
        elif isinstance(route, Mount):
            found.add(("GET", route.path))
        elif hasattr(route, "effective_route_contexts"):  # FastAPI's included routers
            for context in route.effective_route_contexts():
                found |= {(m, context.path) for m in (context.methods or ()) if m != "HEAD"}
    return found


def test_every_route_has_a_row(tmp_path):
    assert portal_routes(tmp_path / "cdm.duckdb") == set(MATRIX)


class World:
    """A hub; northfield with a pseudonymised CDM, its agent and its portal; a count released
    for one project; a second project awaiting northfield's custodian."""

    def __init__(self, harness, site_data) -> None:
        self.harness = harness
        cdm = harness.root / "northfield.duckdb"
        harness.start_hub()
        harness.add_node(NODE, {"engine": "duckdb", "path": str(cdm)}, start=False)
        ids = pseudonymised_cdm(site_data[NODE], cdm, harness.root / NODE / "pseudonym.key")
        with open_omop(DuckDBSource(engine="duckdb", path=cdm)) as db:
            cohort = cohort_person_set(db, Cohort.model_validate(LUNG_CANCER))
        self.inside, self.outside = min(cohort), min(set(ids) - set(cohort))
        harness.start_node(NODE)
        self.people = {
            "custodian": node_person(harness, NODE, "cora", ["custodian"]),
            "tre_admin": node_person(harness, NODE, "tom", ["tre_admin"]),
            "checker": node_person(harness, NODE, "otto", ["output_checker"]),
        }
        service = harness.node_service(NODE)
        try:  # a custodian of another node, with an account here (it holds nothing here)
            service.unit(lambda s: node_accounts().create(
                s, username="sam", display_name="Sam", grants=[grant("custodian",
                node_scope("southfield"))], by="test"))  # fmt: skip
            store = service.account_store
            service.unit(lambda s: store.set_password(s, "sam", "correct horse battery staple",
                                                      by="test"))  # fmt: skip
            secret, _ = service.unit(lambda s: store.enrol_totp(s, "sam", by="test"))
        finally:
            service.stop()
        from portal import Person

        self.people["elsewhere"] = Person("sam", secret, token="")
        harness.researcher("alice")
        harness.researcher("bob", accredited_until=date.today() - timedelta(days=3))
        self.released = harness.project(["alice"], [NODE], title="Lung cancer incidence")
        fed = harness.federation(harness.token_for("alice"), self.released)
        assert fed.count(LUNG_CANCER).per_node[NODE] is not None
        self.awaiting = harness.project(
            ["alice", "bob"], [NODE], approve=False, title="Awaiting study",
            purpose="Whether the portal shows what a custodian needs.", pi="alice",
        )  # fmt: skip
        self.release_request = airlock_request(harness, self.released)
        self.url, self.process = start_node_portal(harness, NODE)
        self.clients = {caller: sign_in(self.url, who) for caller, who in self.people.items()}
        self.clients["anon"] = httpx.Client(base_url=self.url, timeout=30)
        self.csrf = {
            caller: csrf_of(client.get("/").text)
            for caller, client in self.clients.items()
            if caller != "anon"
        }

    def request(self, caller: str, method: str, route: str, *, absent: bool = False):
        project = "p_doesnotexist" if absent or method == "POST" else self.awaiting
        path = route.replace("{project_id}", project).replace("{name}", "table.csv")
        path = path.replace("{request_id}", "ar_doesnotexist" if absent else self.release_request)
        path = path.replace("{extract_id}", "t_doesnotexist").replace("{n}", "0")
        path = path.replace("{slide_id}", "SL" + "0" * 20).replace("{level}", "0")
        path = path.replace("{col}", "0").replace("{row}", "0")
        if route == "/static":
            path = "/static/portal.css"
        data: dict[str, str] = {}
        if method == "POST":
            data["csrf"] = "not the token" if route == "/sign-out" else self.csrf.get(caller, "")
            data |= {"version": "1", "analysis": "count@1", "reason": "Not for us.",
                     "identifier": nhs(self.outside)}  # fmt: skip
        client = self.clients[caller]
        return client.request(method, path, data=data or None, follow_redirects=False)

    def node(self):
        return self.harness.node_service(NODE)


def airlock_request(harness, project: str) -> str:
    """alice's release request at the node for ``project``, with table.csv, submitted."""
    from fivesafes.airlock.files import RequestFile
    from fivesafes.node.airlock import airlock_actor, node_airlock

    service = harness.node_service(NODE)
    try:
        airlock, alice = node_airlock(service), service.read(lambda s: airlock_actor(s, "alice"))
        made = airlock.create(title="Matrix", project_id=project, by=alice,
                              files=(RequestFile("table.csv", b"a,n\nx,20\n"),))  # fmt: skip
        airlock.submit(made.id, by=alice)
    finally:
        service.stop()
    return made.id


@pytest.fixture(scope="module")
def world(tmp_path_factory, site_data):
    from federation import Harness
    from fivesafes.demo.processes import Supervisor

    with Supervisor() as supervisor:
        yield World(Harness(tmp_path_factory.mktemp("node-portal"), supervisor), site_data)


def test_every_route_answers_every_caller_as_the_table_says(world):
    wrong = []
    for (method, route), expected in MATRIX.items():
        for caller, status in zip(CALLERS, expected, strict=True):
            response = world.request(caller, method, route)
            if response.status_code != status:
                wrong.append(f"{method} {route} as {caller}: {response.status_code}, not {status}")
                continue
            if status == 303 and caller == "anon":
                assert response.headers["location"].startswith("/sign-in")
            if "{project_id}" in route and status in (403, 404) and method == "GET":
                absent = world.request(caller, method, route, absent=True)
                if absent.status_code != status:
                    wrong.append(f"{method} {route} as {caller}: absent gives {absent.status_code}")
    assert not wrong, "\n".join(wrong)


def test_the_queue_comes_from_the_hub_and_a_decision_is_the_command_lines(world):
    cora = world.clients["custodian"]
    queue = cora.get("/approvals").text
    assert "Awaiting study" in queue and f'href="/approvals/{world.awaiting}"' in queue
    assert "1 not accredited today" in queue  # bob's accreditation expired
    assert "Lung cancer incidence" in queue and "approved" in queue  # the node's own decision
    review = cora.get(f"/approvals/{world.awaiting}").text
    for shown in (
        "version 1",
        "Whether the portal shows what a custodian needs.",
        "alice",
        "expired",
        "Risk tier",
        "count@1",
        "Approve version 1",
        "Reject version 1",
    ):
        assert shown in review, shown
    tom = world.clients["tre_admin"].get(f"/approvals/{world.awaiting}").text
    assert "Awaiting study" in tom and "Approve version 1" not in tom  # sees, may not decide

    token = world.csrf["custodian"]
    stale = cora.post(f"/approvals/{world.awaiting}/approve",
                      data={"csrf": token, "version": "7", "analysis": "count@1"})  # fmt: skip
    assert stale.status_code == 422 and "changed while you reviewed it" in stale.text
    done = cora.post(
        f"/approvals/{world.awaiting}/approve",
        data={"csrf": token, "version": "1", "analysis": "count@1", "outputs_to_airlock": "true"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/approvals?decided=approved"

    node = world.node()
    try:
        approval = node.read(lambda s: s.get(Approval, world.awaiting))
        events = read_rows_of(node)
    finally:
        node.stop()
    assert (approval.state, approval.version, approval.decided_by) == ("approved", 1, "cora")
    assert approval.analyses == ["count@1"] and approval.outputs_to_airlock
    approved = [e for e in events if e["event_type"] == "project_approved"]
    assert approved[-1]["actor"] == "cora" and approved[-1]["project_id"] == world.awaiting
    hub_side = world.harness.admin(lambda s: [
        (link.approval, link.approved_version)
        for link in s.query(ProjectNode).filter_by(project_id=world.awaiting)])  # fmt: skip
    assert hub_side == [("approved", 1)]
    after = cora.get("/approvals?decided=approved").text
    assert "Your decision was recorded" in after and "Nothing awaits a decision" in after


def read_rows_of(node):
    return node.read(lambda s: read_rows(s, AUDIT))


def test_the_audit_explorer_filters_pages_and_the_chain_holds(world):
    cora = world.clients["custodian"]
    page = cora.get("/audit").text
    assert "The chain holds" in page and "page 1 of" in page
    only = cora.get("/audit", params={"event_type": "login_succeeded", "actor": "cora"}).text
    assert "<td>login_succeeded</td>" in only and "<td>run_received</td>" not in only
    fragment = cora.get("/audit", params={"page": "2"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and 'id="events"' in fragment.text
    today = date.today().isoformat()
    dated = cora.get("/audit", params={"since": today, "until": today}).text
    assert '"polite">0 event(s)' not in dated and "event(s)" in dated


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder"])
def test_a_tampered_event_shows_as_broken_saying_where(world, tamper):
    # The running node may append events meanwhile (its agent): each change reads the rows in
    # the transaction that writes them, and the undo puts back only the two events touched,
    # keeping whatever was appended after them.
    node = world.node()
    touched: dict[int, dict] = {}

    def tampered(session):
        rows = read_rows(session, AUDIT)
        target = len(rows) // 2
        touched.update({r["seq"]: dict(r) for r in rows[target - 1 : target + 1]})
        if tamper == "edit":
            rows[target - 1]["actor"] = "mallory"
        elif tamper == "delete":
            del rows[target - 1]
        else:  # two events change places (each keeps its number's place in the order)
            rows[target - 1]["seq"], rows[target]["seq"] = target + 1, target
        write_rows(session, AUDIT, rows)
        return target

    def undone(session):
        kept = [r for r in read_rows(session, AUDIT) if r["seq"] not in touched]
        write_rows(session, AUDIT, sorted([*kept, *touched.values()], key=lambda r: r["seq"]))

    try:
        target = node.unit(tampered)
        page = world.clients["tre_admin"].get("/audit", params={"to_event": target + 1}).text
        node.unit(undone)
    finally:
        node.stop()
    assert "The chain is broken" in page
    assert f'href="/audit?to_event={target if tamper != "delete" else target + 1}"' in page
    assert "broken</span>:" in page  # the row itself is marked
    assert "The chain holds" in world.clients["tre_admin"].get("/audit").text


def test_the_patient_data_account_answers_by_identifier_and_never_shows_it(world):
    cora = world.clients["custodian"]
    token = world.csrf["custodian"]
    form = cora.get("/patient-account").text
    assert 'label for="identifier"' in form
    seen = cora.post("/patient-account", data={"csrf": token, "identifier": nhs(world.inside)})
    assert seen.status_code == 200 and "Lung cancer incidence" in seen.text
    assert "Testing the federation on synthetic data." in seen.text  # the purpose
    start = date.today().isoformat()
    assert f"{start} to " in seen.text  # the project's dates
    assert nhs(world.inside) not in seen.text and seen.headers["cache-control"] == "no-store"
    unseen = cora.post("/patient-account", data={"csrf": token, "identifier": nhs(world.outside)})
    assert "has not contributed to any output" in unseen.text
    nobody = cora.post("/patient-account", data={"csrf": token, "identifier": SENTINEL})
    assert "No person with this identifier" in nobody.text and SENTINEL not in nobody.text
    log = (world.harness.root / NODE / "portal.log").read_text()
    assert SENTINEL not in log and nhs(world.inside) not in log
    node = world.node()
    try:
        events = read_rows_of(node)
    finally:
        node.stop()
    looked = [e for e in events if e["event_type"] == "patient_account_viewed"]
    assert looked and all(e["actor"] == "cora" for e in looked)
    assert all(SENTINEL not in str(e) and "999 " not in str(e) for e in events)


BAD = [
    ("GET", "/audit", {"page": SENTINEL}, None, 422, "page"),
    ("GET", "/audit", {"since": SENTINEL}, None, 422, "since"),
    ("GET", "/audit", {"event_type": SENTINEL}, None, 422, "Choose an event type"),
    ("GET", "/audit", {"since": "2030-01-02", "until": "2030-01-01"}, None, 422, "after"),
    ("GET", "/audit", {"actor": SENTINEL * 20}, None, 422, "actor"),
    ("GET", "/no-such-page-" + SENTINEL, None, None, 404, "not_found"),
    ("POST", "/approvals/{awaiting}/reject", None, {"version": "1", "reason": " "}, 422, "Say why"),
    ("POST", "/approvals/{awaiting}/approve", None, {"version": SENTINEL}, 422, "version"),
    ("POST", "/approvals/{awaiting}/approve", None, {"version": "1"}, 422, "at least one"),
    ("POST", "/patient-account", None, {"identifier": "\x00\x01" + SENTINEL[:0]}, 422, "printable"),
    ("POST", "/patient-account", None, {"identifier": SENTINEL * 20}, 422, "identifier"),
    ("POST", "/patient-account", None, {"identifier": ""}, 422, "Enter the person"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "params", "form", "status", "says"), BAD)
def test_bad_input_gets_a_clear_error_never_a_trace_or_what_was_typed(
    world, method, path, params, form, status, says
):
    cora = world.clients["custodian"]
    if form is not None:
        form = {"csrf": world.csrf["custodian"], **form}
    response = cora.request(method, path.replace("{awaiting}", world.awaiting), params=params,
                            data=form)  # fmt: skip
    assert response.status_code == status, response.text
    assert says in response.text
    assert SENTINEL not in response.text and "Traceback" not in response.text
    assert "<html" in response.text  # a page in the portal's frame


def test_every_post_needs_the_sessions_csrf_token(world):
    cora = world.clients["custodian"]
    for path in (f"/approvals/{world.awaiting}/reject", "/patient-account"):
        refused = cora.post(path, data={"version": "1", "reason": "r", "identifier": "x"})
        assert refused.status_code == 403 and "security token" in refused.text
        other = cora.post(path, data={"csrf": world.csrf["tre_admin"], "version": "1"})
        assert other.status_code == 403


def test_the_portal_refuses_to_listen_outside_the_tre(world, tmp_path):
    from federation import fs

    config = world.harness.root / NODE / "node.toml"
    public = fs("node", "portal", "--config", str(config), "--host", "0.0.0.0", check=False)
    assert (
        public.returncode != 0 and "reachable from outside the TRE" in public.stdout + public.stderr
    )
    internal = fs("node", "portal", "--config", str(config), "--host", "10.1.2.3", check=False)
    assert (
        internal.returncode != 0
        and '[portal] host = "10.1.2.3"' in internal.stdout + internal.stderr
    )
    assert AccountSettings().secure_cookies  # cookies are Secure unless configured off


def test_every_page_has_labels_landmarks_and_named_controls(world):
    """Every page a custodian, a TRE admin, a checker or a stranger opens passes the markup
    checks of tests/web_a11y.py."""
    from web_a11y import accessibility_problems

    cora, tom = world.clients["custodian"], world.clients["tre_admin"]
    otto = world.clients["checker"]
    pages = {
        "/": cora, "/approvals": cora, f"/approvals/{world.awaiting}": cora, "/audit": tom,
        "/patient-account": cora, "/airlock/queue": otto,
        f"/airlock/{world.release_request}/review": otto, "/extracts": otto, "/slides": otto,
    }  # fmt: skip
    found = {}
    for path, client in pages.items():
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        found[path] = accessibility_problems(response.text)
    found["/sign-in"] = accessibility_problems(world.clients["anon"].get("/sign-in").text)
    assert {path: problems for path, problems in found.items() if problems} == {}
