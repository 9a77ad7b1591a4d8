"""Random review-study designs (issue 17): whatever the hospitals, readers, cases and rules,
``allocate`` refuses exactly the designs some case cannot be read under, and otherwise

- every case gets exactly ``reads_per_case`` distinct readers, never at its own hospital when
  that is excluded;
- the largest load is the smallest any allocation reaches, checked independently of the flow
  by Hall's condition (for tiny designs, the sorted loads against every allocation there is);
- each reader's positions run 1..n with no gap, and their re-reads are distinct cases from
  their own first reads, after all of them;

and after any reader leaves, with any of their reads submitted, ``reassign`` keeps all that,
keeps everyone else's list as it was, and reaches the smallest largest load again.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.pathology.study.allocation import (
    Allocation,
    AllocationError,
    Case,
    Reader,
    Rules,
    allocate,
    reassign,
)

SITES = ("h0", "h1", "h2", "h3")


@st.composite
def designs(draw: st.DrawFn, most_cases: int = 24, most_readers: int = 7):
    sites = SITES[: draw(st.integers(1, len(SITES)))]
    readers = [
        Reader(f"r{i}", draw(st.sampled_from(sites)))
        for i in range(draw(st.integers(1, most_readers)))
    ]
    cases = [
        Case(f"c{i}", draw(st.sampled_from(sites))) for i in range(draw(st.integers(1, most_cases)))
    ]
    rules = Rules(
        reads_per_case=draw(st.integers(1, min(4, len(readers)))),
        exclude_own_site=draw(st.booleans()),
        reread_fraction=draw(st.sampled_from([0.0, 0.1, 0.25, 0.5])),
    )
    return cases, readers, rules


def may_read(reader: Reader, case: Case, rules: Rules) -> bool:
    return not (rules.exclude_own_site and reader.site == case.site)


def feasible(cases: list[Case], readers: list[Reader], rules: Rules) -> bool:
    return all(sum(may_read(r, c, rules) for r in readers) >= rules.reads_per_case for c in cases)


def hall_smallest_largest_load(
    demands: dict[frozenset[str], int], reads: int, readers: Iterable[str], base: Counter[str]
) -> int:
    """The smallest largest load by Hall's condition for degree-constrained matchings: with
    ``demands`` (cases per set of readers who may read them, each needing ``reads``) and a cap
    of ``c`` on every load, all cases can be read iff every union ``S`` of those classes has
    ``reads * |S| <= sum over readers of min(c - base, cases of S they may read)``. Cases of
    one class are alike, so unions of whole classes are the only sets to try."""
    classes = list(demands)
    readers = list(readers)
    unions = [
        chosen
        for size in range(1, len(classes) + 1)
        for chosen in itertools.combinations(classes, size)
    ]
    cap = max(base.values(), default=0)
    while True:
        if all(
            reads * sum(demands[cls] for cls in chosen)
            <= sum(
                min(max(0, cap - base[r]), sum(demands[cls] for cls in chosen if r in cls))
                for r in readers
            )
            for chosen in unions
        ):
            return cap
        cap += 1


def check_allocation(
    allocation: Allocation, cases: list[Case], readers: list[Reader], rules: Rules
) -> None:
    site = {r.name: r.site for r in readers}
    for case in cases:
        who = allocation.readers_of(case.case_id)
        assert len(who) == len(set(who)) == rules.reads_per_case
        assert all(may_read(Reader(n, site[n]), case, rules) for n in who)
    known = {c.case_id for c in cases}
    assert {a.case_id for a in allocation.assignments} <= known


def check_worklist(allocation: Allocation, name: str) -> None:
    worklist = allocation.for_reader(name)
    assert [a.position for a in worklist] == list(range(1, len(worklist) + 1))
    firsts = [a for a in worklist if not a.reread]
    rereads = [a for a in worklist if a.reread]
    assert len({a.case_id for a in rereads}) == len(rereads)
    first_position = {a.case_id: a.position for a in firsts}
    assert all(first_position[a.case_id] < a.position for a in rereads)


@settings(max_examples=100, deadline=None)
@given(designs(), st.integers(0, 2**32))
def test_allocations_keep_every_rule_and_reach_the_smallest_largest_load(design, seed):
    cases, readers, rules = design
    if not feasible(cases, readers, rules):
        try:
            allocate(cases, readers, rules, seed=seed)
        except AllocationError:
            return
        raise AssertionError("a design some case cannot be read under was allocated")
    allocation = allocate(cases, readers, rules, seed=seed)
    check_allocation(allocation, cases, readers, rules)
    names = [r.name for r in readers]
    demands = Counter(frozenset(r.name for r in readers if may_read(r, c, rules)) for c in cases)
    loads = allocation.load()
    assert max(loads.values()) == hall_smallest_largest_load(
        demands, rules.reads_per_case, names, Counter()
    )
    if not rules.exclude_own_site:
        assert max(loads.values()) - min(loads.get(n, 0) for n in names) <= 1
    for name in names:
        check_worklist(allocation, name)
        firsts = [a for a in allocation.for_reader(name) if not a.reread]
        rereads = [a for a in allocation.for_reader(name) if a.reread]
        assert all(a.position > len(firsts) for a in rereads)
        if firsts and rules.reread_fraction:
            assert len(rereads) == max(1, int(rules.reread_fraction * len(firsts) + 0.5))


@settings(max_examples=100, deadline=None)
@given(designs(most_cases=4, most_readers=4), st.integers(0, 2**32))
def test_on_tiny_designs_the_loads_are_the_most_even_of_every_allocation(design, seed):
    cases, readers, rules = design
    if not feasible(cases, readers, rules):
        return
    k = rules.reads_per_case
    choices = [
        itertools.combinations([r.name for r in readers if may_read(r, c, rules)], k) for c in cases
    ]
    most_even = min(
        sorted(Counter(n for chosen in pick for n in chosen).get(r.name, 0) for r in readers)[::-1]
        for pick in itertools.product(*choices)
    )
    loads = allocate(cases, readers, rules, seed=seed).load()
    assert sorted((loads.get(r.name, 0) for r in readers), reverse=True) == most_even


@settings(max_examples=200, deadline=None)  # a third of designs leave something to reassign
@given(designs(), st.integers(0, 2**32), st.data())
def test_after_any_reader_leaves_the_rules_still_hold(design, seed, data):
    cases, readers, rules = design
    if not feasible(cases, readers, rules):
        return
    before = allocate(cases, readers, rules, seed=seed)
    leaver = data.draw(st.sampled_from([r.name for r in readers]))
    theirs = sorted(a.case_id for a in before.for_reader(leaver) if not a.reread)
    done = {(leaver, c) for c in data.draw(st.sets(st.sampled_from(theirs)))} if theirs else set()
    unfinished = [c for c in cases if c.case_id in theirs and (leaver, c.case_id) not in done]
    remaining = [r for r in readers if r.name != leaver]

    def may_take(reader: Reader, case: Case) -> bool:
        return may_read(reader, case, rules) and reader.name not in before.readers_of(case.case_id)

    possible = all(any(may_take(r, c) for r in remaining) for c in unfinished)
    try:
        after = reassign(before, cases, readers, rules, dropped=leaver, done=done, seed=seed)
    except AllocationError:
        assert not possible
        return
    assert possible
    check_allocation(after, cases, readers, rules)
    assert {(a.reader, a.case_id) for a in after.for_reader(leaver)} == done
    assert not any(a.reread for a in after.for_reader(leaver))
    for reader in remaining:
        old, new = before.for_reader(reader.name), after.for_reader(reader.name)
        assert new[: len(old)] == old
        check_worklist(after, reader.name)

    base = Counter(
        {r.name: len([a for a in before.for_reader(r.name) if not a.reread]) for r in remaining}
    )
    demands = Counter(frozenset(r.name for r in remaining if may_take(r, c)) for c in unfinished)
    loads = after.load()
    assert max((loads.get(r.name, 0) for r in remaining), default=0) == hall_smallest_largest_load(
        demands, 1, base, base
    )


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 4),
    st.integers(1, 3),
    st.integers(1, 6),
    st.booleans(),
    st.data(),
)
def test_where_every_case_can_have_readers_from_k_hospitals_every_case_does(
    site_count, readers_per_site, cases_per_site, exclude, data
):
    # Alike hospitals (as many readers and cases each): the most even loads leave room for
    # every case's readers to come from different hospitals.
    sites = SITES[:site_count]
    k = data.draw(st.integers(1, min(site_count - exclude, 10)))
    readers = [Reader(f"{s}-r{i}", s) for s in sites for i in range(readers_per_site)]
    cases = [Case(f"{s}-c{i}", s) for s in sites for i in range(cases_per_site)]
    allocation = allocate(cases, readers, Rules(k, exclude), seed=data.draw(st.integers(0, 99)))
    site = {r.name: r.site for r in readers}
    for case in cases:
        assert len({site[n] for n in allocation.readers_of(case.case_id)}) == k
