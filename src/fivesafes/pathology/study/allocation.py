"""Who reads which case in a review study across hospitals (issue 17), and when a re-read opens.

A study has cases (de-identified slides, each from one hospital) and readers (pathologists,
each at one hospital). The rules of a design (:class:`Rules`):

- every case is read by exactly ``reads_per_case`` distinct readers (its *first reads*);
- with ``exclude_own_site``, never by a reader from the case's own hospital;
- readers' loads are as even as those two rules allow: the largest load is the smallest any
  allocation can reach, and with nothing excluded loads differ by at most one;
- within that, a case's readers come from different hospitals where the loads allow it;
- each reader reads their cases in their own random order, fixed by the platform's seed;
- a fraction ``reread_fraction`` of each reader's cases (rounded half up, at least one when the
  fraction is not zero) is read again by the same reader after all their first reads, to
  measure how each reader agrees with themselves; a re-read opens only ``washout_days`` after
  that reader submitted the first read (:func:`reread_available`).

How (:func:`allocate`): cases with the same eligible readers are grouped, and a maximum-flow
network (``flow``) decides how many of each group every reader reads, filling readers' loads
level by level so the loads are the most even the rules permit, and then, at those loads,
taking a case's reads from hospitals it does not have yet before doubling one up. Each
group's reads are then dealt round its shuffled cases: the readers listed hospital by hospital,
each repeated as many times as their count, take the cases in turn, so a reader never gets a
case twice and a hospital's readers share a case only where their share of the group is more
than one read of each.

When a reader leaves (:func:`reassign`), the cases they had not finished go to the others by
the same rules, filling up the lightest loads first; what the leaver submitted still counts.
Worklists are only ever extended: every other reader keeps their assignments at their
positions, and new first reads are appended after the end of their list (after any re-reads,
so nobody's numbering moves). The leaver's submitted reads keep their positions (their list
may then have gaps); their re-reads are removed.

Everything here is pure: no I/O, and refusals (:class:`AllocationError`) say in words what is
wrong and what would fix it, never naming a case or a reader.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fivesafes.pathology.study.flow import Group, balanced_reads

MAX_CASES = 5_000
MAX_READERS = 200
MAX_READS_PER_CASE = 10
MAX_REREAD_FRACTION = 0.5

_FIX_ELIGIBILITY = "add readers from other hospitals or allow reads at the case's own hospital"


class AllocationError(ValueError):
    """A study design or a change to it that cannot be allocated, said in words."""


@dataclass(frozen=True)
class Case:
    case_id: str
    site: str


@dataclass(frozen=True)
class Reader:
    name: str
    site: str


@dataclass(frozen=True)
class Rules:
    reads_per_case: int
    exclude_own_site: bool
    reread_fraction: float = 0.0
    washout_days: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.reads_per_case <= MAX_READS_PER_CASE:
            raise AllocationError(
                f"each case needs between 1 and {MAX_READS_PER_CASE} reads: "
                "choose a number of reads per case in that range"
            )
        if not 0 <= self.reread_fraction <= MAX_REREAD_FRACTION:
            raise AllocationError(
                "the share of cases read again must be between 0 and a half: choose a smaller share"
            )
        if self.washout_days < 0:
            raise AllocationError("the washout cannot be negative: give it in days, 0 or more")


@dataclass(frozen=True)
class Assignment:
    reader: str
    case_id: str
    position: int  # 1-based, in the reader's worklist
    reread: bool


@dataclass(frozen=True)
class Allocation:
    assignments: tuple[Assignment, ...]

    def for_reader(self, name: str) -> tuple[Assignment, ...]:
        """The reader's worklist, in order."""
        mine = (a for a in self.assignments if a.reader == name)
        return tuple(sorted(mine, key=lambda a: a.position))

    def readers_of(self, case_id: str) -> tuple[str, ...]:
        """The readers with a first read of the case."""
        return tuple(
            sorted(a.reader for a in self.assignments if a.case_id == case_id and not a.reread)
        )

    def load(self) -> dict[str, int]:
        """First reads per reader (readers with no assignment are not listed)."""
        return dict(Counter(a.reader for a in self.assignments if not a.reread))


def allocate(
    cases: Iterable[Case], readers: Iterable[Reader], rules: Rules, *, seed: int
) -> Allocation:
    """Decide who reads what (see the module's docstring); the same seed, the same answer."""
    cases, readers = _checked_study(cases, readers)
    needed = rules.reads_per_case
    if needed > len(readers):
        raise AllocationError(
            f"each case needs {needed} reads but the study has {len(readers)} readers: "
            "add readers or ask for fewer reads per case"
        )
    by_eligibility: dict[str | None, list[Case]] = defaultdict(list)
    for case in cases:
        by_eligibility[case.site if rules.exclude_own_site else None].append(case)
    groups, members = [], []
    short = 0
    for key, group_cases in by_eligibility.items():
        eligible = tuple(i for i, r in enumerate(readers) if key is None or r.site != key)
        short += len(group_cases) if len(eligible) < needed else 0
        groups.append(Group(len(group_cases), needed, eligible, {}))
        members.append([c.case_id for c in group_cases])
    if short:
        raise AllocationError(
            f"{_count(short, 'case')} {'has' if short == 1 else 'have'} fewer eligible readers "
            f"than the {_count(needed, 'read')} each needs: "
            f"{_FIX_ELIGIBILITY}"
        )
    rng = random.Random(seed)
    first_reads = _deal(groups, members, readers, [0] * len(readers), rng)
    assignments: list[Assignment] = []
    for index, reader in enumerate(readers):
        assignments.extend(_worklist(reader.name, first_reads[index], rules, rng))
    return Allocation(tuple(assignments))


def reassign(
    allocation: Allocation,
    cases: Iterable[Case],
    readers: Iterable[Reader],
    rules: Rules,
    *,
    dropped: str,
    done: Collection[tuple[str, str]],
    seed: int,
) -> Allocation:
    """The allocation after the reader ``dropped`` leaves: their first reads not in ``done``
    (``(reader, case_id)`` pairs of submitted first reads) go to the other readers of
    ``readers`` (which may include new ones) as the module's docstring says."""
    cases, readers = _checked_study(cases, readers)
    site_of_case = {c.case_id: c.site for c in cases}
    site_of_reader = {r.name: r.site for r in readers}
    first = {(a.reader, a.case_id) for a in allocation.assignments if not a.reread}
    if dropped not in {a.reader for a in allocation.assignments} | site_of_reader.keys():
        raise AllocationError(
            "the reader who leaves is not one of the study's readers: choose one of them"
        )
    if any((r not in site_of_reader and r != dropped) or c not in site_of_case for r, c in first):
        raise AllocationError(
            "the allocation names cases or readers the study does not have: "
            "pass the study's cases and readers the allocation was made for"
        )
    if not set(done) <= first:
        raise AllocationError(
            "a submitted read is not a first read of this allocation: "
            "pass the allocation those reads were made under"
        )
    remaining = [r for r in readers if r.name != dropped]

    unfinished = {c for r, c in first if r == dropped and (r, c) not in done}
    kept = [
        a
        for a in allocation.assignments
        if a.reader != dropped or (not a.reread and a.case_id not in unfinished)
    ]
    current: dict[str, set[str]] = defaultdict(set)
    for a in kept:
        if not a.reread:
            current[a.case_id].add(a.reader)
    site_index = _site_index(remaining)
    by_eligibility: dict[tuple[str | None, frozenset[str]], list[str]] = defaultdict(list)
    for case_id in sorted(unfinished):
        own = site_of_case[case_id] if rules.exclude_own_site else None
        by_eligibility[own, frozenset(current[case_id])].append(case_id)

    groups, members = [], []
    short = 0
    for (own, already), group_cases in by_eligibility.items():
        eligible = tuple(
            i for i, r in enumerate(remaining) if r.name not in already and r.site != own
        )
        short += 0 if eligible else len(group_cases)
        their_sites = (site_of_reader[name] for name in already)
        taken = Counter(site_index[site] for site in their_sites if site in site_index)
        groups.append(Group(len(group_cases), 1, eligible, taken))
        members.append(group_cases)
    if short:
        raise AllocationError(
            f"{_count(short, 'case')} the leaving reader had not finished "
            f"{'has' if short == 1 else 'have'} no other eligible reader who is not "
            f"reading {'it' if short == 1 else 'them'} already: {_FIX_ELIGIBILITY}"
        )

    rng = random.Random(seed)
    loads = Counter(a.reader for a in kept if not a.reread)
    base = [loads[r.name] for r in remaining]
    new_reads = _deal(groups, members, remaining, base, rng)
    ends: Counter[str] = Counter()
    for a in kept:
        ends[a.reader] = max(ends[a.reader], a.position)
    for index, reader in enumerate(remaining):
        new = sorted(new_reads[index])
        rng.shuffle(new)
        start = ends[reader.name]
        kept.extend(Assignment(reader.name, c, start + i, False) for i, c in enumerate(new, 1))
    return Allocation(tuple(sorted(kept, key=lambda a: (a.reader, a.position))))


def reread_opens_at(first_read_submitted_at: datetime, washout_days: int) -> datetime:
    """When the same reader may read the case again: the washout after their first read."""
    if first_read_submitted_at.tzinfo is None:
        raise AllocationError("times must carry their time zone: give them in UTC")
    if washout_days < 0:
        raise AllocationError("the washout cannot be negative: give it in days, 0 or more")
    return first_read_submitted_at + timedelta(days=washout_days)


def reread_available(first_read_submitted_at: datetime, washout_days: int, now: datetime) -> bool:
    """Whether the re-read is open at ``now`` (it is, from the very end of the washout)."""
    if now.tzinfo is None:
        raise AllocationError("times must carry their time zone: give them in UTC")
    return now >= reread_opens_at(first_read_submitted_at, washout_days)


def _checked_study(
    cases: Iterable[Case], readers: Iterable[Reader]
) -> tuple[list[Case], list[Reader]]:
    """The cases and readers in a fixed order (so the input's order never matters), or a
    refusal of a study that cannot be allocated whatever the rules."""
    case_list = sorted(cases, key=lambda c: c.case_id)
    reader_list = sorted(readers, key=lambda r: r.name)
    if not case_list:
        raise AllocationError("the study has no cases: add cases before allocating them")
    if not reader_list:
        raise AllocationError("the study has no readers: add readers before allocating cases")
    if len(case_list) > MAX_CASES:
        raise AllocationError(
            f"a study allocates at most {MAX_CASES:,} cases: split the study into smaller ones"
        )
    if len(reader_list) > MAX_READERS:
        raise AllocationError(
            f"a study has at most {MAX_READERS} readers: split the study into smaller ones"
        )
    for kind, ids in (
        ("case id", [c.case_id for c in case_list]),
        ("reader name", [r.name for r in reader_list]),
    ):
        repeated = sum(1 for count in Counter(ids).values() if count > 1)
        if repeated:
            verb = "appears" if repeated == 1 else "appear"
            raise AllocationError(
                f"{_count(repeated, kind)} {verb} more than once: give each its own {kind}"
            )
    return case_list, reader_list


def _site_index(readers: Sequence[Reader]) -> dict[str, int]:
    """The readers' hospitals, numbered in a fixed order for the flow."""
    return {site: i for i, site in enumerate(sorted({r.site for r in readers}))}


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _deal(
    groups: Sequence[Group],
    members: Sequence[Sequence[str]],
    readers: Sequence[Reader],
    base_loads: Sequence[int],
    rng: random.Random,
) -> list[list[str]]:
    """The cases each reader gets: the flow's counts dealt to each group's cases in turn."""
    site_index = _site_index(readers)
    counts = balanced_reads(groups, [site_index[r.site] for r in readers], base_loads)
    if counts is None:  # the callers refuse such designs first, in words
        raise AllocationError(f"the cases cannot all be given their reads: {_FIX_ELIGIBILITY}")
    cases_of: list[list[str]] = [[] for _ in readers]
    for group_cases, group_counts in zip(members, counts, strict=True):
        shuffled = list(group_cases)
        rng.shuffle(shuffled)
        for slot, reader in enumerate(_slots(group_counts, readers, list(site_index), rng)):
            cases_of[reader].append(shuffled[slot % len(shuffled)])
    return cases_of


def _slots(
    counts: dict[int, int], readers: Sequence[Reader], sites: list[str], rng: random.Random
) -> Iterator[int]:
    """Each reader repeated by their count, hospital by hospital (in a random order): taken
    round the group's cases, a run no longer than the group gives distinct cases."""
    order = list(sites)
    rng.shuffle(order)
    for site in order:
        here = [i for i in sorted(counts) if readers[i].site == site]
        rng.shuffle(here)
        for reader in here:
            yield from [reader] * counts[reader]


def _worklist(name: str, cases: list[str], rules: Rules, rng: random.Random) -> list[Assignment]:
    """A reader's first reads in a random order, then their re-reads."""
    order = sorted(cases)
    rng.shuffle(order)
    rereads = 0
    if rules.reread_fraction > 0 and order:
        rereads = max(1, math.floor(rules.reread_fraction * len(order) + 0.5))
    again = rng.sample(order, rereads)
    return [
        Assignment(name, case_id, position, False) for position, case_id in enumerate(order, 1)
    ] + [
        Assignment(name, case_id, position, True)
        for position, case_id in enumerate(again, len(order) + 1)
    ]
