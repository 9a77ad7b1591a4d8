"""The airlock's pages in the node's portal (``fivesafes.airlock.portal``), wired to the node's
airlock, accounts and page frame."""

from __future__ import annotations

from fivesafes.airlock.portal.site import AirlockSite
from fivesafes.node.airlock import author_projects, check_author, node_airlock
from fivesafes.node.portal.pages import page
from fivesafes.node.service import NodeService


def portal_site(service: NodeService) -> AirlockSite:
    """The airlock's pages in the node's portal (``fivesafes.airlock.portal``): a researcher
    signs in with a node account of their own name (a member of a project approved here)."""
    return AirlockSite(
        airlock=lambda: node_airlock(service),
        read=service.read,
        check_author=check_author,
        projects=author_projects,
        page=lambda request, web, template, **context: page(
            request, service, web, template, **context
        ),
    )
