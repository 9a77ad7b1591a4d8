"""The node's own state: its registration, its custodian's approvals, its runs, its audit log.

This database, not the hub's, decides what runs here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fivesafes.airlock.tables import define_airlock_tables
from fivesafes.audit.chain import define_audit_tables
from fivesafes.extracts.tables import define_extracts_tables
from fivesafes.governance.accounts.tables import define_account_tables
from fivesafes.linkage.tables import define_node_linkage_tables
from fivesafes.pathology.tables import define_release_tables
from fivesafes.pool.tables import define_node_pool_tables
from fivesafes.storage.types import UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[str]: JSON}


AUDIT = define_audit_tables(Base.metadata)
ACCOUNTS = define_account_tables(Base.metadata)  # the node's own custodians and admins
AIRLOCK = define_airlock_tables(Base.metadata)  # release requests (fivesafes.airlock)
EXTRACTS = define_extracts_tables(Base.metadata)  # extraction approvals (fivesafes.extracts)
SLIDE_RELEASES = define_release_tables(Base.metadata)  # slides released (fivesafes.pathology)
LINKAGE = define_node_linkage_tables(Base.metadata)  # references and link ids (fivesafes.linkage)
POOLS = define_node_pool_tables(Base.metadata)  # pools decided on, persons sent (fivesafes.pool)


class Registration(Base):
    """The hub this node trusts, pinned at enrolment."""

    __tablename__ = "registration"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    node_name: Mapped[str] = mapped_column(String(64))
    hub_url: Mapped[str] = mapped_column(String(500))
    hub_name: Mapped[str] = mapped_column(String(64))
    hub_public_key: Mapped[str] = mapped_column(String(64))
    enrolled_at: Mapped[datetime]


class Approval(Base):
    """A custodian's decision on one version of a project, with the snapshot they decided on.

    ``state`` is ``approved``, ``rejected`` (with ``reason``) or ``revoked``; ``analyses`` is
    what this node allows (references ``name@version``, a subset of what the project asks
    for); with ``outputs_to_airlock`` every output of the project is held for an output
    checker."""

    __tablename__ = "approvals"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    members: Mapped[list[str]]
    analyses: Mapped[list[str]]
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16))  # approved | rejected | revoked
    decided_at: Mapped[datetime]
    decided_by: Mapped[str] = mapped_column(String(128))
    record_signature: Mapped[str] = mapped_column(String(128))
    outputs_to_airlock: Mapped[bool] = mapped_column(Boolean, server_default="0")
    reason: Mapped[str | None] = mapped_column(String(1000))  # why it was rejected
    risk_tier: Mapped[int | None] = mapped_column(Integer)  # as this node computed it
    # of the approved record, for the patient data account (approvals before 0005: none)
    purpose: Mapped[str | None] = mapped_column(Text)
    lay_summary: Mapped[str | None] = mapped_column(Text)
    # the data domains of the approved record (approvals before 0006: none, read as OMOP only)
    data_domains: Mapped[list[str] | None] = mapped_column(JSON)


class NodeRun(Base):
    """A run as this node saw it. A row with a result and no ``submitted_at`` is the outbox."""

    __tablename__ = "runs"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str | None] = mapped_column(String(64))
    requester: Mapped[str | None] = mapped_column(String(64))
    analysis: Mapped[str | None] = mapped_column(String(32))
    requester_accredited_until: Mapped[date | None] = mapped_column(Date)
    received_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))  # succeeded | refused | failed
    reason: Mapped[str | None] = mapped_column(String(64))
    result_payload: Mapped[dict[str, Any]]
    result_signature: Mapped[str] = mapped_column(String(128))
    submitted_at: Mapped[datetime | None]
    # an output held for review, kept here for the airlock (fivesafes.node.airlock); never sent
    held_output: Mapped[dict[str, Any] | None]
