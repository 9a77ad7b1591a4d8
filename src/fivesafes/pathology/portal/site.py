"""What a service gives the slides' pages: who is signed in (its sign-in dependency), whether
they may look at slides there, its register of slides, its tiles and its page frame."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fivesafes.slides.catalogue import SlideCatalogue
from fivesafes.slides.tile_cache import SlideTiles

if TYPE_CHECKING:  # the web stack is only needed where the pages are served
    from fivesafes.governance.accounts import WebSession
    from fivesafes.kit.site import Page


@dataclass(frozen=True)
class SlidesSite:
    signed_in: Callable[..., Awaitable[WebSession]]
    """The FastAPI dependency giving the signed-in session (``web.signin.signed_in``): a
    redirect to the sign-in page without one."""
    check_view: Callable[[WebSession], None]
    """Raises (``Forbidden``, in words) unless the session's person may look at the slides."""
    catalogue: SlideCatalogue
    """The registered slides: their facts; where their files are, for the server alone."""
    tiles: SlideTiles
    """The slides' DeepZoom descriptors and tiles, with their caches (one per service)."""
    page: Page
