"""What a service gives the slides' pages: who is signed in (its sign-in dependency), whether
they may look at slides there, its register of slides, its tiles, the AI predictions drawn over
them, its page frame, where the pages are mounted, and what to do when a tile is served."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fivesafes.slides.catalogue import SlideCatalogue
from fivesafes.slides.overlays import NoOverlays, OverlaySource
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
    overlays: OverlaySource = field(default_factory=NoOverlays)
    """The slides' AI predictions (annotations and heatmaps), drawn over the viewer."""
    prefix: str = "/slides"
    """Where the pages are mounted: every URL the pages, templates and scripts use starts here
    (the node's ``/slides``; the hub mounts the same router elsewhere)."""
    on_tile: Callable[[WebSession, str, int, int, int], None] | None = None
    """Called with (session, slide id, level, column, row) once a tile has been served (200, or
    304 to a browser that had it): the hub keeps a reader's viewport trail through it."""
    released: bool = False
    """The slides are copies released for review (the hub's review store), not the slides
    registered here: the pages say so, and show no link to a person or registration."""
    visible: Callable[[WebSession], SlideCatalogue] | None = None
    """The slides the session's person may see, where that depends on who they are (the hub's
    review store: the slides released to their projects); None: every slide in ``catalogue``
    for whoever ``check_view`` lets in (a node). With it, every route asks it first, tiles
    included."""

    def catalogue_for(self, web: WebSession) -> SlideCatalogue:
        return self.visible(web) if self.visible is not None else self.catalogue
