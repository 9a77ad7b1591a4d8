"""The hub's state: nodes, people, projects, tasks and runs (SQLAlchemy 2, Alembic-migrated)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fivesafes.audit.chain import define_audit_tables
from fivesafes.storage.types import UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[str]: JSON}


AUDIT = define_audit_tables(Base.metadata)


class Node(Base):
    __tablename__ = "nodes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    enrolled_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]


class EnrolmentToken(Base):
    __tablename__ = "enrolment_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    node_name: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    analyses: Mapped[list[str]]
    created_at: Mapped[datetime]


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
    approved_version: Mapped[int | None]
    reported_at: Mapped[datetime | None]


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
