"""The public data use register (``GET /api/v1/register``): the wire contract.

Everything here is public by design: a project's title, lay summary, purpose, public benefit,
its organisations and nodes, its dates and how many outputs it was released. Never a person's
name or account, never a value of an output.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

RELEASED_OUTPUTS = (
    "Runs of completed tasks that succeeded with at least one value released to the researcher "
    "after the hub's own gate (a count, a table cell, a summary, a model, a survival block); "
    "runs that were refused, failed, or released only suppression markers are not counted. "
    "An iterative analysis counts once per node."
)


class RegisterNode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node: str
    organisation: str | None  # its display name, where the hub records one
    decision: Literal["approved", "rejected", "revoked", "pending"]  # its latest report
    version: int | None  # the project version that decision is about
    reported_at: datetime | None


class RegisterProject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str
    title: str
    version: int
    lay_summary: str | None  # None where the project has none
    purpose: str | None
    public_benefit: str | None
    organisations: list[str]  # the members' organisations (display names), sorted
    nodes: list[RegisterNode]  # every node that ever reported approving it
    start_date: date
    end_date: date
    first_approved_at: datetime
    released_outputs: int  # see ``RELEASED_OUTPUTS``
    last_output_at: datetime | None


class Register(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hub: str
    generated_at: datetime
    released_outputs_means: str = RELEASED_OUTPUTS
    projects: list[RegisterProject]
