"""What a service gives the extracts' pages: its extracts (reads and actions), who may act on
one, its page frame, and the root folder its extracts are kept under."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fivesafes.extracts.service import Extracts
from fivesafes.extracts.store import Extract
from fivesafes.governance.people import Actor

if TYPE_CHECKING:  # the web stack is only needed where the pages are served
    from fivesafes.kit.site import Page


@dataclass(frozen=True)
class ExtractsSite:
    extracts: Callable[[], Extracts]
    """The service's extracts, made when a page asks (the service has started by then)."""
    root: Path
    """The extracts' root folder (``[imaging] extracts``): ``fivesafes.extracts.folders``."""
    check_release: Callable[[Actor, Extract], None]
    """Raises unless the actor may release the extract (``permissions.check_release_extract``);
    who may also opens its sample."""
    check_withdraw: Callable[[Actor, Extract], None]
    """Raises unless the actor may withdraw the extract (``permissions.check_withdraw_extract``)."""
    page: Page
