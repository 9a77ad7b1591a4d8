"""The slides' pages in the node's portal (``fivesafes.pathology.portal``), wired to the node's
register of slides and its AI predictions (its DuckDB data file, read-only), who may look at
them, the portal's sign-in and its page frame.

Who may look at the slides here, for now: the node's custodians, TRE admins and output
checkers (``check_view_slides``, with its ``can_*`` twin). Review studies, with readers at other
hospitals seeing the slides a custodian released to them, come with issue 17.
"""

from __future__ import annotations

from fivesafes.data.source import DuckDBSource
from fivesafes.governance.accounts import WebSession
from fivesafes.governance.errors import NotPermitted
from fivesafes.governance.people import Actor
from fivesafes.governance.roles import Role, node_scope
from fivesafes.node.portal.pages import actor, page
from fivesafes.node.service import NodeService
from fivesafes.pathology.portal.site import SlidesSite
from fivesafes.protocol.errors import Forbidden, NotFoundOrNoPermission
from fivesafes.slides.catalogue import DuckDBSlides, NoSlides, SlideCatalogue
from fivesafes.slides.overlays import DuckDBOverlays, NoOverlays, OverlaySource
from fivesafes.slides.tile_cache import SlideTiles
from fivesafes.web.signin import signed_in

VIEWERS = (Role.CUSTODIAN, Role.TRE_ADMIN, Role.OUTPUT_CHECKER)


def check_view_slides(who: Actor, node: str) -> None:
    scope = node_scope(node)
    if not any(who.account.holds(role, scope) for role in VIEWERS):
        raise NotPermitted(
            f"Only a custodian, TRE admin or output checker of {node} looks at its slides here."
        )


def can_view_slides(who: Actor, node: str) -> bool:
    try:
        check_view_slides(who, node)
    except (NotFoundOrNoPermission, Forbidden):
        return False
    return True


def node_catalogue(service: NodeService) -> SlideCatalogue:
    """The node's register of slides: in its DuckDB data file, or none."""
    data = service.config.data
    if isinstance(data, DuckDBSource):
        return DuckDBSlides(data.path, data.schema_name)
    return NoSlides()


def node_overlays(service: NodeService) -> OverlaySource:
    """The AI predictions imported at the node: in its DuckDB data file, or none."""
    data = service.config.data
    if isinstance(data, DuckDBSource):
        return DuckDBOverlays(data.path, data.schema_name)
    return NoOverlays()


def slides_site(service: NodeService) -> SlidesSite:
    """The slides' pages of the node ``service`` runs."""
    node = service.name
    catalogue = node_catalogue(service)

    def check_view(web: WebSession) -> None:
        check_view_slides(actor(web), node)

    return SlidesSite(
        signed_in=signed_in,
        check_view=check_view,
        catalogue=catalogue,
        tiles=SlideTiles(catalogue.file_of),
        overlays=node_overlays(service),
        page=lambda request, web, template, **context: page(
            request, service, web, template, **context
        ),
    )
