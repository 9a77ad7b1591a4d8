"""The lock rule over random sequences of a reader's actions: whatever is tried in whatever
order, a locked first read never changes, the AI is never shown before the lock, a final read
never changes, and a refused action changes nothing."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.pathology.study.forms import FormError, shipped_form
from fivesafes.pathology.study.reads import (
    FINAL,
    Read,
    ReadConflict,
    lock,
    open_case,
    reveal,
    save,
    submit,
    time_on_case,
    withdraw,
)

FORM = shipped_form()
START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SHOWN = frozenset({"p1", "p2"})

COMPLETE = {"adequacy": "adequate", "tumour_present": "no", "confidence": "4"}
answers = st.one_of(
    st.just(COMPLETE),
    st.fixed_dictionaries(
        {},
        optional={
            "adequacy": st.sampled_from(["adequate", "limited", "inadequate", "superb"]),
            "tumour_present": st.sampled_from(["yes", "no", "indeterminate"]),
            "histological_type": st.sampled_from(["adenocarcinoma", "squamous", "other"]),
            "confidence": st.sampled_from(["1", "3", "5", "9"]),
            "necrosis": st.booleans(),
        },
    ),
)
FEEDBACK = {"ai_agrees": "agree", "ai_confidence": "2"}
feedback = st.one_of(
    st.just({"p1": FEEDBACK, "p2": FEEDBACK}),
    st.dictionaries(
        st.sampled_from(["p1", "p2", "p3"]),
        st.fixed_dictionaries(
            {},
            optional={
                "ai_agrees": st.sampled_from(["agree", "disagree", "maybe"]),
                "ai_confidence": st.sampled_from(["2", "4"]),
            },
        ),
        max_size=2,
    ),
)
action = st.one_of(
    st.tuples(st.just("open")),
    st.tuples(st.just("save"), st.just("unaided"), answers, st.one_of(st.just({}), feedback)),
    st.tuples(st.just("save"), st.just("aided"), answers, feedback),
    st.tuples(st.just("lock")),
    st.tuples(st.just("reveal")),
    st.tuples(st.just("submit")),
    st.tuples(st.just("withdraw")),
    st.tuples(st.just("time"), st.integers(-10, 500)),
)
actions = st.lists(action, max_size=30)


def apply(read: Read, action: tuple, now: datetime) -> Read:
    match action:
        case ("open",):
            return open_case(read, now=now)[0]
        case ("save", phase, given, fb):
            return save(read, FORM, given, phase=phase, feedback=fb, predictions=SHOWN)[0]
        case ("lock",):
            return lock(read, FORM, now=now)[0]
        case ("reveal",):
            return reveal(read, now=now)[0]
        case ("submit",):
            return submit(read, FORM, now=now, predictions=SHOWN)[0]
        case ("withdraw",):
            return withdraw(read)[0]
        case ("time", seconds):
            return time_on_case(read, seconds)
    raise AssertionError(action)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["sequential", "unaided", "aided"]), actions)
def test_no_sequence_of_actions_breaks_the_lock(condition, steps):
    read = Read("r1", "alice", "C-1", condition=condition)
    locked_answers = None
    for i, action in enumerate(steps):
        before = copy.deepcopy(read)
        try:
            after = apply(read, action, START + timedelta(minutes=i))
        except (ReadConflict, FormError):
            assert read == before  # a refusal changes nothing
            continue
        if before.state in FINAL and action[0] != "time":
            raise AssertionError("a final read accepted an action")
        if before.state in FINAL:
            assert after == before
        if before.locked_at is not None:
            assert after.locked_at == before.locked_at
            assert after.unaided == locked_answers  # never changes after the lock
        if after.locked_at is not None and locked_answers is None:
            locked_answers = copy.deepcopy(after.unaided)
        if condition == "sequential" and after.ai_visible:
            assert after.locked_at is not None and after.revealed_at is not None
        if condition == "unaided":
            assert not after.ai_visible and not after.feedback
        read = after


def test_the_random_sequences_reach_every_state():
    """The property above is only as good as the states it reaches: with the same strategy,
    some sequences lock, reveal and submit. A sequence that ends a read (withdrawn or
    submitted) goes on with a fresh one, so an early withdrawal does not end the walk."""
    reached: set[str] = set()

    @settings(max_examples=600, deadline=None, database=None, derandomize=True)
    @given(
        st.sampled_from(["sequential", "unaided", "aided"]),
        st.lists(action, min_size=20, max_size=40),
    )
    def walk(condition, steps):
        read = Read("r1", "alice", "C-1", condition=condition)
        for i, action in enumerate(steps):
            try:
                read = apply(read, action, START + timedelta(minutes=i))
            except (ReadConflict, FormError):
                continue
            reached.add(read.state.value)
            if read.state in FINAL:  # the rest of the sequence walks a fresh read
                read = Read("r1", "alice", "C-1", condition=condition)

    walk()
    assert reached >= {"opened", "locked", "revealed", "submitted", "withdrawn"}
