"""The audit explorer, one page (``/audit``) for the hub and every node, the same code as the
chain it shows: above, the verification ``fivesafes audit verify`` makes (the hash chain, every
signed checkpoint, the witness file); below, the events, newest first, filtered and paged, each
event the verifier found broken marked where it is shown.

A service hands :func:`~fivesafes.web.audit_explorer.routes.audit_router` an
:class:`~fivesafes.web.audit_explorer.site.AuditSite` (its database and audit tables, its key
and witness file, who may read its log, its page frame) and mounts the router; each builds its
own (``hub.portal.audit.audit_site``, ``node.portal.audit.audit_site``). ``log`` reads the
events; the template is ``audit/explorer.html``.
"""
