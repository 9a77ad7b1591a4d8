"""Shared fixtures live in modules of their own; this file only makes them visible."""

import pytest

from federation import Harness
from fivesafes.demo.processes import Supervisor
from fixtures_omop import make_db, omop_engine, pg_schema  # noqa: F401


@pytest.fixture
def harness(tmp_path):
    """A federation of real processes on loopback, stopped when the test ends."""
    with Supervisor() as supervisor:
        yield Harness(tmp_path, supervisor)


@pytest.fixture(scope="session")
def site_data(tmp_path_factory):
    """Small synthetic OMOP databases for three visibly different hospitals (made once)."""
    from fivesafes.data.synth import generate

    root = tmp_path_factory.mktemp("sites")
    paths = {}
    for name, persons, seed in (
        ("northfield", 3000, 11),
        ("riverside", 2000, 12),
        ("lakeside", 2500, 13),
    ):
        paths[name] = root / f"{name}.duckdb"
        generate(paths[name], persons, seed, name)
    return paths


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_db_url(request, tmp_path):
    """A state database URL for a hub or node: SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
    else:
        from federation import postgres_database

        with postgres_database() as url:
            yield url
