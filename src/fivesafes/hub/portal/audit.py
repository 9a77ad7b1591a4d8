"""The hub's audit explorer (``/audit``, hub admins): the one explorer of
``fivesafes.web.audit_explorer`` over the hub's own log, checked against the hub's key and
witness file, in the hub's frame."""

from __future__ import annotations

from fivesafes.governance.permissions import check_read_hub_audit
from fivesafes.hub.db import AUDIT
from fivesafes.hub.portal.pages import page
from fivesafes.hub.service import HubService
from fivesafes.protocol.signing import public_key_text
from fivesafes.web.audit_explorer.site import AuditSite


def audit_site(service: HubService) -> AuditSite:
    return AuditSite(
        read=service.read,
        tables=AUDIT,
        public_key=lambda: public_key_text(service.key),
        witness_file=service.config.hub.audit_witness_file,
        check_read=check_read_hub_audit,
        page=lambda request, web, template, **context: page(
            request, service, web, template, **context
        ),
    )
