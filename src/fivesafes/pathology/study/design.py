"""A review study's design, its versions, and the study's own states.

A study team writes a :class:`StudyDesign`: what the study is for, the hospitals (nodes) whose
cases it reads, the clinical fields a case may show beside its slide, the AI model whose
predictions are reviewed, the readers, how cases are allocated, how the AI is shown, and the
form. Every change makes a new *version* (its ``digest``, the SHA-256 of the canonical JSON),
and each participating node's custodian approves one version: a study reads cases only while
every node has approved the version in force.

```
           propose                all nodes approve this version        lock         close
  draft ───────────▶ awaiting ────────────────────────────────▶ open ──────▶ locked ──────▶ closed
                        ▲                                         │
                        └────────── edit (a new version) ─────────┘
```

An edit of an open study is not refused: it takes the study back to ``awaiting`` until every
node approves the new version, and readers' actions are refused meanwhile in words. A locked
or closed study cannot change. Reads already locked or submitted are kept across an edit.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fivesafes.pathology.study.forms import Form
from fivesafes.protocol.errors import Conflict, InvalidRequest

CLINICAL_FIELDS = ("age_band", "sex", "biopsy_site", "diagnosis_code")
"""What a case may show beside its slide, each passing the node's rules for one case's display
or withheld: the study asks for a subset, its custodians approve it."""

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]


class StudyState(StrEnum):
    DRAFT = "draft"
    AWAITING = "awaiting"
    OPEN = "open"
    LOCKED = "locked"
    CLOSED = "closed"


class StudyConflict(Conflict):
    """The study's state does not allow the action (a 409), said in words."""


class StudyReader(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    username: Name
    site: Name


class Allocating(BaseModel):
    """How cases reach readers (``allocation``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    reads_per_case: Annotated[int, Field(ge=1, le=10)] = 2
    exclude_own_site: bool = True
    reread_fraction: Annotated[float, Field(ge=0.0, le=0.5)] = 0.0
    washout_days: Annotated[int, Field(ge=0, le=365)] = 14


class FormRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    form_id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    version: Annotated[int, Field(ge=1, le=10_000)]


class AiAnswer(BaseModel):
    """How the AI's answer to one yes/no item of the form is read from its prediction: ``yes``
    when it drew at least one region of class ``when_class``, ``no`` when it drew none (no
    prediction: no answer). What the AI's quality is measured on, against the panel."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    item: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    yes: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,39}$")]
    no: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,39}$")]
    when_class: Annotated[str, Field(min_length=1, max_length=64)]


class StudyDesign(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    title: Annotated[str, Field(min_length=3, max_length=200)]
    purpose: Annotated[str, Field(min_length=10, max_length=4000)]
    nodes: Annotated[tuple[Name, ...], Field(min_length=1, max_length=20)]
    clinical_fields: tuple[Literal["age_band", "sex", "biopsy_site", "diagnosis_code"], ...] = ()
    model: Name
    readers: Annotated[tuple[StudyReader, ...], Field(min_length=1, max_length=200)]
    allocation: Allocating = Allocating()
    design: Literal["sequential", "crossover"] = "sequential"
    form: FormRef
    ai_answer: AiAnswer | None = None
    deadline: date | None = None

    @model_validator(mode="after")
    def _distinct(self) -> StudyDesign:
        if len(set(self.nodes)) != len(self.nodes):
            raise ValueError("a node is named twice")
        if len({r.username for r in self.readers}) != len(self.readers):
            raise ValueError("a reader is named twice")
        if len(set(self.clinical_fields)) != len(self.clinical_fields):
            raise ValueError("a clinical field is named twice")
        if self.allocation.reads_per_case > len(self.readers):
            raise ValueError("each case needs more reads than the study has readers")
        return self

    @property
    def digest(self) -> str:
        """What a custodian approves: this version, whole."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def check_with_form(design: StudyDesign, form: Form) -> None:
    """What a design says of its form holds: the AI's answer is to one of its coded case
    items, with two of its codes."""
    ai = design.ai_answer
    if ai is None:
        return
    item = next((i for i in form.items_for("case") if i.id == ai.item), None)
    if item is None or item.kind not in ("choice", "ordinal"):
        raise InvalidRequest("The AI's answer must be to a coded item of the study's form.")
    if {ai.yes, ai.no} - set(item.codes) or ai.yes == ai.no:
        raise InvalidRequest("The AI's yes and no must be two different codes of that item.")


def after_edit(state: StudyState) -> StudyState:
    """The state a study is in once its design is changed."""
    if state in (StudyState.LOCKED, StudyState.CLOSED):
        raise StudyConflict("A locked or closed study cannot change; start a new study.")
    return StudyState.DRAFT if state == StudyState.DRAFT else StudyState.AWAITING


def after_approval(
    state: StudyState, nodes: tuple[str, ...], approved: dict[str, str], digest: str
) -> StudyState:
    """Open once every node's custodian has approved the version in force (``approved``: node
    to the digest it approved)."""
    if state != StudyState.AWAITING:
        return state
    return StudyState.OPEN if all(approved.get(n) == digest for n in nodes) else state


def check_reading(state: StudyState) -> None:
    """Readers act only in an open study; otherwise the reason in words."""
    if state == StudyState.OPEN:
        return
    raise StudyConflict(
        {
            StudyState.DRAFT: "The study has not started: its design is still a draft.",
            StudyState.AWAITING: "The study was changed or has not been approved yet: it waits "
            "for every hospital's custodian to approve its current version.",
            StudyState.LOCKED: "The study is locked: no read can change.",
            StudyState.CLOSED: "The study is closed.",
        }[state]
    )


def check_lock(state: StudyState) -> None:
    if state != StudyState.OPEN:
        raise StudyConflict("Only an open study can be locked.")
