"""The node's audit explorer (``/audit``, its custodians and TRE admins): the one explorer of
``fivesafes.web.audit_explorer`` over the node's own log, checked against the node's key and
witness file, in the node's frame."""

from __future__ import annotations

from fivesafes.governance.people import Actor
from fivesafes.governance.permissions import check_see_node_audit
from fivesafes.node.db import AUDIT
from fivesafes.node.portal.pages import page
from fivesafes.node.service import NodeService
from fivesafes.protocol.signing import public_key_text
from fivesafes.web.audit_explorer.site import AuditSite


def audit_site(service: NodeService) -> AuditSite:
    def check_read(actor: Actor) -> None:
        check_see_node_audit(actor, service.name)

    return AuditSite(
        read=service.read,
        tables=AUDIT,
        public_key=lambda: public_key_text(service.key),
        witness_file=service.config.node.audit_witness_file,
        check_read=check_read,
        page=lambda request, web, template, **context: page(
            request, service, web, template, **context
        ),
    )
