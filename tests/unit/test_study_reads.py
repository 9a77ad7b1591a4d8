"""A read's states, the lock rule and blinding, as a table of steps: each action in each state
either moves the read on or is refused in words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fivesafes.pathology.study.forms import FormError, shipped_form
from fivesafes.pathology.study.reads import (
    Read,
    ReadConflict,
    ReadState,
    answers_visible,
    case_pseudonym,
    lock,
    open_case,
    reveal,
    save,
    submit,
    time_on_case,
    withdraw,
)

FORM = shipped_form()
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
FIRST = {
    "adequacy": "adequate",
    "tumour_present": "yes",
    "histological_type": "squamous",
    "confidence": "3",
}
FEEDBACK = {"ai_agrees": "disagree", "ai_confidence": "4", "ai_region": [[1, 1], [50, 1], [50, 40]]}
SHOWN = frozenset({"p1", "p2"})


def opened(condition="sequential") -> Read:
    read, _ = open_case(Read("r1", "alice", "C-1", condition=condition), now=NOW)
    return read


def locked() -> Read:
    read, _ = save(opened(), FORM, FIRST, phase="unaided")
    read, _ = lock(read, FORM, now=NOW)
    return read


def test_a_sequential_read_end_to_end():
    read = Read("r1", "alice", "C-1")
    assert not read.ai_visible
    read, step = open_case(read, now=NOW)
    assert (read.state, step.action) == (ReadState.OPENED, "case_opened")
    read, step = save(read, FORM, {"adequacy": "adequate"}, phase="unaided")  # a draft
    assert step.details == {"phase": "unaided", "items": ["adequacy"], "predictions": 0}
    read, _ = save(read, FORM, FIRST, phase="unaided")
    assert not read.ai_visible
    read, step = lock(read, FORM, now=NOW)
    assert (read.state, read.locked_at, step.action) == (ReadState.LOCKED, NOW, "first_read_locked")
    assert not read.ai_visible
    read, step = reveal(read, now=NOW)
    assert read.ai_visible and step.action == "ai_revealed"
    assert read.aided == FIRST  # the aided read starts from the locked answers
    changed = {**FIRST, "histological_type": "adenocarcinoma", "confidence": "5"}
    read, _ = save(read, FORM, changed, phase="aided", feedback={"p1": FEEDBACK}, predictions=SHOWN)
    read, _ = save(read, FORM, changed, phase="aided", feedback={"p2": FEEDBACK}, predictions=SHOWN)
    read, step = submit(read, FORM, now=NOW, predictions=SHOWN)
    assert (read.state, step.details) == (ReadState.SUBMITTED, {"predictions": 2})
    assert read.unaided == FIRST and read.aided == changed  # both kept: the aided effect


def test_the_audit_step_never_carries_an_answer():
    read, step = save(
        opened(), FORM, {**FIRST, "comment": "looks like the index case"}, phase="unaided"
    )
    assert "index case" not in repr(step) and "squamous" not in repr(step)


@pytest.mark.parametrize(
    ("action", "words"),
    [
        (lambda r: save(r, FORM, FIRST, phase="unaided"), "locked: it can never change"),
        (lambda r: lock(r, FORM, now=NOW), "reveal the AI"),
        (lambda r: save(r, FORM, FIRST, phase="aided"), "reveal the AI"),
        (lambda r: submit(r, FORM, now=NOW), "reveal the AI"),
        (withdraw, "cannot be reassigned"),
    ],
)
def test_a_locked_first_read_never_changes(action, words):
    read = locked()
    with pytest.raises(ReadConflict, match=words):
        action(read)
    assert read.unaided == FIRST


def test_the_ai_is_revealed_only_after_the_lock():
    with pytest.raises(ReadConflict, match="Lock your unaided read before the AI is revealed"):
        reveal(opened(), now=NOW)
    with pytest.raises(ReadConflict, match="Open the case"):
        reveal(Read("r1", "alice", "C-1"), now=NOW)
    with pytest.raises(ReadConflict, match="only once its predictions are shown"):
        save(opened(), FORM, FIRST, phase="unaided", feedback={"p1": FEEDBACK}, predictions=SHOWN)


def test_lock_and_submit_need_every_core_item_and_every_prediction():
    read, _ = save(opened(), FORM, {"adequacy": "adequate"}, phase="unaided")
    with pytest.raises(FormError):
        lock(read, FORM, now=NOW)
    read, _ = reveal(locked(), now=NOW)
    read, _ = save(read, FORM, FIRST, phase="aided", feedback={"p1": FEEDBACK}, predictions=SHOWN)
    with pytest.raises(FormError, match="every prediction") as exc:
        submit(read, FORM, now=NOW, predictions=SHOWN)
    assert exc.value.details[0].problem == "1 prediction(s) unanswered"
    with pytest.raises(FormError, match="not shown"):
        save(read, FORM, FIRST, phase="aided", feedback={"p9": FEEDBACK}, predictions=SHOWN)
    partial, _ = save(  # a draft of feedback may be partial; submit may not
        read, FORM, FIRST, phase="aided", feedback={"p2": {"ai_agrees": "agree"}}, predictions=SHOWN
    )
    with pytest.raises(FormError):
        submit(partial, FORM, now=NOW, predictions=SHOWN)


def test_a_submitted_or_withdrawn_read_is_final():
    read, _ = reveal(locked(), now=NOW)
    read, _ = save(read, FORM, FIRST, phase="aided", feedback={"p1": FEEDBACK}, predictions=SHOWN)
    done, _ = submit(read, FORM, now=NOW, predictions=frozenset({"p1"}))
    for action in (lambda r: open_case(r, now=NOW), lambda r: save(r, FORM, FIRST, phase="aided")):
        with pytest.raises(ReadConflict, match="submitted"):
            action(done)
    gone, step = withdraw(opened())
    assert (gone.state, step.action) == (ReadState.WITHDRAWN, "read_withdrawn")
    with pytest.raises(ReadConflict, match="reassigned"):
        open_case(gone, now=NOW)


def test_a_crossover_read_has_one_condition():
    unaided = opened("unaided")
    assert not unaided.ai_visible
    with pytest.raises(ReadConflict, match="no aided part"):
        save(unaided, FORM, FIRST, phase="aided")
    with pytest.raises(ReadConflict, match="submit it"):
        lock(unaided, FORM, now=NOW)
    unaided, _ = save(unaided, FORM, FIRST, phase="unaided")
    done, _ = submit(unaided, FORM, now=NOW)
    assert done.state == ReadState.SUBMITTED and not done.ai_visible
    aided = opened("aided")
    assert aided.ai_visible  # shown from the start
    with pytest.raises(ReadConflict, match="no unaided part"):
        save(aided, FORM, FIRST, phase="unaided")
    aided, _ = save(aided, FORM, FIRST, phase="aided", feedback={"p1": FEEDBACK}, predictions=SHOWN)
    done, _ = submit(aided, FORM, now=NOW, predictions=frozenset({"p1"}))
    assert done.state == ReadState.SUBMITTED


def test_time_on_case_is_bounded_per_heartbeat_and_stops_when_final():
    read = time_on_case(opened(), 30)
    read = time_on_case(read, 10_000)
    read = time_on_case(read, -5)
    assert read.seconds == 30 + 120
    assert time_on_case(Read("r1", "alice", "C-1"), 30).seconds == 0


def test_blinding():
    assert answers_visible(own=True, study_locked=False)
    assert not answers_visible(own=False, study_locked=False)
    assert answers_visible(own=False, study_locked=True)
    one, two = case_pseudonym(b"k1" * 16, "rel-1"), case_pseudonym(b"k2" * 16, "rel-1")
    assert one != two and one.startswith("C-") and len(one) == 14
    assert "rel" not in one and case_pseudonym(b"k1" * 16, "rel-1") == one
