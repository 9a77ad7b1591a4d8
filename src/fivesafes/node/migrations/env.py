"""Alembic environment for the node's state database (run via fivesafes.storage.migrate)."""

from __future__ import annotations

from alembic import context

import fivesafes.node.person_set_db  # noqa: F401 - registers its table on Base.metadata
from fivesafes.node.db import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called programmatically
    raise RuntimeError("run migrations through fivesafes.storage.migrate.upgrade")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
