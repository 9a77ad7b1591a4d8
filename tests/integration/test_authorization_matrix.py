"""Every route of the hub, for every kind of caller → the expected answer, in one table.

The routes are read from the hub's FastAPI app, so a new route without a row here fails
``test_every_route_has_a_row``. Callers: nobody (no token), the project's PI, a member, a
member whose accreditation expired, a researcher outside the project, a hub admin, an output
checker, a member's read-only token (``projects:read``, ``tasks:read``) and the enrolled node
(signed requests). On the portal's pages the people are signed in (a web session; the CSRF
token with every POST) and the token and the node, which are no session, are sent to sign
in. Wherever the answer is 404, asking about something that does not exist gives the very
same status and body: outsiders cannot tell "not found" from "not yours".

Runs against a real hub process (one node enrolled, not started).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from fivesafes.hub.app import create_app
from fivesafes.hub.config import HubConfig
from fivesafes.hub.people import issue_token
from fivesafes.hub.service import HubService
from fivesafes.protocol.models import ResultPayload
from fivesafes.protocol.signing import load_private_key, sign, sign_request
from fivesafes.storage.types import utcnow

CALLERS = ("anon", "pi", "member", "expired", "outsider", "admin", "checker", "readonly", "node")
SIGNED_IN = ("pi", "member", "expired", "outsider", "admin", "checker")  # a web session too
USERNAMES = {"pi": "alice", "member": "bob", "expired": "erin", "outsider": "carol",
             "admin": "root", "checker": "olga"}  # fmt: skip
PUBLIC_PAGES = ("/", "/static", "/sign-in", "/sign-out", "/register")
COHORT = {"name": "c", "criteria": [{"domain": "condition", "concepts": [443388]}]}

# (method, route) -> the status each caller gets, in the order of CALLERS:
#  anon  pi   member expired outsider admin checker readonly node
MATRIX: dict[tuple[str, str], tuple[int, ...]] = {
    # public: the same for everyone
    ("GET", "/"): (200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/static"): (200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/openapi.json"): (200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/docs"): (200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/health"): (200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/hub"): (200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/register"): (200, 200, 200, 200, 200, 200, 200, 200, 200),  # data use
    # the portal's sign-in (fivesafes.web.signin): a POST without the form's token is refused;
    # signing out without a session goes back to the sign-in page
    ("GET", "/sign-in"): (200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/sign-in"): (403, 403, 403, 403, 403, 403, 403, 403, 403),
    ("POST", "/sign-out"): (303, 303, 303, 303, 303, 303, 303, 303, 303),
    ("GET", "/register"): (200, 200, 200, 200, 200, 200, 200, 200, 200),  # the register's page
    # the hub's portal: people signed in (a web session, the CSRF token on POSTs); a token or
    # a node's signature is no session, so they are sent to the sign-in page (303) like anon
    ("GET", "/projects"): (303, 200, 200, 200, 200, 200, 200, 303, 303),
    ("GET", "/projects/new"): (303, 200, 200, 200, 200, 200, 200, 303, 303),
    ("POST", "/projects"): (303, 303, 303, 403, 303, 303, 403, 303, 303),  # made: to its page
    ("GET", "/projects/{project_id}"): (303, 200, 200, 200, 404, 200, 404, 303, 303),
    ("GET", "/projects/{project_id}/edit"): (303, 200, 403, 403, 404, 200, 404, 303, 303),
    ("POST", "/projects/{project_id}/edit"): (303, 303, 403, 403, 404, 303, 404, 303, 303),
    ("POST", "/projects/{project_id}/counts"): (303, 201, 201, 403, 404, 403, 404, 303, 303),
    # an imaging extract: the matrix project asks for OMOP only, so a member is refused (403)
    ("POST", "/projects/{project_id}/extracts"): (303, 403, 403, 403, 404, 403, 404, 303, 303),
    ("GET", "/tasks/{task_id}"): (303, 200, 200, 200, 404, 404, 404, 303, 303),
    # its result as CSV, asked as the page is; the task is still running: nothing yet (409)
    ("GET", "/tasks/{task_id}/result.csv"): (303, 409, 409, 409, 404, 404, 404, 303, 303),
    # "Send to the airlock": the page's who, then a request's author's (accredited), then 409
    ("POST", "/tasks/{task_id}/airlock"): (303, 409, 409, 403, 404, 404, 404, 303, 303),
    ("GET", "/nodes"): (303, 200, 200, 200, 200, 200, 200, 303, 303),  # as /api/v1/nodes
    ("GET", "/audit"): (303, 403, 403, 403, 403, 200, 403, 303, 303),
    # the airlock's pages: alice's submitted release request with table.csv; olga votes on it,
    # alice withdraws it last (fivesafes.airlock.portal)
    ("GET", "/airlock"): (303, 200, 200, 200, 200, 200, 200, 303, 303),
    ("GET", "/airlock/new"): (303, 200, 200, 200, 200, 200, 200, 303, 303),
    # not researchers: 422; an expired accreditation: 403, as for tasks
    ("POST", "/airlock"): (303, 303, 303, 403, 404, 422, 422, 303, 303),
    ("GET", "/airlock/queue"): (303, 403, 403, 403, 403, 403, 200, 303, 303),
    ("GET", "/airlock/{request_id}"): (303, 200, 404, 404, 404, 404, 200, 303, 303),
    ("GET", "/airlock/{request_id}/files/{name}"): (303, 200, 404, 404, 404, 404, 200, 303, 303),
    ("GET", "/airlock/{request_id}/review"): (303, 403, 404, 404, 404, 404, 200, 303, 303),
    ("GET", "/airlock/{request_id}/consolidate"): (303, 403, 404, 404, 404, 404, 200, 303, 303),
    ("POST", "/airlock/{request_id}/votes"): (303, 403, 404, 404, 404, 404, 303, 303, 303),
    ("POST", "/airlock/{request_id}/consolidate"): (303, 403, 404, 404, 404, 404, 422, 303, 303),
    ("POST", "/airlock/{request_id}/files"): (303, 422, 404, 404, 404, 404, 403, 303, 303),
    ("POST", "/airlock/{request_id}/files/{name}/remove"): (
        303, 422, 404, 404, 404, 404, 403, 303, 303,
    ),
    ("POST", "/airlock/{request_id}/submit"): (303, 422, 404, 404, 404, 404, 403, 303, 303),
    ("POST", "/airlock/{request_id}/revise"): (303, 422, 404, 404, 404, 404, 403, 303, 303),
    ("POST", "/airlock/{request_id}/bundle"): (303, 422, 404, 404, 404, 404, 403, 303, 303),
    ("POST", "/airlock/{request_id}/withdraw"): (303, 303, 404, 404, 404, 404, 403, 303, 303),
    # enrolment takes a one-time token in its body (a wrong one here, for everyone)
    ("POST", "/api/v1/enrol"): (401, 401, 401, 401, 401, 401, 401, 401, 401),
    # people with API tokens
    ("GET", "/api/v1/me"): (401, 200, 200, 200, 200, 200, 200, 200, 401),
    ("GET", "/api/v1/projects"): (401, 200, 200, 200, 200, 200, 200, 200, 401),
    ("POST", "/api/v1/projects"): (401, 201, 201, 403, 201, 201, 403, 403, 401),
    ("GET", "/api/v1/projects/{project_id}"): (401, 200, 200, 200, 404, 200, 404, 200, 401),
    ("PATCH", "/api/v1/projects/{project_id}"): (401, 200, 403, 403, 404, 200, 404, 403, 401),
    ("GET", "/api/v1/projects/{project_id}/versions"): (
        401, 200, 200, 200, 404, 200, 404, 200, 401,
    ),
    ("GET", "/api/v1/nodes"): (401, 200, 200, 200, 200, 200, 200, 403, 401),
    ("POST", "/api/v1/tasks"): (401, 201, 201, 403, 404, 403, 404, 403, 401),
    ("GET", "/api/v1/tasks"): (401, 200, 200, 200, 200, 200, 200, 200, 401),  # theirs only
    ("GET", "/api/v1/tasks/{task_id}"): (401, 200, 200, 200, 404, 404, 404, 200, 401),
    ("GET", "/api/v1/tasks/{task_id}/result.csv"): (
        401, 409, 409, 409, 404, 404, 404, 409, 401,
    ),
    # nodes: signed requests only
    ("GET", "/api/v1/node/runs/next"): (401, 401, 401, 401, 401, 401, 401, 401, 200),
    ("POST", "/api/v1/node/runs/{run_id}/result"): (
        401, 401, 401, 401, 401, 401, 401, 401, 404,
    ),
    # a run's heartbeat: 204 whether or not the run is this node's (it says nothing)
    ("POST", "/api/v1/node/runs/{run_id}/working"): (
        401, 401, 401, 401, 401, 401, 401, 401, 204,
    ),
    ("GET", "/api/v1/node/projects"): (401, 401, 401, 401, 401, 401, 401, 401, 200),
    ("GET", "/api/v1/node/projects/{project_id}"): (
        401, 401, 401, 401, 401, 401, 401, 401, 200,
    ),
    ("POST", "/api/v1/node/approvals"): (401, 401, 401, 401, 401, 401, 401, 401, 204),
    # the review store (hub/review.py): a slide the node released for the project, pushed;
    # its members see it (an expired accreditation: 403), no one else (404); bob reads it as a
    # case of the review study below, so he sees it only through his read there (404 here)
    ("GET", "/review/slides"): (303, 200, 200, 403, 200, 200, 200, 303, 303),
    ("GET", "/review/slides.csv"): (303, 200, 200, 403, 200, 200, 200, 303, 303),
    ("GET", "/review/slides/{slide_id}"): (303, 200, 404, 403, 404, 404, 404, 303, 303),
    ("GET", "/review/slides/{slide_id}/dzi.json"): (303, 200, 404, 403, 404, 404, 404, 303, 303),
    ("GET", "/review/slides/{slide_id}/tiles/{level}/{col}_{row}.jpeg"): (
        303, 200, 404, 403, 404, 404, 404, 303, 303),
    ("GET", "/review/slides/{slide_id}/predictions.json"): (
        303, 200, 404, 403, 404, 404, 404, 303, 303),
    ("GET", "/review/slides/{slide_id}/predictions/{prediction_id}/annotations.json"): (
        303, 200, 404, 403, 404, 404, 404, 303, 303),
    ("GET", "/review/slides/{slide_id}/predictions/{prediction_id}/heatmap.png"): (
        303, 200, 404, 403, 404, 404, 404, 303, 303),
    # nodes push released slides: signed requests only; the matrix node has not approved the
    # project (422 in words), and the slide above is another node's: no such release (404)
    ("POST", "/api/v1/node/slide-reviews"): (401, 401, 401, 401, 401, 401, 401, 401, 422),
    ("PUT", "/api/v1/node/slide-reviews/{review_id}/data"): (
        401, 401, 401, 401, 401, 401, 401, 401, 404),
    ("POST", "/api/v1/node/slide-reviews/{review_id}/finish"): (
        401, 401, 401, 401, 401, 401, 401, 401, 404),
    ("POST", "/api/v1/node/slide-reviews/{review_id}/delete"): (
        401, 401, 401, 401, 401, 401, 401, 401, 404),
    # review studies (hub/studies.py): alice leads one, open, with bob and erin reading its
    # case; the project's members see it (erin's accreditation expired: she may look, not
    # act), no one else (404); only its lead changes it (403), the study's state refuses what
    # it does not allow (409, a reassignment no one could take 422); the lock comes last
    ("GET", "/api/v1/studies"): (401, 200, 200, 200, 200, 200, 200, 200, 401),  # theirs only
    ("POST", "/api/v1/studies"): (401, 201, 201, 403, 404, 404, 404, 403, 401),
    ("GET", "/api/v1/studies/{study_id}"): (401, 200, 200, 200, 404, 404, 404, 200, 401),
    ("PUT", "/api/v1/studies/{study_id}"): (401, 200, 403, 403, 404, 404, 404, 403, 401),
    ("POST", "/api/v1/studies/{study_id}/propose"): (401, 409, 403, 403, 404, 404, 404, 403, 401),
    ("POST", "/api/v1/studies/{study_id}/cases"): (401, 409, 403, 403, 404, 404, 404, 403, 401),
    ("POST", "/api/v1/studies/{study_id}/allocate"): (
        401, 409, 403, 403, 404, 404, 404, 403, 401),
    ("POST", "/api/v1/studies/{study_id}/reassign"): (
        401, 422, 403, 403, 404, 404, 404, 403, 401),
    # its results are its lead's: progress while open, the tables once locked (409 before)
    ("GET", "/api/v1/studies/{study_id}/results"): (401, 200, 403, 403, 404, 404, 404, 403, 401),
    ("GET", "/api/v1/studies/{study_id}/results.csv"): (
        401, 409, 403, 403, 404, 404, 404, 403, 401),
    ("GET", "/api/v1/studies/{study_id}/results.parquet"): (
        401, 409, 403, 403, 404, 404, 404, 403, 401),
    ("GET", "/review/studies/{study_id}/results"): (303, 200, 403, 403, 404, 404, 404, 303, 303),
    ("GET", "/review/studies/{study_id}/results.csv"): (
        303, 409, 403, 403, 404, 404, 404, 303, 303),
    ("GET", "/api/v1/studies/{study_id}/worklist"): (
        401, 200, 200, 200, 404, 404, 404, 200, 401),
    # bob's read: only bob opens it; to anyone else, even the study's lead, it does not exist
    ("POST", "/api/v1/studies/reads/{read_id}/{step}"): (
        401, 404, 200, 404, 404, 404, 404, 403, 401),
    ("GET", "/api/v1/node/studies"): (401, 401, 401, 401, 401, 401, 401, 401, 200),
    ("POST", "/api/v1/node/studies/{study_id}/approval"): (
        401, 401, 401, 401, 401, 401, 401, 401, 200),
    # the reader's pages (hub/portal/studies.py): bob's read is his alone; its AI is not shown
    # before his unaided read is locked (404 to everyone, in the one answer)
    ("GET", "/review/studies"): (303, 200, 200, 200, 200, 200, 200, 303, 303),
    ("GET", "/review/studies/reads/{read_id}"): (303, 404, 200, 404, 404, 404, 404, 303, 303),
    ("GET", "/review/studies/reads/{read_id}/dzi.json"): (
        303, 404, 200, 404, 404, 404, 404, 303, 303),
    ("GET", "/review/studies/reads/{read_id}/tiles/{level}/{col}_{row}.jpeg"): (
        303, 404, 200, 404, 404, 404, 404, 303, 303),
    ("GET", "/review/studies/reads/{read_id}/predictions.json"): (
        303, 404, 404, 404, 404, 404, 404, 303, 303),
    ("GET", "/review/studies/reads/{read_id}/predictions/{prediction_id}/annotations.json"): (
        303, 404, 404, 404, 404, 404, 404, 303, 303),
    ("GET", "/review/studies/reads/{read_id}/predictions/{prediction_id}/heatmap.png"): (
        303, 404, 404, 404, 404, 404, 404, 303, 303),
    ("POST", "/review/studies/reads/{read_id}/{step}"): (
        303, 404, 200, 404, 404, 404, 404, 303, 303),
    # the lead's pages (hub/portal/study_design.py): anyone signed in may open the design form
    # (it offers only their own projects); a design is made in a project one may lead studies
    # of; the study's page is its members'; only its lead edits or runs it (403); what its
    # state refuses comes back on the page (409), as does a step sent without its choice
    # (422: no slide ticked, no reader chosen, the lock's box not ticked)
    ("GET", "/review/studies/new"): (303, 200, 200, 200, 200, 200, 200, 303, 303),
    ("POST", "/review/studies/new"): (303, 303, 303, 403, 404, 404, 404, 303, 303),
    ("GET", "/review/studies/{study_id}"): (303, 200, 200, 200, 404, 404, 404, 303, 303),
    ("GET", "/review/studies/{study_id}/edit"): (303, 200, 403, 403, 404, 404, 404, 303, 303),
    ("POST", "/review/studies/{study_id}/edit"): (303, 303, 403, 403, 404, 404, 404, 303, 303),
    ("POST", "/review/studies/{study_id}/propose"): (
        303, 409, 403, 403, 404, 404, 404, 303, 303),
    ("POST", "/review/studies/{study_id}/cases"): (303, 422, 403, 403, 404, 404, 404, 303, 303),
    ("POST", "/review/studies/{study_id}/allocate"): (
        303, 409, 403, 403, 404, 404, 404, 303, 303),
    ("POST", "/review/studies/{study_id}/reassign"): (
        303, 422, 403, 403, 404, 404, 404, 303, 303),
    ("POST", "/review/studies/{study_id}/lock"): (303, 422, 403, 403, 404, 404, 404, 303, 303),
    # linkage (hub/linkage.py): only a node's signed requests reach the linkage unit; the
    # matrix project's terms ask for no linkage, so the node is told so (422); its members see
    # where the project's linkage stands
    ("POST", "/api/v1/node/linkage/{project_id}/tokens"): (
        401, 401, 401, 401, 401, 401, 401, 401, 422),
    ("GET", "/api/v1/node/linkage/{project_id}/mapping"): (
        401, 401, 401, 401, 401, 401, 401, 401, 422),
    ("POST", "/api/v1/node/linkage/{project_id}/delivered"): (
        401, 401, 401, 401, 401, 401, 401, 401, 422),
    ("GET", "/api/v1/projects/{project_id}/linkage"): (
        401, 200, 200, 200, 404, 404, 404, 200, 401),
    ("POST", "/api/v1/studies/{study_id}/lock"): (401, 200, 403, 403, 404, 404, 404, 403, 401),
    # pools (hub/pools.py): a member asks for one of a linked project (the matrix project is
    # not linked: 422; an expired researcher, or an admin who is no member: 403); its members
    # see its pools; only the nodes that send to a pool, or the pool, read its terms or report
    # (no such pool: 404)
    ("POST", "/api/v1/projects/{project_id}/pools"): (
        401, 422, 422, 403, 404, 403, 404, 403, 401),
    ("GET", "/api/v1/projects/{project_id}/pools"): (
        401, 200, 200, 200, 404, 404, 404, 200, 401),
    ("GET", "/api/v1/node/pools/{pool_id}"): (401, 401, 401, 401, 401, 401, 401, 401, 404),
    ("POST", "/api/v1/node/pools/{pool_id}/events"): (
        401, 401, 401, 401, 401, 401, 401, 401, 404),
}  # fmt: skip
REVIEW, PREDICTION = "SL" + "C0FFEE" * 3 + "AB", "PR" + "BEEF" * 5
ABSENT_REVIEW, ABSENT_PREDICTION = "SL" + "0" * 20, "PR" + "0" * 20
ABSENT_STUDY, ABSENT_READ = "st_" + "0" * 16, "rd_" + "0" * 16


def app_routes() -> set[tuple[str, str]]:
    """Every (method, path) the hub's app serves (HEAD answers as GET does)."""
    config = HubConfig.model_validate({"hub": {"key_file": "unused.key"}})
    found: set[tuple[str, str]] = set()
    for route in create_app(HubService(config)).routes:
        if isinstance(route, APIRoute | Route):
            found |= {(m, route.path) for m in (route.methods or ()) if m != "HEAD"}
        elif isinstance(route, Mount):
            found.add(("GET", route.path))
        elif hasattr(route, "effective_route_contexts"):  # FastAPI's included routers
            for context in route.effective_route_contexts():
                found |= {(m, context.path) for m in (context.methods or ()) if m != "HEAD"}
        else:  # pragma: no cover - a kind of route this table does not know yet
            found.add(("?", repr(route)[:80]))
    return found


def test_every_route_has_a_row():
    assert app_routes() == set(MATRIX)


class World:
    """A hub, one enrolled node, the project ``alice`` leads with bob and erin, a task."""

    def __init__(self, harness) -> None:
        self.harness = harness
        harness.start_hub()
        harness.add_node("northfield", {"engine": "duckdb", "path": "/nonexistent"}, start=False)
        expired = date.today() - timedelta(days=1)
        self.tokens = {
            "pi": harness.researcher("alice"),
            "member": harness.researcher("bob", roles=("researcher", "reviewer")),
            "expired": harness.researcher(
                "erin", accredited_until=expired, roles=("researcher", "reviewer")
            ),
            "outsider": harness.researcher("carol"),
            "admin": harness.researcher("root", roles=("hub_admin",)),
            "checker": harness.researcher("olga", roles=("output_checker",)),
        }
        self.project = harness.project(
            ["alice", "bob", "erin"], ["northfield"], approve=False, pi="alice"
        )
        self.tokens["readonly"] = harness.admin(
            lambda s: issue_token(
                s,
                username="bob",
                lifetime=timedelta(hours=1),
                by="test",
                action_names=["projects:read", "tasks:read"],
            )
        )
        hub = harness.hub()
        try:  # web sessions, made as a sign-in makes them
            self.sessions = {
                caller: hub.accounts.create_session(
                    hub.read(lambda s, u=username: hub.account_store.require(s, u))
                )
                for caller, username in USERNAMES.items()
            }
        finally:
            hub.stop()
        self.node_key = load_private_key(Path(harness.root / "northfield" / "node.key"))
        created = httpx.post(  # running all the while: its node never starts
            f"{harness.hub_url}/api/v1/tasks",
            json={**self.task_body(self.project), "timeout_seconds": 3600},
            headers={"Authorization": f"Bearer {self.tokens['pi']}"},
        )
        assert created.status_code == 201, created.text
        self.task = created.json()["task_id"]
        self.release_request = airlock_request(harness, self.project)
        review_slide(harness, self.project)
        self.study, self.read = review_study(harness, self.project)

    def task_body(self, project: str) -> dict:
        return {
            "project_id": project,
            "analysis": "count",
            "parameters": {"cohort": COHORT},
            "timeout_seconds": 60,
        }

    def request(
        self, caller: str, method: str, route: str, *, absent: bool = False
    ) -> httpx.Response:
        project = "p_doesnotexist" if absent else self.project
        task = "t_doesnotexist" if absent else self.task
        path = (
            route.replace("{project_id}", project)
            .replace("{task_id}", task)
            .replace("{run_id}", "r_doesnotexist")
            .replace("{request_id}", "ar_doesnotexist" if absent else self.release_request)
            .replace("{name}", "table.csv")
            .replace("{slide_id}", ABSENT_REVIEW if absent else REVIEW)
            .replace("{review_id}", ABSENT_REVIEW if absent else REVIEW)
            .replace("{prediction_id}", ABSENT_PREDICTION if absent else PREDICTION)
            .replace("{level}/{col}_{row}", "0/0_0")
            .replace("{study_id}", ABSENT_STUDY if absent else self.study)
            .replace("{read_id}", ABSENT_READ if absent else self.read)
            .replace("{step}", "open")
            .replace("{pool_id}", "pl_" + "0" * 12)
        )
        if route == "/static":
            path = "/static/portal.css"
        if route == "/api/v1/node/runs/next":
            path += "?wait=0"
        if self.is_page(route):
            return self.page_request(caller, method, route, path, project)
        body = self.body(method, route, project)
        content = json.dumps(body).encode() if body is not None else b""
        headers = {"content-type": "application/json"} if body is not None else {}
        if caller == "node":
            headers |= sign_request("northfield", self.node_key, method, path, content)
        elif caller != "anon":
            headers["Authorization"] = f"Bearer {self.tokens[caller]}"
        return httpx.request(
            method, self.harness.hub_url + path, content=content, headers=headers, timeout=30
        )

    @staticmethod
    def is_page(route: str) -> bool:
        return not route.startswith("/api/") and route not in PUBLIC_PAGES and "docs" not in route

    def page_request(
        self, caller: str, method: str, route: str, path: str, project: str
    ) -> httpx.Response:
        """A portal page, as a browser asks for it: the session's cookie and, on a POST, its
        CSRF token (htmx's header); the token and the node send what they have, no session."""
        headers: dict[str, str] = {}
        if caller in SIGNED_IN:
            session_id, csrf = self.sessions[caller]
            headers = {"cookie": f"fivesafes_session={session_id}", "x-csrf-token": csrf}
        elif caller == "readonly":
            headers["Authorization"] = f"Bearer {self.tokens[caller]}"
        form = self.page_form(route, project) if method == "POST" else None
        return httpx.request(
            method, self.harness.hub_url + path, data=form, headers=headers, timeout=30
        )

    def page_form(self, route: str, project: str) -> dict:
        today = date.today()
        if route in ("/projects/{project_id}/counts", "/projects/{project_id}/extracts"):
            return {"domain": "condition", "concepts": "443388"}
        if route in ("/review/studies/new", "/review/studies/{study_id}/edit"):
            return study_form(project)  # the matrix study's own design: the edit is no change
        if route.startswith("/review/studies"):
            return {}  # a read's or the lead's step: the step alone, nothing chosen
        if route.startswith("/airlock"):
            return {"title": "A matrix request", "project": project, "file": "table.csv",
                    "vote": "approve", "comment": "matrix"}  # fmt: skip
        terms = {  # the matrix project's own terms (the edit makes no new version)
            "title": "Local project" if "edit" in route else "Another study",
            "purpose": "Testing the federation on synthetic data.",
            "lay_summary": "Edited in the matrix test.",
            "members": "alice bob erin" if "edit" in route else "alice",
            "nodes": ["northfield"],
            "data_domains": ["omop"],
            "start_date": today.isoformat(),
            "end_date": (today + timedelta(days=365 if "edit" in route else 30)).isoformat(),
        }
        return terms

    def body(self, method: str, route: str, project: str) -> dict | None:
        if route == "/api/v1/projects" and method == "POST":
            today = date.today()
            return {
                "title": "Another study",
                "members": ["alice"],
                "nodes": ["northfield"],
                "start_date": today.isoformat(),
                "end_date": (today + timedelta(days=30)).isoformat(),
            }
        if route == "/api/v1/projects/{project_id}" and method == "PATCH":
            return {"lay_summary": "Edited in the matrix test."}  # no new version
        if route == "/api/v1/tasks":
            return self.task_body(project)
        if route == "/api/v1/enrol":
            return {"token": "enrol_" + "x" * 40, "node_name": "evil", "public_key": "A" * 43 + "="}
        if route == "/api/v1/node/runs/{run_id}/result":
            payload = ResultPayload(
                run_id="r_doesnotexist",
                task_id=self.task,
                node="northfield",
                status="refused",
                finished_at=utcnow(),
            ).model_dump(mode="json")
            return {"payload": payload, "signature": sign(payload, self.node_key)}
        if route == "/api/v1/node/approvals":
            return {"project_id": project, "version": 1, "decision": "rejected", "reason": "r"}
        if route == "/api/v1/node/slide-reviews":
            facts = {"width": 300, "height": 200, "stored_levels": 1}
            return {"review_id": REVIEW[:-2] + "CD", "project_id": project, "facts": facts,
                    "bytes": 10, "sha256": "0" * 64}  # fmt: skip
        if route.endswith("/delete"):
            return {"reason": "withdrawn in the matrix"}
        if route in ("/api/v1/studies", "/api/v1/studies/{study_id}"):
            design = study_design().model_dump(mode="json")
            return {"project_id": project, "design": design} if method == "POST" else design
        if route == "/api/v1/studies/{study_id}/cases":
            return {"review_ids": [REVIEW]}
        if route == "/api/v1/studies/{study_id}/reassign":
            return {"reader": "erin"}
        if route == "/api/v1/node/linkage/{project_id}/tokens":
            return {"run": "0" * 16, "fingerprint": "0" * 16, "records": []}
        if route == "/api/v1/node/linkage/{project_id}/delivered":
            return {"run": "0" * 16}
        if route == "/api/v1/projects/{project_id}/pools" and method == "POST":
            return {"pool_node": "pool-matrix", "variables": {"northfield": ["sex"],
                    "riverside": ["hypertension"]}, "purpose": "matrix",
                    "expires_on": (date.today() + timedelta(days=10)).isoformat()}  # fmt: skip
        if route == "/api/v1/node/pools/{pool_id}/events":
            return {"kind": "approved", "digest": "0" * 64}
        if route == "/api/v1/node/studies/{study_id}/approval":
            return {"digest": study_design().digest, "custodian": "dr-matrix"}
        return None


class TinySlide:
    """A 300 x 200 slide as DeepZoom levels, grey tiles (a pack is written from tiles)."""

    level_count = 10  # 1 x 1 up to 300 x 200

    def level_tiles(self, level: int) -> tuple[int, int]:
        return (2, 1) if level == 9 else (1, 1)

    def tile(self, level: int, col: int, row: int) -> bytes:
        import io

        from PIL import Image

        out = io.BytesIO()
        Image.new("RGB", (8, 8), (200, 180, 190)).save(out, format="JPEG")
        return out.getvalue()


def review_slide(harness, project: str) -> None:
    """A slide another node (riverside) released for ``project``, in the hub's review store,
    with a prediction (written as that node's push would leave it)."""
    import zlib

    from fivesafes.hub.db import SLIDE_REVIEWS
    from fivesafes.slides.pack import PackFacts, PackPrediction, write_pack

    hub = harness.hub()
    try:
        root = hub.review_root
        root.mkdir(parents=True, exist_ok=True)
        facts = PackFacts(300, 200, "H&E", 0.5, 0.5, 20.0, 1)
        geojson = zlib.compress(b'{"type": "FeatureCollection", "features": []}')
        prediction = PackPrediction(PREDICTION, "demo", "1", utcnow(), 0, None, 16.0, geojson,
                                    b"\x89PNG")  # fmt: skip
        write_pack(TinySlide(), facts, [prediction], root / f"{REVIEW}.pack")  # type: ignore[arg-type]
        now = utcnow()
        hub.unit(lambda s: s.execute(SLIDE_REVIEWS.insert().values(
            review_id=REVIEW, node="riverside", project_id=project, state="ready",
            facts=vars(facts), bytes=1, sha256="0" * 64, received=1, offered_at=now,
            ready_at=now)))  # fmt: skip
    finally:
        hub.stop()


def study_design():
    from fivesafes.pathology.study.design import Allocating, FormRef, StudyDesign, StudyReader

    bob, erin = StudyReader(username="bob", site="north"), StudyReader(username="erin", site="s")
    readers = (bob, erin)
    return StudyDesign(
        title="Matrix study", purpose="Who may do what to a review study.", nodes=("northfield",),
        model="demo", readers=readers, form=FormRef(form_id="lung_biopsy", version=1),
        allocation=Allocating(reads_per_case=2, exclude_own_site=False),
    )  # fmt: skip


def study_form(project: str) -> dict:
    """``study_design()`` as the portal's design form posts it."""
    design = study_design()
    return {"project": project, "title": design.title, "purpose": design.purpose,
            "nodes": list(design.nodes), "model": design.model, "form": "lung_biopsy:1",
            "reader": [r.username for r in design.readers], "reads_per_case": "2",
            "reread_percent": "0", "washout_days": "14", "design": "sequential",
            **{f"site_{r.username}": r.site for r in design.readers}}  # fmt: skip


def review_study(harness, project: str) -> tuple[str, str]:
    """alice's study of ``project``: open, the review slide its one case, read by bob and erin
    (the case is added as the engine adds it: the slide above is another node's)."""
    from fivesafes.hub import studies
    from fivesafes.pathology.study import actions

    hub = harness.hub()
    design, now = study_design(), utcnow()
    try:

        def open_study(session) -> tuple[str, str]:
            store = studies.store(session)
            made = actions.create_study(store, project, design, by="alice", now=now)
            actions.propose_study(store, made.study_id, by="alice")
            actions.approve_study(store, made.study_id, "northfield", design.digest, by="c",
                                  now=now)  # fmt: skip
            actions.add_cases(store, made.study_id, [(REVIEW, "northfield")], by="alice")
            reads = actions.allocate_reads(store, made.study_id, by="alice")
            return made.study_id, next(a.read.read_id for a in reads if a.read.reader == "bob")

        return hub.unit(open_study)
    finally:
        hub.stop()


def airlock_request(harness, project: str) -> str:
    """alice's release request of ``project`` with table.csv, submitted."""
    from fivesafes.airlock.files import RequestFile
    from fivesafes.hub.airlock import airlock_actor, hub_airlock

    hub = harness.hub()
    try:
        airlock, alice = hub_airlock(hub), hub.read(lambda s: airlock_actor(s, "alice"))
        made = airlock.create(title="Matrix", project_id=project, by=alice,
                              files=(RequestFile("table.csv", b"a,n\nx,20\n"),))  # fmt: skip
        airlock.submit(made.id, by=alice)
    finally:
        hub.stop()
    return made.id


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from federation import Harness
    from fivesafes.demo.processes import Supervisor

    with Supervisor() as supervisor:
        yield World(Harness(tmp_path_factory.mktemp("matrix"), supervisor))


def test_every_route_answers_every_caller_as_the_table_says(world):
    wrong = []
    for (method, route), expected in MATRIX.items():
        for caller, status in zip(CALLERS, expected, strict=True):
            response = world.request(caller, method, route)
            if response.status_code != status:
                wrong.append(f"{method} {route} as {caller}: {response.status_code}, not {status}")
                continue
            if status >= 400 and route.startswith("/api/"):
                assert set(response.json()) == {"error"}, (method, route, caller)
            if status == 303 and World.is_page(route):  # made or changed, or sent to sign in
                to_sign_in = response.headers["location"].startswith("/sign-in")
                assert to_sign_in == (caller not in SIGNED_IN), (method, route, caller)
            if status == 404:  # an outsider cannot tell a resource they may not see from none
                absent = world.request(caller, method, route, absent=True)
                if (absent.status_code, absent.text) != (404, response.text):
                    wrong.append(f"{method} {route} as {caller}: not found != no permission")
    assert not wrong, "\n".join(wrong)


def test_a_task_is_listed_to_exactly_those_who_may_read_it(world):
    for caller in CALLERS:
        if caller in ("anon", "node"):
            continue
        may_read = world.request(caller, "GET", "/api/v1/tasks/{task_id}").status_code == 200
        listed = world.request(caller, "GET", "/api/v1/tasks").json()
        assert (world.task in {t["task_id"] for t in listed}) == may_read, caller


def test_an_expired_researcher_is_told_why_in_the_one_error_shape(world):
    response = world.request("expired", "POST", "/api/v1/tasks")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "accreditation_expired"
    assert "expired on" in error["message"] and error["details"] == []
    scoped = world.request("readonly", "POST", "/api/v1/tasks").json()["error"]
    assert scoped["code"] == "insufficient_scope"
