"""What a service gives the airlock's pages: its airlock, its reads, who may author a request
there, the projects someone may make one for, and its own page frame."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from fivesafes.airlock.service import Airlock, SessionUnit
from fivesafes.governance.people import Actor

if TYPE_CHECKING:  # the web stack is only needed where the pages are served
    from fastapi import Request
    from fastapi.responses import HTMLResponse

    from fivesafes.governance.accounts import WebSession


class Page(Protocol):
    """The service's page in its frame (``hub.portal.pages.page``, ``node.portal.pages.page``
    with the service bound)."""

    def __call__(
        self,
        request: Request,
        web: WebSession,
        template: str,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse: ...


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
