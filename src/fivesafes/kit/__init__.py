"""The kit a domain module is built from (the airlock first; imaging, pathology, linkage and
pooling next), so each is the same shape and none copies another:

- ``kit.store``: a module's *store port* — one transaction's view of its records — with the
  base of its two implementations: :class:`~fivesafes.kit.store.MemoryStore` (records in
  memory, a snapshot per transaction) and :class:`~fivesafes.kit.store.SqlStore` (the
  service's database, a session per transaction); both write the module's audit events in the
  same transaction as its change (:class:`~fivesafes.kit.store.AuditRecord`). A ``Unit`` runs
  an action on a fresh store in one transaction; ``tests/store_suite.py`` runs one module's
  store tests against memory, SQLite and PostgreSQL.
- ``kit.actions``: :func:`~fivesafes.kit.actions.act`, one action in one transaction; a
  refusal rolls the action back and is audited in a transaction of its own.
- ``kit.site``: a module's pages as one router factory that the hub and every node mount
  (:class:`~fivesafes.kit.site.Mount`), each handing it its own site (reads, page frame).

The shared tables a module keeps in both databases are declared with
``fivesafes.storage.shared_schema``; the audit explorer both services mount is
``fivesafes.web.audit_explorer``; the one error boundary is ``fivesafes.protocol.errors``.
docs/architecture.md has the recipe for a new module.
"""
