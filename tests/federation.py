"""A real federation for integration tests (hub and nodes as OS processes on loopback), and
fresh PostgreSQL databases. Nothing of ours is mocked."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from fivesafes.demo.local import LocalFederation
from fivesafes.demo.processes import fivesafes_command

PG_ADMIN_URL = os.environ.get(
    "FIVESAFES_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards."""
    name = f"fivesafes_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Harness(LocalFederation):
    """The package's local federation, with the fast sweeps and polls tests want."""

    def start_hub(
        self,
        database_url: str = "sqlite:///hub.db",
        tls=None,
        profile: str = "default",
        **settings: Any,
    ) -> None:
        defaults = {"sweep_interval_seconds": 0.2, "node_offline_after_seconds": 5}
        super().start_hub(
            database_url, tls, name="test-hub", profile=profile, **{**defaults, **settings}
        )

    def add_node(
        self,
        name: str,
        data: dict[str, Any],
        *,
        start: bool = True,
        node_settings: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        settings = {"poll_wait_seconds": 5, "retry_max_seconds": 1.0, **(node_settings or {})}
        super().add_node(name, data, start=start, node_settings=settings, **options)

    def every_site(self, site_data: dict[str, Any], **node_options: Any) -> Any:
        """A hub and a node per site, alice's project approved everywhere: her client."""
        self.start_hub()
        for name, path in site_data.items():
            self.add_node(name, {"engine": "duckdb", "path": str(path)}, **node_options)
        token = self.researcher()
        return self.federation(token, self.project(["alice"], list(site_data)))


def fs(
    *args: str, check: bool = True, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``fivesafes`` command (``env`` added to the environment); raise with its
    output if it fails and ``check``."""
    result = subprocess.run(
        fivesafes_command(*args),
        capture_output=True,
        text=True,
        timeout=120,
        input=input,
        env={**os.environ, **env} if env else None,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"fivesafes {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result
