"""The hub's state: nodes, people, projects, tasks and runs (SQLAlchemy 2, Alembic-migrated).

People's accounts, roles and web sessions are the tables every service shares
(``fivesafes.governance.accounts``); the hub maps its ``User`` onto them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fivesafes.airlock.tables import define_airlock_tables
from fivesafes.audit.chain import define_audit_tables
from fivesafes.governance.accounts.tables import define_account_tables
from fivesafes.linkage.tables import define_hub_linkage_tables
from fivesafes.pathology.study.tables import define_study_tables
from fivesafes.pathology.tables import define_review_tables
from fivesafes.pool.tables import define_hub_pool_tables
from fivesafes.storage.types import UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[str]: JSON}


AUDIT = define_audit_tables(Base.metadata)
ACCOUNTS = define_account_tables(Base.metadata)
AIRLOCK = define_airlock_tables(Base.metadata)  # release requests (fivesafes.airlock)
SLIDE_REVIEWS = define_review_tables(Base.metadata)  # review store (fivesafes.pathology)
STUDIES = define_study_tables(Base.metadata)  # review studies (fivesafes.pathology.study)
LINKAGE = define_hub_linkage_tables(Base.metadata)  # the linkage unit (fivesafes.linkage)
POOLS = define_hub_pool_tables(Base.metadata).pools  # pools' terms and state (fivesafes.pool)


class Organisation(Base):
    """A body people and nodes belong to; its kind is the "user type" of a risk tier."""

    __tablename__ = "organisations"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # governance.people.OrganisationKind
    created_at: Mapped[datetime]


class Node(Base):
    __tablename__ = "nodes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    enrolled_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]
    organisation: Mapped[str | None] = mapped_column(String(64))


class EnrolmentToken(Base):
    __tablename__ = "enrolment_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    node_name: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class User(Base):
    """A person's account (the shared ``users`` table); roles are in ``role_grants``."""

    __table__ = ACCOUNTS.users
    id: Mapped[int]
    username: Mapped[str]
    display_name: Mapped[str]
    organisation: Mapped[str | None]
    accredited_until: Mapped[date | None]
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # the token's scope: its actions (governance.tokens.Action) on one project or all (None)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"))
    actions: Mapped[list[str]]


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    analyses: Mapped[list[str]]  # analysis references, name@version
    created_at: Mapped[datetime]
    lay_summary: Mapped[str] = mapped_column(Text, server_default="")
    purpose: Mapped[str] = mapped_column(Text, server_default="")
    public_benefit: Mapped[str] = mapped_column(Text, server_default="")
    pi_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    data_domains: Mapped[list[str]] = mapped_column(JSON, server_default='["omop"]')
    sensitivity: Mapped[str] = mapped_column(String(32), server_default="standard")
    linkage: Mapped[str] = mapped_column(String(32), server_default="none")


class ProjectVersion(Base):
    """Each version of a project as the hub signed it for custodians, and what changed."""

    __tablename__ = "project_versions"
    __table_args__ = (PrimaryKeyConstraint("project_id", "version"),)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    version: Mapped[int] = mapped_column(Integer)
    record: Mapped[dict[str, Any]]  # the ProjectRecord of this version
    changed: Mapped[list[str]]  # the fields that changed from the version before
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(128))


class ProjectMember(Base):
    __tablename__ = "project_members"
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)


class ProjectNode(Base):
    __tablename__ = "project_nodes"
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    # the node's latest report of its custodian's decision: information only
    approval: Mapped[str] = mapped_column(String(16), default="pending")
    approved_version: Mapped[int | None]  # the version approved, rejected or revoked
    reported_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(1000))  # a rejection's reason


class Task(Base):
    __tablename__ = "tasks"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    analysis: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    signature: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    deadline: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))  # running | complete
    combined: Mapped[dict[str, Any] | None]
    completed_at: Mapped[datetime | None]
    progress: Mapped[dict[str, Any] | None]  # an iterative analysis's state between rounds


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("task_id", "node_id"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    lease_expires_at: Mapped[datetime | None]
    leases: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(String(500))
    output: Mapped[dict[str, Any] | None]
    result_signature: Mapped[str | None] = mapped_column(String(128))
    finished_at: Mapped[datetime | None]
    # iterative analyses: the run is queued again for each round, with the hub's instruction
    round: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    instruction: Mapped[dict[str, Any] | None]
    instruction_signature: Mapped[str | None] = mapped_column(String(128))
