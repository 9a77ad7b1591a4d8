"""What a service gives the audit explorer: how it reads its database, its audit tables, its
key and witness file (what the verification checks against), who may read the log there, and
its own page frame."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from fivesafes.audit.chain import AuditTables
from fivesafes.governance.accounts import WebSession
from fivesafes.governance.people import Actor

T = TypeVar("T")


class SessionRead(Protocol):
    """A read-only transaction of the service's database (``ServiceCore.read``)."""

    def __call__(self, work: Callable[[Session], T]) -> T: ...


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
class AuditSite:
    read: SessionRead
    tables: AuditTables
    """The service's audit log (``hub.db.AUDIT``, ``node.db.AUDIT``)."""
    public_key: Callable[[], str]
    """The service's public key (base64), asked when a page is shown: the key is loaded when
    the service starts, after the app is built."""
    witness_file: Path | None
    """Where the service's checkpoints are witnessed, if it keeps a witness file."""
    check_read: Callable[[Actor], None]
    """Raises unless the actor may read this service's audit log."""
    page: Page
