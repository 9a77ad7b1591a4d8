"""The airlock at the hub: release requests for combined results a researcher wants to
publish, reviewed by the hub's output checkers (role ``output_checker`` at the hub). The same
rules and store as at a node (``fivesafes.airlock``), in the hub's database.

Everyone acting is a hub account (active); the author of a request is a researcher who is a
member of the request's project.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from fivesafes.airlock.service import Airlock, SqlUnit
from fivesafes.audit.checkpoints import service_name
from fivesafes.governance.people import Actor
from fivesafes.governance.roles import HUB, Role
from fivesafes.hub.db import AIRLOCK, AUDIT, Project
from fivesafes.hub.people import hub_accounts
from fivesafes.hub.projects import member_names
from fivesafes.hub.service import HubService
from fivesafes.protocol.errors import InvalidRequest, NotFoundOrNoPermission


def hub_airlock(service: HubService) -> Airlock:
    return Airlock(
        scope=HUB,
        unit=SqlUnit(service.unit, AIRLOCK, AUDIT),
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
    """A request at the hub is a researcher's, for a project they are a member of."""
    if not actor.account.holds(Role.RESEARCHER, HUB):
        raise InvalidRequest("Only researchers make release requests.")
    if project_id is None:
        raise InvalidRequest("A release request names its project (--project).")
    if session.get(Project, project_id) is None or actor.username not in member_names(
        session, project_id
    ):
        raise NotFoundOrNoPermission("project")
