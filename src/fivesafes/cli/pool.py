"""``fivesafes pool …``: run a pool (a node of the federation whose data is the pooled CDM it
merges from the extracts source nodes push to it), and what its operator reads of it."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fivesafes.cli import pool_requests
from fivesafes.cli.output import console, fail

if TYPE_CHECKING:
    from fivesafes.node.config import NodeConfig
    from fivesafes.pool.records import PoolFiles

# Each command imports the pool's and the node's modules when it runs (cli/lazy.py).

app = typer.Typer(
    help="Pools of linked persons' rows: ask, follow, run one.",
    no_args_is_help=True,
)
pool_requests.register(app)  # request, list: the researcher's (cli/pool_requests.py)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The pool's TOML configuration (a node.toml with [pool])."),
]


@app.command()
def serve(config: ConfigOption = Path("pool.toml")) -> None:
    """Run the pool: its receiver, its sweeper and its node agent, until interrupted.

    The receiver takes the extracts source nodes push; the sweeper destroys the pool at expiry
    or revocation; the agent runs analyses on the pooled data as a node's does."""
    from fivesafes.cli.node import run_agent
    from fivesafes.node.pool_host import NodePoolHost
    from fivesafes.node.setup import open_node
    from fivesafes.pool.receiver import ReceiverServer, create_receiver_app
    from fivesafes.pool.service import PoolService

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    service = open_node(config)
    try:
        service.registration()  # enrolled, or refused before listening
        host = NodePoolHost(service)
        pool = PoolService(host)
        settings = service.config.pool
        with _alone(pool.files, "Another pool service, or a sweep, is using this pool's files."):
            server = ReceiverServer(create_receiver_app(pool), settings.host, settings.port)
            server.start()
            pool.sweeper.start()
            try:
                run_agent(
                    service,
                    config,
                    f"Pool {service.name} receiving on {settings.host}:{settings.port}; "
                    f"polling {service.config.node.hub_url}.",
                    pooled=True,
                )
            finally:
                pool.sweeper.stop()
                server.stop()
                host.close()
    finally:
        service.stop()


@app.command()
def sweep(config: ConfigOption = Path("pool.toml")) -> None:
    """One pass of the pool's sweeper now, while the pool service is stopped: destroy each pool
    whose expiry has passed (by this machine's clock) or that the hub says is revoked, merge
    what waits, and send the hub the certificates it lacks.

    Expiry does not wait for the service: run this from cron while the service is down for
    maintenance. Refused while ``fivesafes pool serve`` runs (its sweeper does the same)."""
    from fivesafes.node.pool_host import NodePoolHost
    from fivesafes.node.setup import open_node
    from fivesafes.pool.service import PoolService, summary

    service = open_node(config)
    try:
        service.registration()
        host = NodePoolHost(service)
        pool = PoolService(host)
        try:
            with _alone(pool.files, "The pool service is running: its sweeper sweeps already."):
                before = {row["pool_id"]: row for row in summary(pool.files)}
                pool.sweeper.step()
                after = summary(pool.files)
        finally:
            host.close()
    finally:
        service.stop()
    for row in after:
        was = before.get(row["pool_id"], {})
        if row["state"] == "destroyed" and was.get("state") != "destroyed":
            told = "the hub has its certificate" if row["hub_has_certificate"] else (
                "the hub is not told yet (the next sweep tries again)")  # fmt: skip
            console.print(f"{row['pool_id']}: destroyed ({row['reason']}); {told}.")
        elif row["state"] != "destroyed":
            console.print(f"{row['pool_id']}: {row['state']}, held until {row['expires_at']}.")
    if not after:
        console.print("This pool holds no pool and has destroyed none.")


@contextlib.contextmanager
def _alone(files: PoolFiles, refusal: str) -> Iterator[None]:
    try:
        with files.exclusive():
            yield
    except BlockingIOError:
        fail(refusal)


def _files(config: Path) -> tuple[NodeConfig, PoolFiles]:
    """The pool's configuration and its files (its records, read without starting it)."""
    from fivesafes.node.config import NodeConfig
    from fivesafes.pool.records import PoolFiles
    from fivesafes.settings import load_config

    loaded = load_config(config, NodeConfig)
    data = getattr(loaded.data, "path", None)
    if loaded.data.engine != "duckdb" or data is None:
        fail('A pool\'s [data] must be engine = "duckdb" with a path.')
    return loaded, PoolFiles(loaded.pool.store, loaded.pool.certificates, Path(data))


@app.command()
def status(
    config: ConfigOption = Path("pool.toml"),
    as_json: Annotated[bool, typer.Option("--json", help="Answer in JSON.")] = False,
) -> None:
    """The pools this pool holds or destroyed, from its own records: counts only."""
    from fivesafes.pool.service import summary

    _, files = _files(config)
    rows = summary(files)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("This pool holds no pool and has destroyed none.")
        return
    table = Table("pool", "state", "project", "nodes sent", "persons pooled", "until / destroyed")
    for row in rows:
        if row["state"] == "destroyed":
            sent = f"{row['files_deleted']} files deleted"
            when = f"{row['destroyed_at']} ({row['reason']})"
            if not row["hub_has_certificate"]:
                when += ", hub not told yet"
        else:
            received = row["received"]
            sent = ", ".join(f"{n}: {p} persons" for n, p in received.items()) or "none yet"
            sent += f" (of {len(row['nodes'])} nodes)"
            when = str(row["expires_at"])
        pooled = "-" if row["persons_pooled"] is None else str(row["persons_pooled"])
        table.add_row(row["pool_id"], row["state"], row["pool_project_id"], sent, pooled, when)
    console.print(table)


@app.command()
def certificate(
    pool: Annotated[str, typer.Option("--pool", help="The pool's id (pl_ and 12 hex digits).")],
    config: ConfigOption = Path("pool.toml"),
) -> None:
    """Print a pool's certificate of destruction and whether its signature verifies."""
    from fivesafes.protocol.errors import BadSignature
    from fivesafes.protocol.signing import fingerprint, load_private_key, public_key_text, verify

    if not re.fullmatch(r"pl_[0-9a-f]{12}", pool):
        fail("--pool must be a pool's id: pl_ and 12 hex digits.")
    loaded, files = _files(config)
    signed = files.certificate(pool)
    if signed is None:
        fail("This pool has no certificate of destruction for that pool.")
    print(signed.model_dump_json(indent=2))
    key = public_key_text(load_private_key(loaded.node.key_file))
    try:
        verify(signed.payload, signed.signature, key)
    except BadSignature:
        fail("The certificate's signature does NOT verify under this pool's key.", code=1)
    console.print(f"The signature verifies under this pool's key ({fingerprint(key)}).")
