"""False refusals of the differencing check: a scripted research session next to attacks.

    python benchmarks/bench_differencing.py [--persons 3000] [--no-record]

One project on one synthetic site (``fivesafes synth``'s generator). The session asks the
node's real runner (``run_task``: cohort, analysis, gate, differencing) for over a hundred
analyses a researcher would ask for: counts, summaries and crosstabs of cohorts built from the
site's conditions and drugs, by sex and age band, each distinct. Every release is remembered
as the node remembers it. Each refusal is then judged by an *oracle* written here from the
definition, independent of ``fivesafes.sdc.differencing``: is there a group of 1..t-1 persons
whose count follows (by linear algebra over the regions of the populations, found person by
person) from the refused population and at most two released ones, or from a population and
the released outputs inside it? A refusal the oracle cannot justify is a *false refusal*.

Then, in the same project, the attacks of ``tests/redteam`` and two more (a union that reveals
an overlap; three pairwise overlaps), each built from the site's own persons: each must be
refused.

The check is looked at where the node calls it (``fivesafes.node.release.check_population``,
wrapped to record its arguments), so the same script measures whatever rule the installed
``fivesafes`` has: run it with ``PYTHONPATH`` at an older checkout's ``src`` to compare rules.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from pyroaring import AbstractBitMap, BitMap

import fivesafes.node.release as release_module
from fivesafes.analyses.count import cohort_person_set
from fivesafes.analyses.registry import REGISTRY
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import generate
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.runner import Computed, gate, run_task
from fivesafes.protocol.models import TaskPayload
from fivesafes.sdc.gate import CountEvidence
from fivesafes.sdc.profiles import DEFAULT
from record import machine, update_section

PROJECT = "session"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
T = DEFAULT.threshold

CONDITIONS = {
    "type 2 diabetes": 201826,
    "hypertension": 316866,
    "lung cancer": 443388,
    "COPD": 255573,
    "asthma": 317009,
    "osteoarthritis": 80180,
    "myocardial infarction": 4329847,
}
DRUGS = {"metformin": 1503297, "atorvastatin": 1545958, "lisinopril": 1308216}
SUBGROUPS: dict[str, dict[str, Any]] = {
    "": {},
    "women": {"sex": ["female"]},
    "men": {"sex": ["male"]},
    "aged 40-64": {"age": {"min": 40, "max": 64}},
    "aged 65+": {"age": {"min": 65}},
    "aged 55-65": {"age": {"min": 55, "max": 65}},
}
ANALYSES: list[tuple[str, dict[str, Any]]] = [
    ("count", {}),
    ("summary", {"variable": "age"}),
    ("summary", {"variable": "bmi"}),
    ("crosstab", {"rows": "smoker"}),
]


def session() -> list[tuple[str, str, dict[str, Any]]]:
    """(label, analysis, parameters) for each question of the session, in order: a cohort of
    each condition or drug, its subgroups, and the analyses of each."""
    asked = []
    bases = [("condition", n, c) for n, c in CONDITIONS.items()]
    bases += [("drug", n, c) for n, c in DRUGS.items()]
    for domain, name, concept in bases:
        for sub, extra in SUBGROUPS.items():
            label = f"{name} {sub}".strip()
            cohort = {
                "name": label,
                "criteria": [{"domain": domain, "concepts": [concept]}],
                **extra,
            }
            for analysis, parameters in ANALYSES[: 4 if not sub else 2]:
                asked.append((label, analysis, {"cohort": cohort, **parameters}))
    return asked


# --- the oracle: what released counts give away, from the definition --------------------------


def spans(matrix: np.ndarray, vector: np.ndarray) -> bool:
    rank = np.linalg.matrix_rank
    return bool(rank(np.column_stack([matrix, vector])) == rank(matrix))


@cache
def groups_for(signatures: tuple[tuple[bool, ...], ...]) -> tuple[frozenset[int], ...]:
    """For populations whose non-empty regions have these signatures (membership per
    population), the unions of regions whose counts follow from all of them, holding no
    population whole: each as a set of region indices."""
    matrix = np.array(signatures, dtype=float)
    found = []
    whole = [{i for i, s in enumerate(signatures) if s[p]} for p in range(len(signatures[0]))]
    for size in range(1, len(signatures) + 1):
        for chosen in combinations(range(len(signatures)), size):
            if any(w and w <= set(chosen) for w in whole):
                continue
            vector = np.isin(np.arange(len(signatures)), chosen).astype(float)
            if spans(matrix, vector):
                found.append(frozenset(chosen))
    return tuple(found)


def regions(populations: list[AbstractBitMap]) -> dict[tuple[bool, ...], int]:
    """The non-empty regions of the populations' Venn diagram and their sizes, found by
    explicit set operations."""
    sizes: dict[tuple[bool, ...], int] = {}
    union = BitMap.union(*populations)
    for signature in np.ndindex(*(2,) * len(populations)):
        inside = [p for p, s in zip(populations, signature, strict=True) if s]
        if not inside:
            continue
        region = BitMap.intersection(*inside) if len(inside) > 1 else BitMap(inside[0])
        for p, s in zip(populations, signature, strict=True):
            if not s:
                region -= p
        region &= union
        if region:
            sizes[tuple(bool(s) for s in signature)] = len(region)
    return sizes


def justified(new: AbstractBitMap, released: list[AbstractBitMap], t: int) -> bool:
    """Does a group of 1..t-1 persons follow from ``new`` with at most two released
    populations, or from a population and three or more released ones inside it?"""
    earlier: list[AbstractBitMap] = []
    for r in released:
        if r and all(r != e for e in earlier):
            earlier.append(r)
    if any(new == e for e in earlier):
        return False
    sets_to_try = [[new, a] for a in earlier]
    sets_to_try += [[new, a, b] for a, b in combinations(earlier, 2) if new & a or new & b]
    for populations in sets_to_try:
        sizes = regions(populations)
        names = tuple(sorted(sizes))
        for group in groups_for(names):
            if 1 <= sum(sizes[names[i]] for i in group) < t:
                return True
    for target in [new] + [e for e in earlier if new <= e]:
        parts = [p for p in [new, *earlier] if p is not target and p <= target and p != target]
        if len(parts) < 3:
            continue
        rest = target - BitMap.union(*parts)
        if 1 <= len(rest) < t:
            sizes = regions([target, *parts])
            names = tuple(sorted(sizes))
            matrix = np.array(names, dtype=float)
            vector = np.array([not any(n[1:]) for n in names], dtype=float)
            if spans(matrix, vector):
                return True
    return False


# --- the node, watched where it checks differencing -------------------------------------------


@dataclass
class Check:
    new: AbstractBitMap
    released: list[AbstractBitMap]
    refused: bool


class Watched:
    """The node's check, recording every call (the rule under test is whatever is installed)."""

    def __init__(self) -> None:
        self.calls: list[Check] = []
        self.original: Callable[..., Any] = release_module.check_population

    def __call__(self, new: AbstractBitMap, released: Any, threshold: int) -> Any:
        verdict = self.original(new, released, threshold)
        self.calls.append(Check(new, [r.persons for r in released], not verdict.passed))
        return verdict


def ask(db: Any, store: InMemoryPersonSetStore, n: int, analysis: str, params: dict) -> str:
    task = TaskPayload(
        task_id=f"t{n}",
        project_id=PROJECT,
        project_version=1,
        requester="researcher",
        analysis=analysis,
        parameters=params,
        targets=["n"],
        issued_at=NOW,
        expires_at=NOW + timedelta(minutes=5),
    )
    outcome = run_task(task, db, DEFAULT, store)
    remember(store, n, outcome)
    return outcome.status if outcome.reason is None else outcome.reason.value


def remember(store: InMemoryPersonSetStore, n: int, outcome: Any) -> None:
    if outcome.release is not None and outcome.output is not None:
        released = outcome.release
        for i, persons in enumerate((released.persons, *released.also)):
            key = released.output_key if i == 0 else f"{released.output_key}#{i}"
            store.record(PROJECT, key, f"run-{n}", persons, outcome.output)


def release_persons(store: InMemoryPersonSetStore, key: str, persons: AbstractBitMap) -> bool:
    """An attack's step with a population our cohort language cannot ask for (a union): the
    node's own gate, differencing and memory, as the red-team tracker test does."""
    outcome = gate(
        PROJECT,
        key,
        REGISTRY["count"],
        Computed(persons, CountEvidence(len(persons))),
        DEFAULT,
        store,
    )
    if outcome.release is not None and outcome.output is not None:
        store.record(PROJECT, key, f"run-{key}", persons, outcome.output)
        return True
    return False


def attacks(db: Any) -> dict[str, list[AbstractBitMap]]:
    """Each attack as the populations asked for in order; the last completes it."""

    def persons(cohort: dict[str, Any]) -> BitMap:
        return cohort_person_set(db, Cohort.model_validate({"name": "x", **cohort}))

    everyone = persons({})
    top = next(
        a for a in range(120, 0, -1) if 1 <= len(everyone - persons({"age": {"max": a}})) < T
    )
    old = everyone - persons({"age": {"max": top}})  # the small target: the oldest few
    women = persons({"sex": ["female"], "age": {"max": top}})
    men = persons({"sex": ["male"], "age": {"min": 40, "max": top}})
    young_men = persons({"sex": ["male"], "age": {"max": 39}})
    a = women | old
    b = men | old  # a and b overlap in the small group only
    pa, pb, pc = women, men, young_men
    return {
        "subset: everyone, then all but the oldest": [everyone, everyone - old],
        "tracker: padding, then padding + target": [women, women | old],
        "tracker: padded first": [women | old, women],
        "tracker split over two paddings": [pa, pb, pa | pb | old],
        "tracker over three paddings (cover)": [pa, pb, pc, pa | pb | pc | old],
        "three paddings, padded first (cover)": [pa | pb | pc | old, pa, pb, pc],
        "a union reveals the overlap of its parts": [a, b, a | b],
        "three pairwise overlaps (half a sum)": [a, b, women | men],
    }


ATTACK_STEPS: dict[str, list[AbstractBitMap]] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=3000)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    logging.getLogger("fivesafes").setLevel(logging.ERROR)  # each refusal's warning
    watched = Watched()
    release_module.check_population = watched  # the node's call, recorded
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cdm.duckdb"
        generate(path, args.persons, 7, "default")
        with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
            store = InMemoryPersonSetStore()
            outcomes: dict[str, int] = {}
            started = time.perf_counter()
            asked = session()
            for n, (_, analysis, params) in enumerate(asked):
                status = ask(db, store, n, analysis, params)
                outcomes[status] = outcomes.get(status, 0) + 1
            elapsed = time.perf_counter() - started
            session_checks = list(watched.calls)
            refused = [c for c in session_checks if c.refused]
            false = [c for c in refused if not justified(c.new, c.released, T)]
            attack_results = {}
            ATTACK_STEPS.update(attacks(db))
            for name, steps in ATTACK_STEPS.items():
                attack_store = InMemoryPersonSetStore()
                for s in store.released_sets(PROJECT):
                    attack_store.record(PROJECT, s.output_key, s.run_id, s.persons, {})
                done = [
                    release_persons(attack_store, f"{name}-{i}", p) for i, p in enumerate(steps)
                ]
                attack_results[name] = done.index(False) + 1 if False in done else 0
    source = Path(release_module.__file__).parent
    found = subprocess.run(
        ["git", "-C", str(source), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    rule = found.stdout.strip() or "unknown"
    report = body(
        args.persons, asked, outcomes, session_checks, refused, false, attack_results, elapsed, rule
    )
    print(report)
    if not args.no_record:
        update_section("differencing", report)


def body(
    persons: int,
    asked: list[tuple[str, str, dict[str, Any]]],
    outcomes: dict[str, int],
    checks: list[Check],
    refused: list[Check],
    false: list[Check],
    attack_results: dict[str, int],
    elapsed: float,
    rule: str,
) -> str:
    load = os.getloadavg()[0]
    blocked = sum(1 for step in attack_results.values() if step)
    lines = [
        "## Differencing: false refusals in a research session, and attacks",
        "",
        f"`benchmarks/bench_differencing.py`, {datetime.now(UTC):%Y-%m-%d}, {machine()}, "
        f"load {load:.2f}; the rule of commit `{rule}`.",
        "",
        f"One project, one synthetic site of {persons:,} persons, threshold {T}. The session: "
        f"{len(asked)} analyses (counts, summaries of age and BMI, crosstabs by smoking) of "
        f"{len({a[0] for a in asked})} distinct cohorts (7 conditions and 3 drugs, each whole, "
        "by sex and by three age bands), asked in order through the node's runner.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| outcomes | {', '.join(f'{k}: {v}' for k, v in sorted(outcomes.items()))} |",
        f"| differencing checks (released values) | {len(checks)} |",
        f"| refused by differencing | {len(refused)} |",
        f"| of those, justified by a group the oracle derives | {len(refused) - len(false)} |",
        f"| **false refusals** (goal 0) | **{len(false)}** |",
        f"| session time (runner, gate, differencing) | {elapsed:.1f} s |",
        f"| **attacks refused** (goal all) | **{blocked} of {len(attack_results)}** |",
        "",
        "| attack (after the session, same project) | refused at step |",
        "| --- | --- |",
        *(
            f"| {name} | {f'{step} of {len(ATTACK_STEPS[name])}' if step else '**never**'} |"
            for name, step in attack_results.items()
        ),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
