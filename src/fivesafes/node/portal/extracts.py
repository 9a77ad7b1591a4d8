"""The imaging extracts' pages in the node's portal (``fivesafes.extracts.portal``), wired to
the node's extracts, its permissions, its extracts root and its page frame. Who is signed in
acts as in the airlock's pages here: a node account, or a researcher signing in with a node
account of their own name (the requester of their extracts)."""

from __future__ import annotations

from fivesafes.extracts.permissions import check_release_extract, check_withdraw_extract
from fivesafes.extracts.portal.site import ExtractsSite
from fivesafes.node.extracts import node_extracts
from fivesafes.node.portal.pages import page
from fivesafes.node.service import NodeService


def extracts_site(service: NodeService) -> ExtractsSite:
    """The extracts' pages of the node ``service`` runs (its ``[imaging] extracts`` root)."""
    node = service.name
    return ExtractsSite(
        extracts=lambda: node_extracts(service),
        root=service.config.imaging.extracts,
        check_release=lambda who, e: check_release_extract(who, node, e.requester),
        check_withdraw=lambda who, e: check_withdraw_extract(who, node, e.requester),
        page=lambda request, web, template, **context: page(
            request, service, web, template, **context
        ),
    )
