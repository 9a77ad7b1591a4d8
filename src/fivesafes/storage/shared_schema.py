"""Tables the hub and every node share, and the steps that migrate them, declared once.

A module whose tables live in both databases (the audit log, the accounts, the airlock; next
imaging, pathology, linkage, the pool) keeps two things side by side: ``tables.py``, the tables
as they are today (``define_*_tables(metadata)``, which the models use), and ``schema.py``, a
``SharedSchema`` listing every version of them as a ``SchemaStep``: a function taking Alembic's
``Operations`` that brings the tables from the version before to this one, and its inverse.

Each deployable's Alembic chain applies the steps in order, one revision calling one step::

    def upgrade() -> None:
        AIRLOCK_SCHEMA.upgrade(1)

so the hub's and the node's databases get the same tables from the same code, whatever their
revision numbers. A step is history: once released it never changes (databases were made by
it); a change to the tables is a new step, applied by a new revision in each chain.

A service that kept some of the tables itself before they were shared (the hub's ``users``)
reaches the first step by ``adopt`` instead of ``upgrade``: the step's ``adopt`` brings those
tables to the step's shape and creates the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alembic import op as running
from alembic.operations import Operations
from sqlalchemy import MetaData

Migrate = Callable[[Operations], None]


@dataclass(frozen=True)
class SchemaStep:
    """One version of a module's shared tables: how to reach it from the version before
    (``upgrade``) and go back (``downgrade``); optionally, how a service that kept some of
    these tables itself reaches it (``adopt``) and returns to them (``disown``)."""

    version: int
    summary: str
    upgrade: Migrate
    downgrade: Migrate
    adopt: Migrate | None = None
    disown: Migrate | None = None


@dataclass(frozen=True)
class SharedSchema:
    """A module's shared tables: what they are now (``define``, onto a service's metadata)
    and every step that made them, version 1 first."""

    name: str
    define: Callable[[MetaData], Any]
    steps: tuple[SchemaStep, ...]

    def __post_init__(self) -> None:
        versions = [s.version for s in self.steps]
        if versions != list(range(1, len(versions) + 1)):
            raise ValueError(f"{self.name}: steps must be versions 1, 2, ... in order")

    def step(self, version: int) -> SchemaStep:
        if not 1 <= version <= len(self.steps):
            raise LookupError(f"{self.name} has no schema version {version}")
        return self.steps[version - 1]

    def upgrade(self, version: int) -> None:
        """In the running migration: bring the tables from ``version - 1`` to ``version``."""
        self.step(version).upgrade(current_operations())

    def downgrade(self, version: int) -> None:
        """In the running migration: take the tables from ``version`` back to ``version - 1``."""
        self.step(version).downgrade(current_operations())

    def adopt(self, version: int) -> None:
        """In the running migration: bring the service's own older tables to ``version``."""
        self._own(version, "adopt")(current_operations())

    def disown(self, version: int) -> None:
        """In the running migration: undo ``adopt(version)``."""
        self._own(version, "disown")(current_operations())

    def _own(self, version: int, way: str) -> Migrate:
        migrate: Migrate | None = getattr(self.step(version), way)
        if migrate is None:
            raise LookupError(f"{self.name} version {version} cannot {way} a service's tables")
        return migrate


def current_operations() -> Operations:
    """The operations of the Alembic migration now running (what ``alembic.op`` stands for)."""
    return Operations(running.get_context())
