"""safe people and safe projects: accounts shared with nodes (roles as grants, passwords,
TOTP, lockout, web sessions), organisations, scoped tokens, project terms and versions

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 04:00:00.000000

Existing data is kept and carried over: each user's single ``role`` becomes a grant at the hub;
every existing API token keeps every action on every project of its user (as before scopes);
analyses become ``name@1``; each project's current version is recorded as its first history
entry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import fivesafes.storage.types
from fivesafes.governance.accounts.schema import ACCOUNTS_SCHEMA

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ALL_ACTIONS = ["nodes:read", "projects:read", "projects:write", "tasks:read", "tasks:submit"]
UTC_TYPE = fivesafes.storage.types.UTCDateTime(timezone=True)
BY = "migration 0003"
GRANTS = sa.table(  # the grants the hub's users' roles become (accounts schema version 1)
    "role_grants",
    sa.column("user_id", sa.Integer()),
    sa.column("role", sa.String()),
    sa.column("scope", sa.String()),
    sa.column("granted_at", UTC_TYPE),
    sa.column("granted_by", sa.String()),
)


def _add_foreign_key_column(table: str, column: str, target: str, type_: str) -> None:
    """A nullable column referencing ``target``; SQLite adds it with its REFERENCES clause
    (ALTER TABLE cannot add a constraint later, and rebuilding a referenced table would
    break the rows that point at it)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} {type_} REFERENCES {target}")
    else:
        ref_table, ref_column = target.rstrip(")").split("(")
        sa_type = sa.Integer() if type_ == "INTEGER" else sa.String(length=64)
        op.add_column(table, sa.Column(column, sa_type, nullable=True))
        op.create_foreign_key(f"fk_{table}_{column}", table, ref_table, [column], [ref_column])


def upgrade() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC).replace(microsecond=0)
    op.create_table(
        "organisations",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_TYPE, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )

    # ---- people: the shared account tables ------------------------------------------------
    ACCOUNTS_SCHEMA.adopt(1)  # users gains the shared columns; role_grants, web_sessions
    _grants_from_roles(bind, now)
    op.add_column("nodes", sa.Column("organisation", sa.String(length=64), nullable=True))

    # ---- scoped tokens ---------------------------------------------------------------------
    _add_foreign_key_column("api_tokens", "project_id", "projects(id)", "VARCHAR(64)")
    op.add_column("api_tokens", sa.Column("actions", sa.JSON(), nullable=True))
    tokens = sa.table("api_tokens", sa.column("actions", sa.JSON()))
    bind.execute(sa.update(tokens).values(actions=ALL_ACTIONS))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("actions", existing_type=sa.JSON(), nullable=False)

    # ---- projects --------------------------------------------------------------------------
    for column in ("lay_summary", "purpose", "public_benefit"):
        op.add_column("projects", sa.Column(column, sa.Text(), server_default="", nullable=False))
    _add_foreign_key_column("projects", "pi_id", "users(id)", "INTEGER")
    op.add_column(
        "projects",
        sa.Column("data_domains", sa.JSON(), server_default='["omop"]', nullable=False),
    )
    op.add_column(
        "projects",
        sa.Column("sensitivity", sa.String(length=32), server_default="standard", nullable=False),
    )
    op.add_column(
        "projects",
        sa.Column("linkage", sa.String(length=32), server_default="none", nullable=False),
    )
    op.add_column("project_nodes", sa.Column("reason", sa.String(length=1000), nullable=True))
    versions = op.create_table(
        "project_versions",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("changed", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_TYPE, nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("project_id", "version"),
    )
    _carry_over_projects(bind, versions, now)


def _grants_from_roles(bind: sa.Connection, now: datetime) -> None:
    """Each user's one role becomes a grant at the hub, and the ``role`` column goes."""
    users = sa.table("users", sa.column("id", sa.Integer()), sa.column("role", sa.String()))
    rows = bind.execute(sa.select(users.c.id, users.c.role)).all()
    if rows:
        op.bulk_insert(
            GRANTS,
            [
                {"user_id": uid, "role": role, "scope": "hub", "granted_at": now, "granted_by": BY}
                for uid, role in rows
            ],
        )
    op.drop_column("users", "role")


def _roles_from_grants(bind: sa.Connection) -> None:
    """Back to one role per user: ``hub_admin`` for those granted it at the hub."""
    op.add_column(
        "users",
        sa.Column("role", sa.String(length=32), server_default="researcher", nullable=False),
    )
    bind.execute(
        sa.text(
            "UPDATE users SET role = 'hub_admin' WHERE id IN (SELECT user_id FROM role_grants "
            "WHERE role = 'hub_admin' AND scope = 'hub')"
        )
    )


def _carry_over_projects(bind: sa.Connection, versions: sa.Table, now: datetime) -> None:
    """Analyses as ``name@1``; each project's current version as its first history entry."""
    projects = sa.table(
        "projects",
        sa.column("id", sa.String()),
        sa.column("title", sa.String()),
        sa.column("version", sa.Integer()),
        sa.column("start_date", sa.Date()),
        sa.column("end_date", sa.Date()),
        sa.column("analyses", sa.JSON()),
    )
    history = []
    for row in bind.execute(sa.select(projects)).all():
        analyses = [a if "@" in a else f"{a}@1" for a in _listed(row.analyses)]
        bind.execute(sa.update(projects).where(projects.c.id == row.id).values(analyses=analyses))
        people = bind.execute(
            sa.text(
                "SELECT u.username, u.display_name FROM users u JOIN project_members m "
                "ON m.user_id = u.id WHERE m.project_id = :p ORDER BY u.username"
            ),
            {"p": row.id},
        ).all()
        members = [username for username, _ in people]
        nodes = [
            r[0]
            for r in bind.execute(
                sa.text(
                    "SELECT n.name FROM nodes n JOIN project_nodes l ON l.node_id = n.id "
                    "WHERE l.project_id = :p ORDER BY n.name"
                ),
                {"p": row.id},
            )
        ]
        record = {
            "project_id": row.id,
            "title": row.title,
            "version": row.version,
            "start_date": _iso(row.start_date),
            "end_date": _iso(row.end_date),
            "members": members,
            "nodes": nodes,
            "analyses": sorted(analyses),
            "lay_summary": "",
            "purpose": "",
            "public_benefit": "",
            "pi": None,
            "data_domains": ["omop"],
            "sensitivity": "standard",
            "linkage": "none",
            "people": [
                {
                    "username": username,
                    "display_name": display_name,
                    "organisation": None,
                    "organisation_kind": None,
                    "accredited_until": None,
                }
                for username, display_name in people
            ],
        }
        history.append(
            {
                "project_id": row.id,
                "version": row.version,
                "record": record,
                "changed": [],
                "created_at": now,
                "created_by": BY,
            }
        )
    if history:
        op.bulk_insert(versions, history)


def _listed(value: object) -> list[str]:
    if isinstance(value, str):  # a JSON column read without its type on some drivers
        value = json.loads(value)
    return [str(v) for v in value] if isinstance(value, list) else []


def _iso(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_table("project_versions")
    op.drop_column("project_nodes", "reason")
    projects = sa.table("projects", sa.column("id", sa.String()), sa.column("analyses", sa.JSON()))
    for row in bind.execute(sa.select(projects)).all():
        names = [a.split("@", 1)[0] for a in _listed(row.analyses)]
        bind.execute(sa.update(projects).where(projects.c.id == row.id).values(analyses=names))
    with op.batch_alter_table("projects", schema=None) as batch_op:
        for column in ("linkage", "sensitivity", "data_domains", "pi_id"):
            batch_op.drop_column(column)
        for column in ("public_benefit", "purpose", "lay_summary"):
            batch_op.drop_column(column)
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("actions")
        batch_op.drop_column("project_id")
    op.drop_column("nodes", "organisation")
    _roles_from_grants(bind)
    ACCOUNTS_SCHEMA.disown(1)
    op.drop_table("organisations")
