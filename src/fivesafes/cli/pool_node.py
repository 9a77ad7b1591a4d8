"""``fivesafes node pool …``: a source node's part in a pool (``fivesafes.node.pool``,
docs/pool.md): its custodian reads the terms, approves them, sends the node's extract, and may
revoke. The extract is made here, by the operator's command, because its dates are shifted by a
key derived from the linkage secret, which only the operator's commands read."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fivesafes.cli.output import console, fail

if TYPE_CHECKING:
    from fivesafes.node.service import NodeService
    from fivesafes.protocol.pool import PoolTerms

app = typer.Typer(
    help="Pools this node sends to: the terms, the custodian's approval, the extract sent, "
    "revocation (docs/pool.md).",
    no_args_is_help=True,
)
ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The node's TOML configuration.")
]
ByOption = Annotated[str, typer.Option("--by", help="Who is acting (audited).")]
PoolOption = Annotated[str, typer.Option("--pool", help="The pool's id (pl_...).")]


def _open(config: Path) -> NodeService:
    from fivesafes.node.setup import open_node

    return open_node(config)


@app.command("show")
def show(pool: PoolOption, config: ConfigOption = Path("node.toml")) -> None:
    """The pool's terms as the hub signed them, for the custodian to read before approving:
    what this node would send, to which pool, why, until when, and the digest approved."""
    from fivesafes.node import pool as node_pool
    from fivesafes.protocol.errors import FivesafesError

    service = _open(config)
    try:
        found = node_pool.terms(service, pool)
    except FivesafesError as exc:
        fail(exc.message)
    t = found.terms
    console.print(f"Pool {t.pool_id} of project {t.project_id}: {found.state.value}", markup=False)
    console.print(f"Purpose: {t.purpose}", markup=False)
    console.print(f"Asked by {t.requested_by}; the pool is {t.pool_node} at {t.pool_url}; "
                  f"its data is destroyed on {t.expires_at:%Y-%m-%d}.", markup=False)  # fmt: skip
    for node, variables in t.variables.items():
        mark = " (this node)" if node == service.name else ""
        console.print(f"  {node}{mark} sends: {', '.join(variables)}", markup=False)
    console.print("Rows are keyed by link id (no identifier, no person id), every date shifted "
                  "per person; only the columns the variables need.")  # fmt: skip
    console.print(f"Digest to approve: {found.digest}", markup=False)


@app.command("approve")
def approve(
    pool: PoolOption,
    config: ConfigOption = Path("node.toml"),
    by: ByOption = "custodian",
) -> None:
    """Approve the pool's terms (their digest, as 'show' prints them): this node may then send
    its extract under them, and only under them."""
    from fivesafes.node import pool as node_pool
    from fivesafes.protocol.errors import FivesafesError

    service = _open(config)
    try:
        found = node_pool.approve(service, pool, by=by)
    except FivesafesError as exc:
        fail(exc.message)
    console.print(f"Approved the terms of pool {pool} (digest {found.digest[:16]}...).",
                  markup=False)  # fmt: skip


@app.command("send")
def send(
    pool: PoolOption,
    config: ConfigOption = Path("node.toml"),
    by: ByOption = "custodian",
) -> None:
    """Send this node's extract to the pool under the approved terms: its linked persons' rows
    for the variables the terms name for this node, keyed by link id, dates shifted."""
    from fivesafes.linkage.tokens import SecretError, read_secret
    from fivesafes.node import pool as node_pool
    from fivesafes.protocol.errors import FivesafesError

    service = _open(config)
    try:
        secret = read_secret(service.config.linkage.secret_file)
        with console.status("Making and sending the extract"):
            receipt = node_pool.send(
                service, pool, lambda terms: _extract(service, terms, secret), by=by
            )
    except (FivesafesError, SecretError) as exc:
        fail(exc.message if isinstance(exc, FivesafesError) else str(exc))
    console.print(f"Sent the rows of {receipt.get('persons')} persons to pool {pool}; the pool's "
                  "signed receipt names what it holds.", markup=False)  # fmt: skip


def _extract(service: NodeService, terms: PoolTerms, secret: bytes) -> tuple[bytes, list[int]]:
    """The node's extract for ``terms``: bytes, and the persons whose rows they hold."""
    from fivesafes.data.engines import open_omop
    from fivesafes.linkage.tokens import date_shift, project_key
    from fivesafes.node import linkage as node_linkage
    from fivesafes.pool.extract import extract

    key = project_key(secret, terms.project_id)
    linked = node_linkage.linked(service, terms.project_id)
    db = open_omop(service.config.data)
    try:
        variables = terms.variables[service.name]
        made = extract(db, linked, variables, lambda link: date_shift(key, link))
    finally:
        db.close()
    sent = set(made.link_ids)
    return made.to_bytes(), sorted(p for p, link in linked.items() if link in sent)


@app.command("revoke")
def revoke(
    pool: PoolOption,
    config: ConfigOption = Path("node.toml"),
    by: ByOption = "custodian",
) -> None:
    """Withdraw this node from the pool: the hub and the pool are told, and the pool destroys
    every pooled row and signs a certificate of destruction."""
    from fivesafes.node import pool as node_pool
    from fivesafes.protocol.errors import FivesafesError

    service = _open(config)
    try:
        node_pool.revoke(service, pool, by=by)
    except FivesafesError as exc:
        fail(exc.message)
    console.print(f"Revoked: pool {pool} destroys its data.", markup=False)
