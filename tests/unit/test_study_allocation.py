"""Who reads which case in a review study across hospitals (issue 17): each rule of
``pathology.study.allocation`` as a small table and its outcome. Readers are written
``name@hospital`` and cases ``id@hospital``."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from fivesafes.pathology.study.allocation import (
    Allocation,
    AllocationError,
    Assignment,
    Case,
    Reader,
    Rules,
    allocate,
    reassign,
    reread_available,
    reread_opens_at,
)


def readers(*specs: str) -> list[Reader]:
    return [Reader(*spec.split("@")) for spec in specs]


def cases(*specs: str) -> list[Case]:
    return [Case(*spec.split("@")) for spec in specs]


def many(count: int, site: str, prefix: str = "case") -> list[Case]:
    return [Case(f"{prefix}-{site}-{i:03}", site) for i in range(count)]


def loads(allocation: Allocation, study_readers: list[Reader]) -> dict[str, int]:
    counted = allocation.load()
    return {r.name: counted.get(r.name, 0) for r in study_readers}


def first_reads(allocation: Allocation, name: str) -> list[str]:
    return [a.case_id for a in allocation.for_reader(name) if not a.reread]


def check_hard_rules(
    allocation: Allocation, study_cases: list[Case], study_readers: list[Reader], rules: Rules
) -> None:
    site = {r.name: r.site for r in study_readers}
    for case in study_cases:
        who = allocation.readers_of(case.case_id)
        assert len(who) == len(set(who)) == rules.reads_per_case
        if rules.exclude_own_site:
            assert case.site not in {site[name] for name in who}


# -- every case is read by exactly k distinct readers, never at its own hospital if excluded --

SIX_READERS = readers("ann@north", "bob@north", "cat@south", "dan@south", "eve@west", "fay@west")


@pytest.mark.parametrize(
    ("k", "exclude"), [(1, False), (2, False), (3, False), (2, True), (3, True), (4, True)]
)
def test_every_case_gets_exactly_k_distinct_readers(k, exclude):
    study = many(20, "north") + many(15, "south") + many(5, "west")
    rules = Rules(reads_per_case=k, exclude_own_site=exclude)
    allocation = allocate(study, SIX_READERS, rules, seed=1)
    check_hard_rules(allocation, study, SIX_READERS, rules)
    assert sum(allocation.load().values()) == k * len(study)


def test_with_the_exclusion_a_hospitals_readers_never_read_its_cases():
    study = cases("n1@north", "n2@north", "s1@south")
    allocation = allocate(study, SIX_READERS, Rules(2, exclude_own_site=True), seed=3)
    for case_id in ("n1", "n2"):
        assert not {"ann", "bob"} & set(allocation.readers_of(case_id))
    assert not {"cat", "dan"} & set(allocation.readers_of("s1"))


# -- loads are as even as the rules allow ----------------------------------------------------


@pytest.mark.parametrize(
    ("case_count", "reader_count", "k", "smallest", "largest"),
    [
        (10, 3, 1, 3, 4),  # 10 reads over 3 readers
        (10, 3, 2, 6, 7),  # 20 reads
        (7, 7, 7, 7, 7),  # everyone reads everything
        (1, 5, 2, 0, 1),  # fewer reads than readers
        (500, 6, 3, 250, 250),
    ],
)
def test_with_nothing_excluded_loads_differ_by_at_most_one(
    case_count, reader_count, k, smallest, largest
):
    study_readers = [Reader(f"reader-{i}", f"site-{i % 2}") for i in range(reader_count)]
    allocation = allocate(many(case_count, "site-0"), study_readers, Rules(k, False), seed=7)
    counted = loads(allocation, study_readers)
    assert (min(counted.values()), max(counted.values())) == (smallest, largest)


def test_when_the_exclusion_forces_imbalance_the_rest_is_shared_as_evenly_as_it_can_be():
    # | cases       | readers at the hospital | each read by one of | loads           |
    # | 9 at north  | ann, bob                | cat, dan            | cat 4, dan 5    |
    # | 2 at south  | cat, dan                | ann, bob            | ann 1, bob 1    |
    study = many(9, "north") + many(2, "south")
    study_readers = readers("ann@north", "bob@north", "cat@south", "dan@south")
    allocation = allocate(study, study_readers, Rules(1, exclude_own_site=True), seed=2)
    assert sorted(loads(allocation, study_readers).values()) == [1, 1, 4, 5]


def naive_greedy_largest_load(study: list[Case], study_readers: list[Reader], k: int) -> int:
    """The allocation a first try would make: each case in turn to its k least-loaded
    eligible readers, excluding the case's own hospital."""
    load = dict.fromkeys((r.name for r in study_readers), 0)
    for case in study:
        eligible = [r.name for r in study_readers if r.site != case.site]
        for name in sorted(eligible, key=lambda n: (load[n], n))[:k]:
            load[name] += 1
    return max(load.values())


def test_the_flow_reaches_the_smallest_largest_load_where_a_greedy_choice_does_not():
    # Cases from a third hospital come first and a greedy choice shares them; the cases of
    # xavier's own hospital can then only go to yvonne. The flow gives the third hospital's
    # cases to xavier and reaches 2 reads each.
    study = cases("case-1@zeta", "case-2@zeta", "case-3@xi", "case-4@xi")
    study_readers = readers("xavier@xi", "yvonne@ypsilon")
    assert naive_greedy_largest_load(study, study_readers, 1) == 3
    allocation = allocate(study, study_readers, Rules(1, exclude_own_site=True), seed=0)
    assert loads(allocation, study_readers) == {"xavier": 2, "yvonne": 2}


def test_the_largest_load_is_the_smallest_any_allocation_reaches_on_a_small_design():
    study = cases("c1@a", "c2@a", "c3@a", "c4@b", "c5@c")
    study_readers = readers("r1@a", "r2@b", "r3@b", "r4@c")
    rules = Rules(2, exclude_own_site=True)
    allocation = allocate(study, study_readers, rules, seed=5)
    check_hard_rules(allocation, study, study_readers, rules)

    def eligible(case: Case) -> list[tuple[str, ...]]:
        names = [r.name for r in study_readers if r.site != case.site]
        return list(itertools.combinations(names, 2))

    best = min(
        max(Counter(name for pair in choice for name in pair).values())
        for choice in itertools.product(*(eligible(c) for c in study))
    )
    assert max(allocation.load().values()) == best == 3


def test_a_cases_readers_come_from_different_hospitals_where_the_loads_allow():
    # Four hospitals, two readers each, ten cases each, three reads a case elsewhere: every
    # case can have readers from the three other hospitals at perfectly even loads, so all do.
    hospitals = ("north", "south", "east", "west")
    study = [case for h in hospitals for case in many(10, h)]
    study_readers = [Reader(f"{h}-{i}", h) for h in hospitals for i in (1, 2)]
    allocation = allocate(study, study_readers, Rules(3, exclude_own_site=True), seed=4)
    site = {r.name: r.site for r in study_readers}
    spread = [len({site[n] for n in allocation.readers_of(c.case_id)}) for c in study]
    assert spread == [3] * len(study)
    assert set(allocation.load().values()) == {15}


# -- each reader's order is random, and fixed by the seed --------------------------------------


def test_the_same_seed_gives_the_same_allocation_whatever_the_order_of_the_input():
    study = many(30, "north") + many(30, "south")
    rules = Rules(2, True, reread_fraction=0.2)
    one = allocate(study, SIX_READERS, rules, seed=11)
    again = allocate(list(reversed(study)), list(reversed(SIX_READERS)), rules, seed=11)
    assert one == again


def test_another_seed_gives_another_order():
    study = many(30, "north")
    rules = Rules(2, exclude_own_site=False)
    one, other = (allocate(study, SIX_READERS, rules, seed=seed) for seed in (1, 2))
    assert first_reads(one, "ann") != first_reads(other, "ann")


def test_a_readers_first_reads_are_not_in_the_order_of_the_case_ids():
    study = many(40, "north")
    allocation = allocate(study, SIX_READERS, Rules(3, exclude_own_site=False), seed=8)
    orders = [first_reads(allocation, r.name) for r in SIX_READERS]
    assert any(order != sorted(order) for order in orders)


# -- re-reads -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "fraction", "rereads"),
    [
        (10, 0.0, 0),
        (10, 0.1, 1),
        (10, 0.25, 3),  # 2.5 rounds half up
        (10, 0.5, 5),
        (3, 0.1, 1),  # 0.3 rounds to none, but a fraction asks for at least one
        (1, 0.5, 1),
    ],
)
def test_a_fraction_of_each_readers_first_reads_is_read_again(first, fraction, rereads):
    study_readers = readers("ann@north")
    rules = Rules(1, exclude_own_site=False, reread_fraction=fraction)
    allocation = allocate(many(first, "south"), study_readers, rules, seed=6)
    worklist = allocation.for_reader("ann")
    assert [a.reread for a in worklist] == [False] * first + [True] * rereads


def test_re_reads_repeat_distinct_first_reads_of_the_same_reader_after_all_of_them():
    rules = Rules(2, exclude_own_site=True, reread_fraction=0.2)
    allocation = allocate(many(30, "north") + many(30, "south"), SIX_READERS, rules, seed=9)
    for reader in SIX_READERS:
        worklist = allocation.for_reader(reader.name)
        assert [a.position for a in worklist] == list(range(1, len(worklist) + 1))
        first = [a.case_id for a in worklist if not a.reread]
        again = [a.case_id for a in worklist if a.reread]
        assert len(set(again)) == len(again) == max(1, round(0.2 * len(first)))
        assert set(again) <= set(first)
        assert worklist[: len(first)] == tuple(a for a in worklist if not a.reread)


# -- the washout before a re-read ----------------------------------------------------------------

SUBMITTED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("washout_days", "now", "available"),
    [
        (14, SUBMITTED + timedelta(days=14) - timedelta(seconds=1), False),
        (14, SUBMITTED + timedelta(days=14), True),  # exactly at the end of the washout: open
        (14, SUBMITTED + timedelta(days=30), True),
        (0, SUBMITTED, True),
        (1, SUBMITTED - timedelta(days=3), False),
    ],
)
def test_a_re_read_opens_once_the_washout_since_the_first_read_is_over(
    washout_days, now, available
):
    assert reread_available(SUBMITTED, washout_days, now) is available
    assert reread_opens_at(SUBMITTED, washout_days) == SUBMITTED + timedelta(days=washout_days)


def test_times_without_a_time_zone_and_negative_washouts_are_refused():
    with pytest.raises(AllocationError, match="time zone"):
        reread_available(SUBMITTED.replace(tzinfo=None), 14, SUBMITTED)
    with pytest.raises(AllocationError, match="time zone"):
        reread_available(SUBMITTED, 14, SUBMITTED.replace(tzinfo=None))
    with pytest.raises(AllocationError, match="cannot be negative"):
        reread_opens_at(SUBMITTED, -1)


# -- designs that cannot be allocated, refused in words ------------------------------------------

SECRET_CASE, SECRET_READER = "S-2026-00417-HE", "Dr Quill"


def refusal(study: list[Case], study_readers: list[Reader], rules: Rules) -> str:
    with pytest.raises(AllocationError) as refused:
        allocate(study, study_readers, rules, seed=0)
    message = str(refused.value)
    assert SECRET_CASE not in message and SECRET_READER not in message
    return message


@pytest.mark.parametrize(
    ("study_readers", "k", "message"),
    [
        (  # north's 12 cases may go to cat and eve only
            [Reader(SECRET_READER, "north"), *readers("bob@north", "cat@south", "eve@west")],
            3,
            "12 cases have fewer eligible readers than the 3 reads each needs: ",
        ),
        (  # south's 4 cases may go to no one
            [Reader(SECRET_READER, "south"), *readers("bob@south")],
            1,
            "4 cases have fewer eligible readers than the 1 read each needs: ",
        ),
    ],
)
def test_too_few_eligible_readers_is_told_with_the_count_and_the_fix(study_readers, k, message):
    study = [Case(SECRET_CASE, "north"), *many(11, "north"), *many(4, "south")]
    told = refusal(study, study_readers, Rules(k, exclude_own_site=True))
    assert told == message + (
        "add readers from other hospitals or allow reads at the case's own hospital"
    )
    one_case = refusal([Case(SECRET_CASE, "west")], [Reader(SECRET_READER, "west")], Rules(1, True))
    assert one_case.startswith("1 case has fewer eligible readers than the 1 read each needs")


ONE_TO_TEN = (
    "each case needs between 1 and 10 reads: choose a number of reads per case in that range"
)
HALF = "the share of cases read again must be between 0 and a half: choose a smaller share"


@pytest.mark.parametrize(
    ("make_rules", "message"),
    [
        (lambda: Rules(0, False), ONE_TO_TEN),
        (lambda: Rules(11, False), ONE_TO_TEN),
        (lambda: Rules(1, False, reread_fraction=0.6), HALF),
        (lambda: Rules(1, False, reread_fraction=-0.1), HALF),
        (
            lambda: Rules(1, False, washout_days=-1),
            "the washout cannot be negative: give it in days, 0 or more",
        ),
    ],
)
def test_rules_out_of_range_are_refused_when_made(make_rules, message):
    with pytest.raises(AllocationError) as refused:
        make_rules()
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("study", "study_readers", "rules", "message"),
    [
        (
            [Case(SECRET_CASE, "north")],
            [],
            Rules(1, False),
            "the study has no readers: add readers before allocating cases",
        ),
        (
            [],
            [Reader(SECRET_READER, "north")],
            Rules(1, False),
            "the study has no cases: add cases before allocating them",
        ),
        (
            [Case(SECRET_CASE, "north"), Case(SECRET_CASE, "south")],
            [Reader(SECRET_READER, "west")],
            Rules(1, False),
            "1 case id appears more than once: give each its own case id",
        ),
        (
            [Case(SECRET_CASE, "north")],
            [Reader(SECRET_READER, "west"), Reader(SECRET_READER, "east")],
            Rules(1, False),
            "1 reader name appears more than once: give each its own reader name",
        ),
        (
            [Case(SECRET_CASE, "north")],
            [Reader(SECRET_READER, "west"), *readers("bob@west")],
            Rules(3, False),
            "each case needs 3 reads but the study has 2 readers: "
            "add readers or ask for fewer reads per case",
        ),
        (
            many(5_001, "north"),
            [Reader(SECRET_READER, "west")],
            Rules(1, False),
            "a study allocates at most 5,000 cases: split the study into smaller ones",
        ),
        (
            [Case(SECRET_CASE, "north")],
            [Reader(f"reader-{i}", "west") for i in range(201)],
            Rules(1, False),
            "a study has at most 200 readers: split the study into smaller ones",
        ),
    ],
)
def test_each_impossible_design_is_refused_in_words(study, study_readers, rules, message):
    assert refusal(study, study_readers, rules) == message


# -- a reader leaves --------------------------------------------------------------------------

LEAVING_STUDY = many(12, "north") + many(12, "south") + many(6, "west")


def leaving(rules: Rules, done_count: int) -> tuple[Allocation, Allocation, set[tuple[str, str]]]:
    before = allocate(LEAVING_STUDY, SIX_READERS, rules, seed=21)
    done = {("cat", case_id) for case_id in first_reads(before, "cat")[:done_count]}
    after = reassign(before, LEAVING_STUDY, SIX_READERS, rules, dropped="cat", done=done, seed=22)
    return before, after, done


def test_when_a_reader_leaves_everyone_else_keeps_their_list_and_new_reads_come_after_it():
    rules = Rules(2, exclude_own_site=True, reread_fraction=0.2)
    before, after, _ = leaving(rules, done_count=0)
    assert after.for_reader("cat") == ()
    check_hard_rules(after, LEAVING_STUDY, SIX_READERS, rules)
    for reader in SIX_READERS:
        if reader.name == "cat":
            continue
        old, new = before.for_reader(reader.name), after.for_reader(reader.name)
        assert new[: len(old)] == old
        assert [a.position for a in new] == list(range(1, len(new) + 1))
        assert not any(a.reread for a in new[len(old) :])


def test_what_the_leaver_submitted_still_counts_and_their_re_reads_are_removed():
    rules = Rules(2, exclude_own_site=True, reread_fraction=0.5)
    before, after, done = leaving(rules, done_count=3)
    kept = after.for_reader("cat")
    assert {("cat", a.case_id) for a in kept} == done
    assert not any(a.reread for a in kept)
    assert set(kept) <= set(before.for_reader("cat"))  # at the positions they were read at
    check_hard_rules(after, LEAVING_STUDY, SIX_READERS, rules)


def test_the_leavers_cases_go_to_the_lightest_loads_first():
    # | case | readers  | after cat leaves, unread | may go to    |
    # | c1   | ann, dan |                          |              |
    # | c2   | cat, dan | needs one more           | ann or bob   |
    # | c3   | bob, cat | needs one more           | ann or dan   |
    # ann and bob have one read each, dan two: c2 goes to bob and c3 to ann, two each.
    before = Allocation(
        (
            Assignment("ann", "c1", 1, False),
            Assignment("bob", "c3", 1, False),
            Assignment("cat", "c2", 1, False),
            Assignment("cat", "c3", 2, False),
            Assignment("dan", "c1", 1, False),
            Assignment("dan", "c2", 2, False),
        )
    )
    study = cases("c1@x", "c2@x", "c3@x")
    study_readers = readers("ann@a", "bob@b", "cat@c", "dan@d")
    after = reassign(
        before, study, study_readers, Rules(2, False), dropped="cat", done=set(), seed=0
    )
    assert after == Allocation(
        (
            Assignment("ann", "c1", 1, False),
            Assignment("ann", "c3", 2, False),
            Assignment("bob", "c3", 1, False),
            Assignment("bob", "c2", 2, False),
            Assignment("dan", "c1", 1, False),
            Assignment("dan", "c2", 2, False),
        )
    )


def test_a_new_reader_may_take_over_from_the_one_who_leaves():
    rules = Rules(2, exclude_own_site=True)
    before = allocate(LEAVING_STUDY, SIX_READERS, rules, seed=3)
    newcomer = Reader("gil", "south")
    after = reassign(
        before,
        LEAVING_STUDY,
        [*SIX_READERS, newcomer],
        rules,
        dropped="cat",
        done=set(),
        seed=4,
    )
    check_hard_rules(after, LEAVING_STUDY, [*SIX_READERS, newcomer], rules)
    assert after.load()["gil"] == before.load()["cat"]


@pytest.mark.parametrize(
    ("dropped", "done", "message"),
    [
        (
            SECRET_READER,
            set(),
            "the reader who leaves is not one of the study's readers: choose one of them",
        ),
        (
            "ann",
            {("ann", SECRET_CASE)},
            "a submitted read is not a first read of this allocation: "
            "pass the allocation those reads were made under",
        ),
    ],
)
def test_a_leaver_or_submitted_reads_the_allocation_does_not_know_are_refused(
    dropped, done, message
):
    before = allocate(LEAVING_STUDY, SIX_READERS, Rules(1, False), seed=1)
    with pytest.raises(AllocationError) as refused:
        reassign(
            before, LEAVING_STUDY, SIX_READERS, Rules(1, False), dropped=dropped, done=done, seed=1
        )
    assert str(refused.value) == message


def test_a_leavers_cases_with_no_one_left_to_read_them_are_refused_in_words():
    # North's cases are read by the only two readers elsewhere; when one leaves, cat (north)
    # may not read them and Quill reads them already.
    study = [Case(SECRET_CASE, "north"), *many(2, "north")]
    study_readers = [Reader(SECRET_READER, "south"), *readers("bob@west", "cat@north")]
    rules = Rules(2, exclude_own_site=True)
    before = allocate(study, study_readers, rules, seed=1)

    def told(done: set[tuple[str, str]]) -> str:
        with pytest.raises(AllocationError) as refused:
            reassign(before, study, study_readers, rules, dropped="bob", done=done, seed=1)
        assert SECRET_CASE not in str(refused.value)
        return str(refused.value)

    assert told(set()) == (
        "3 cases the leaving reader had not finished have no other eligible reader who is not "
        "reading them already: "
        "add readers from other hospitals or allow reads at the case's own hospital"
    )
    assert told({("bob", c.case_id) for c in study[1:]}).startswith(
        "1 case the leaving reader had not finished has no other eligible reader who is not "
        "reading it already: "
    )
    all_done = {("bob", c.case_id) for c in study}
    after = reassign(before, study, study_readers, rules, dropped="bob", done=all_done, seed=1)
    assert after == before
