"""What a service gives the airlock's pages: its airlock, its reads, who may author a request
there, the projects someone may make one for, and its own page frame."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from fivesafes.airlock.service import Airlock
from fivesafes.governance.people import Actor
from fivesafes.kit.store import SessionUnit

if TYPE_CHECKING:  # the web stack is only needed where the pages are served
    from fivesafes.kit.site import Page


@dataclass(frozen=True)
class AirlockSite:
    airlock: Callable[[], Airlock]
    """The service's airlock, made when a page asks (the service's key exists once it has
    started, after the app is built)."""
    read: SessionUnit
    check_author: Callable[[Session, Actor, str | None], None]
    """Raises unless the actor may author a request for that project here."""
    projects: Callable[[Session, Actor], list[tuple[str, str]]]
    """The (id, title) of the projects the actor may author a request for here."""
    page: Page
