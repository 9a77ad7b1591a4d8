"""One reader's read of one case: the states it passes through, the lock rule and what the
reader may see at each step. Pure: each action takes a :class:`Read` and returns the next one
with the :class:`Step` to audit; the store applies both in one transaction.

How a read goes depends on its study's design (``condition``):

- ``sequential`` (the default): an unaided read, locked, then the AI's predictions revealed
  and an aided read with feedback on each prediction, then submitted.
- ``unaided`` and ``aided`` (a crossover study): one read in that condition, submitted; the
  other condition comes as another read after the washout.

```
                 open          lock           reveal          submit
  assigned ──────────▶ opened ──────▶ locked ──────▶ revealed ──────▶ submitted
      │                  │  save            (sequential only)   save
      │                  └──────────────────────────────────────────▶ submitted
      │                         submit (an unaided or aided read)
      └──▶ withdrawn   (reassigned before anything was locked or submitted)
```

**The lock rule.** Once a first read is locked (``locked_at``), its answers never change:
no action writes ``unaided`` after the lock, and the AI is never shown to a sequential read
before it. A submitted or withdrawn read is final. Drafts (``save``) may leave core items
unanswered; ``lock`` and ``submit`` need every core item, and for an aided read the core items
of every prediction shown.

**Blinding.** A reader sees only their own reads, never a case's hospital, scanner or file
(the case is its study pseudonym, ``case_pseudonym``), and another reader's answers only after
the study is locked (``answers_visible``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from fivesafes.pathology.study.forms import Form, FormError, check_answers
from fivesafes.protocol.errors import Conflict, ErrorDetail

Condition = Literal["sequential", "unaided", "aided"]
MAX_SECONDS_PER_BEAT = 120  # time on case: one heartbeat adds at most this much


class ReadState(StrEnum):
    ASSIGNED = "assigned"
    OPENED = "opened"
    LOCKED = "locked"
    REVEALED = "revealed"
    SUBMITTED = "submitted"
    WITHDRAWN = "withdrawn"


FINAL = frozenset({ReadState.SUBMITTED, ReadState.WITHDRAWN})


class ReadConflict(Conflict):
    """The action does not fit the read's state (a 409): the message says why in words."""


@dataclass(frozen=True)
class Read:
    read_id: str
    reader: str
    case: str  # the case's study pseudonym
    condition: Condition = "sequential"
    reread: bool = False
    state: ReadState = ReadState.ASSIGNED
    unaided: dict[str, Any] | None = None
    aided: dict[str, Any] | None = None
    feedback: dict[str, dict[str, Any]] = field(default_factory=dict)
    opened_at: datetime | None = None
    locked_at: datetime | None = None
    revealed_at: datetime | None = None
    submitted_at: datetime | None = None
    seconds: int = 0

    @property
    def ai_visible(self) -> bool:
        """Whether the reader may see the AI's predictions for this case now."""
        if self.condition == "unaided":
            return False
        if self.condition == "aided":
            return self.state in (ReadState.OPENED, ReadState.SUBMITTED)
        return self.state in (ReadState.REVEALED, ReadState.SUBMITTED)


@dataclass(frozen=True)
class Step:
    """What an action did, for the audit log: never an answer, only which items changed."""

    action: str
    read_id: str
    details: dict[str, Any]


Phase = Literal["unaided", "aided"]


def open_case(read: Read, *, now: datetime) -> tuple[Read, Step]:
    """The reader opens the case (again): the first time starts the read."""
    _not_final(read)
    if read.state == ReadState.ASSIGNED:
        read = replace(read, state=ReadState.OPENED, opened_at=now)
    return read, Step("case_opened", read.read_id, {"state": read.state.value})


def save(
    read: Read,
    form: Form,
    answers: dict[str, Any],
    *,
    phase: Phase,
    feedback: dict[str, dict[str, Any]] | None = None,
    predictions: frozenset[str] = frozenset(),
) -> tuple[Read, Step]:
    """A draft of the ``phase``'s answers (autosave): core items may still be missing.
    Feedback is only for an aided phase, on predictions the read was shown."""
    _not_final(read)
    _phase_open(read, phase)
    if phase == "unaided" and feedback:
        raise ReadConflict("Feedback on the AI is given only once its predictions are shown.")
    check_answers(form, answers, complete=False)
    checked = _feedback(form, feedback or {}, predictions, complete=False)
    if phase == "unaided":
        read = replace(read, unaided=dict(answers))
    else:
        merged = {**read.feedback, **checked}
        read = replace(read, aided=dict(answers), feedback=merged)
    details = {"phase": phase, "items": sorted(answers), "predictions": len(checked)}
    return read, Step("read_saved", read.read_id, details)


def lock(read: Read, form: Form, *, now: datetime) -> tuple[Read, Step]:
    """Lock a sequential read's unaided answers: complete, and never to change again."""
    if read.condition != "sequential":
        raise ReadConflict("Only a read with an unaided and an aided part is locked; submit it.")
    if read.state != ReadState.OPENED:
        raise ReadConflict(_why_not(read, "lock"))
    check_answers(form, read.unaided or {}, complete=True)
    read = replace(read, state=ReadState.LOCKED, locked_at=now)
    return read, Step("first_read_locked", read.read_id, {"items": sorted(read.unaided or {})})


def reveal(read: Read, *, now: datetime) -> tuple[Read, Step]:
    """Show the AI's predictions: only after the unaided read is locked."""
    if read.condition != "sequential":
        raise ReadConflict("This read's design does not reveal the AI during the read.")
    if read.state != ReadState.LOCKED:
        raise ReadConflict(_why_not(read, "reveal"))
    aided = dict(read.unaided or {})  # the aided read starts from the locked answers
    read = replace(read, state=ReadState.REVEALED, revealed_at=now, aided=aided)
    return read, Step("ai_revealed", read.read_id, {})


def submit(
    read: Read, form: Form, *, now: datetime, predictions: frozenset[str] = frozenset()
) -> tuple[Read, Step]:
    """Submit the read: every core item answered, and in an aided read every prediction shown
    given its feedback."""
    ready = {
        "sequential": ReadState.REVEALED,
        "unaided": ReadState.OPENED,
        "aided": ReadState.OPENED,
    }[read.condition]
    if read.state != ready:
        raise ReadConflict(_why_not(read, "submit"))
    final = read.unaided if read.condition == "unaided" else read.aided
    check_answers(form, final or {}, complete=True)
    if read.ai_visible:
        missing = sorted(predictions - set(read.feedback))
        if missing and form.items_for("prediction"):
            raise FormError(
                "Give your view of every prediction shown before submitting.",
                [ErrorDetail(field="feedback", problem=f"{len(missing)} prediction(s) unanswered")],
            )
        _feedback(form, dict(read.feedback), predictions, complete=True)
    read = replace(read, state=ReadState.SUBMITTED, submitted_at=now)
    return read, Step("read_submitted", read.read_id, {"predictions": len(read.feedback)})


def withdraw(read: Read) -> tuple[Read, Step]:
    """Take the read from its reader (reassignment): only before anything was locked or
    submitted, so no answer that counts is ever discarded."""
    if read.state not in (ReadState.ASSIGNED, ReadState.OPENED):
        raise ReadConflict("A read with a locked or submitted answer cannot be reassigned.")
    read = replace(read, state=ReadState.WITHDRAWN)
    return read, Step("read_withdrawn", read.read_id, {})


def time_on_case(read: Read, seconds: int) -> Read:
    """Add the seconds the case was open in the reader's browser (each heartbeat at most
    ``MAX_SECONDS_PER_BEAT``); nothing after the read is final."""
    if read.state in FINAL or read.state == ReadState.ASSIGNED:
        return read
    return replace(read, seconds=read.seconds + max(0, min(int(seconds), MAX_SECONDS_PER_BEAT)))


def answers_visible(*, own: bool, study_locked: bool) -> bool:
    """Whether a person may see a read's answers: its own reader always; anyone else with a
    right to the study's results only once the study is locked."""
    return own or study_locked


def case_pseudonym(study_key: bytes, release_id: str) -> str:
    """The case's name in one study: keyed, so it says nothing of the slide, its hospital or
    its release, and differs from study to study."""
    digest = hmac.new(study_key, release_id.encode(), hashlib.sha256).digest()
    return "C-" + base64.b32encode(digest[:10]).decode().rstrip("=")[:12]


def _phase_open(read: Read, phase: Phase) -> None:
    if phase == "unaided":
        if read.condition == "aided":
            raise ReadConflict("This read is an aided read: there is no unaided part.")
        if read.state != ReadState.OPENED:
            raise ReadConflict(_why_not(read, "save the unaided read"))
        return
    if read.condition == "unaided":
        raise ReadConflict("This read is an unaided read: there is no aided part.")
    if not read.ai_visible or read.state == ReadState.SUBMITTED:
        raise ReadConflict(_why_not(read, "save the aided read"))


def _feedback(
    form: Form,
    feedback: dict[str, dict[str, Any]],
    predictions: frozenset[str],
    *,
    complete: bool,
) -> dict[str, dict[str, Any]]:
    unknown = set(feedback) - predictions
    if unknown:
        raise FormError(
            "Feedback was given on a prediction this read was not shown.",
            [ErrorDetail(field="feedback", problem="names a prediction not shown")],
        )
    for answers in feedback.values():
        check_answers(form, answers, target="prediction", complete=complete)
    return {k: dict(v) for k, v in feedback.items()}


def _not_final(read: Read) -> None:
    if read.state in FINAL:
        raise ReadConflict(
            "This read is submitted: it cannot change."
            if read.state == ReadState.SUBMITTED
            else "This read was reassigned to another reader."
        )


def _why_not(read: Read, action: str) -> str:
    """Why ``action`` does not fit the read's state, in words."""
    if read.state == ReadState.ASSIGNED:
        return f"Open the case before you {action}."
    if "unaided" in action and read.locked_at is not None:
        return "The unaided read is locked: it can never change."
    if read.state == ReadState.LOCKED:
        return f"The unaided read is locked; reveal the AI before you {action}."
    if read.state == ReadState.SUBMITTED:
        return "This read is submitted: it cannot change."
    if read.state == ReadState.WITHDRAWN:
        return "This read was reassigned to another reader."
    if action == "reveal":
        return "Lock your unaided read before the AI is revealed."
    return f"You cannot {action} at this step of the read."
