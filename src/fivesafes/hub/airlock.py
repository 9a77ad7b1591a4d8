"""The airlock at the hub: release requests for combined results a researcher wants to
publish, reviewed by the hub's output checkers (role ``output_checker`` at the hub). The same
rules and store as at a node (``fivesafes.airlock``), in the hub's database. A task's page
sends its result there as its CSV file (``POST /tasks/{id}/airlock``: a new draft request).

Everyone acting is a hub account (active); the author of a request is a researcher who is a
member of the request's project.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.airlock.files import FileType, RequestFile
from fivesafes.airlock.portal.site import AirlockSite
from fivesafes.airlock.service import Airlock, sql_unit
from fivesafes.audit.checkpoints import service_name
from fivesafes.governance.people import Actor, via_session
from fivesafes.governance.policies import check_accredited
from fivesafes.governance.roles import HUB, Role
from fivesafes.hub.db import AIRLOCK, AUDIT, Project, ProjectMember
from fivesafes.hub.people import hub_accounts
from fivesafes.hub.projects import member_names
from fivesafes.hub.results import csv_name, csv_of
from fivesafes.hub.service import HubService
from fivesafes.hub.tasks import task_for, task_view
from fivesafes.protocol.errors import InvalidRequest, NotFoundOrNoPermission
from fivesafes.web.signin import Posting

MAX_TITLE = 300
MAX_CONTEXT = 4000


def hub_airlock(service: HubService) -> Airlock:
    return Airlock(
        scope=HUB,
        unit=sql_unit(service.unit, AIRLOCK, AUDIT),
        key=service.key,
        service=service_name("hub", service.config.hub.name),
        profile=service.config.profile,
    )


def airlock_actor(session: Session, username: str) -> Actor:
    """The hub account called ``username``, if it is active."""
    account = hub_accounts().find(session, username)
    if account is None or account.disabled:
        raise InvalidRequest(f"There is no active account {username!r} at the hub.")
    return Actor(account)


def check_author(session: Session, actor: Actor, project_id: str | None) -> None:
    """A request at the hub is an accredited researcher's, for a project they are a member of
    (an expired accreditation stops release requests as it stops tasks)."""
    if not actor.account.holds(Role.RESEARCHER, HUB):
        raise InvalidRequest("Only researchers make release requests.")
    check_accredited(actor.account.accredited_until, date.today())
    if project_id is None:
        raise InvalidRequest("A release request names its project (--project).")
    if session.get(Project, project_id) is None or actor.username not in member_names(
        session, project_id
    ):
        raise NotFoundOrNoPermission("project")


def author_projects(session: Session, actor: Actor) -> list[tuple[str, str]]:
    """The projects ``actor`` may make a release request for here: theirs, as a researcher."""
    if not actor.account.holds(Role.RESEARCHER, HUB):
        return []
    found = session.execute(
        select(Project.id, Project.title)
        .join(ProjectMember, ProjectMember.project_id == Project.id)
        .where(ProjectMember.user_id == actor.id)
        .order_by(Project.created_at)
    )
    return [(row.id, row.title) for row in found]


def portal_site(service: HubService) -> AirlockSite:
    """The airlock's pages at the hub (``fivesafes.airlock.portal``), in the hub's frame."""
    from fivesafes.hub.portal.pages import page

    return AirlockSite(
        airlock=lambda: hub_airlock(service),
        read=service.read,
        check_author=check_author,
        projects=author_projects,
        page=lambda request, web, template, **context: page(
            request, service, web, template, **context
        ),
    )


def task_router(service: HubService) -> APIRouter:
    """``POST /tasks/{task_id}/airlock``, the task page's "Send to the airlock": the task's
    result as its CSV file (the download's very bytes, ``hub.results.csv_of``) in a new draft
    release request of the task's project, which its author then describes and submits at
    ``/airlock/{id}``. Asked as the task page is (an outsider gets its "not found"), then as a
    request's author is (``check_author``); a task still running has nothing to send (409)."""
    router = APIRouter(include_in_schema=False)

    @router.post("/tasks/{task_id}/airlock")
    def send(task_id: str, web: Posting) -> RedirectResponse:
        who = via_session(web.account)
        view = service.read(lambda s: task_view(s, task_for(s, task_id, who)))
        service.read(lambda s: check_author(s, who, view.project_id))
        what = view.asked or view.analysis
        made = hub_airlock(service).create(
            title=f"Task {view.task_id}: {what}"[:MAX_TITLE],
            project_id=view.project_id,
            by=who,
            files=(
                RequestFile(
                    csv_name(view),
                    csv_of(view).encode("utf-8"),
                    FileType.OUTPUT,
                    f"The combined result of task {view.task_id} ({what}) as its page in the "
                    "hub's portal shows it, after every node's disclosure gate and the hub's."[
                        :MAX_CONTEXT
                    ],
                ),
            ),
        )
        return RedirectResponse(f"/airlock/{made.id}", status_code=303)

    return router
