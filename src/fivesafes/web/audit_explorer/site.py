"""What a service gives the audit explorer: how it reads its database, its audit tables, its
key and witness file (what the verification checks against), who may read the log there, and
its own page frame."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fivesafes.audit.chain import AuditTables
from fivesafes.governance.people import Actor
from fivesafes.storage.units import SessionUnit
from fivesafes.web.pages import Page


@dataclass(frozen=True)
class AuditSite:
    read: SessionUnit
    """A read-only transaction of the service's database (``ServiceCore.read``)."""
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
