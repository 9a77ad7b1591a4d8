"""Run a service's Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine


def upgrade(engine: Engine, script_location: str) -> None:
    """Bring the database at ``engine`` to the newest revision of ``script_location``
    (a ``package:folder`` path such as ``fivesafes.hub:migrations``)."""
    config = Config()
    config.set_main_option("script_location", script_location)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
