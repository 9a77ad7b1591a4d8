"""How long a node takes to count a typical cohort on a 1,000,000-person DuckDB CDM.

    .venv/bin/python benchmarks/bench_node_count.py [--persons N] [--workdir DIR] [--runs R]

The synthetic CDM is generated once into ``--workdir`` (kept between runs). The timed call
is ``count_persons`` exactly as a node runs it: concept check, compilation and execution. A
node keeps each query's compiled SQL (``fivesafes.data.compiled``), so the same cohort asked
again runs its SQL without building or compiling it; a new definition is compiled. Both are
timed: the cohort again (*warm*), and a new definition each run (the cohort with its first
criterion's window starting a day later each time, before any record: the same persons).
The figures are printed and written into docs/benchmarks.md between the markers
``<!-- bench:node-count -->`` and ``<!-- /bench:node-count -->``; the rest of that file
belongs to other benchmarks and is left alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import ibis

from fivesafes.analyses.count import count_persons
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import generate
from record import DOCS, machine, update_section

GOAL_SECONDS = 1.0
SEED = 20241123

TYPICAL = Cohort.model_validate(
    {
        "name": "smokers with a malignant neoplasm, 55-75, BMI 25-35",
        "age": {"min": 55, "max": 75},
        "criteria": [
            {"domain": "condition", "concepts": [443392], "descendants": True},
            {"domain": "observation", "concepts": [43054909], "value_concepts": [45881517]},
            {
                "domain": "measurement",
                "concepts": [3038553],
                "value": {"min": 25, "max": 35},
                "units": [9531],
            },
        ],
    }
)


def synthetic_cdm(workdir: Path, persons: int) -> tuple[Path, float | None]:
    """The cached CDM, generating it first when absent; and how long that took."""
    path = workdir / f"omop-{persons}-seed{SEED}.duckdb"
    if path.is_file():
        return path, None
    workdir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    generate(partial, persons=persons, seed=SEED)
    partial.rename(path)
    return path, time.perf_counter() - started


def moved(days: int) -> Cohort:
    """The cohort with its first criterion's window starting ``days`` after 1900-01-01: a new
    definition with the same persons (no record is that old)."""
    criteria = [c.model_dump(mode="json") for c in TYPICAL.criteria]
    criteria[0]["window"] = {"start": (date(1900, 1, 1) + timedelta(days=days)).isoformat()}
    return Cohort.model_validate({**TYPICAL.model_dump(mode="json"), "criteria": criteria})


def measure(path: Path, runs: int) -> tuple[int, float, list[float], list[float]]:
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        started = time.perf_counter()
        n = count_persons(db, TYPICAL)
        cold = time.perf_counter() - started
        warm, new = [], []
        for i in range(runs):
            started = time.perf_counter()
            assert count_persons(db, TYPICAL) == n
            warm.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert count_persons(db, moved(i)) == n
            new.append(time.perf_counter() - started)
    return n, cold, warm, new


def report(
    persons: int, n: int, cold: float, warm: list[float], new: list[float], made: float | None
) -> str:
    median = statistics.median(warm)
    verdict = "meets" if median < GOAL_SECONDS else "MISSES"
    lines = [
        "## Node: count persons in a cohort (DuckDB)",
        "",
        f"`benchmarks/bench_node_count.py`, run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on "
        f"{machine()}; duckdb {duckdb.__version__}, ibis {ibis.__version__}; load average "
        f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1 / 5 / 15 min) at the end.",
        "",
        f"Synthetic CDM of {persons:,} persons (`fivesafes.data.synth`, seed {SEED}), "
        "opened read-only as a node opens it. The cohort: a malignant neoplasm (with "
        "descendants), aged 55-75 at its first diagnosis, a current smoker, and a BMI of "
        "25-35 kg/m². Timed: `count_persons` as a node calls it (concept check, compilation, "
        "execution). A node keeps each query's compiled SQL, so the same cohort asked again "
        "(*warm*) runs its SQL without building or compiling it; *a new definition* is the "
        "cohort with its first criterion's window starting a day later each run (the same "
        "persons), built and compiled every time.",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| persons in the cohort | {n:,} |",
        f"| first (cold) run | {cold:.3f} s |",
        f"| median of {len(warm)} warm runs | **{median:.3f} s** |",
        f"| fastest / slowest warm run | {min(warm):.3f} s / {max(warm):.3f} s |",
        f"| median of {len(new)} runs of a new definition | {statistics.median(new):.3f} s |",
        f"| goal | under {GOAL_SECONDS:.0f} s: {verdict} it |",
    ]
    if made is not None:
        lines.append(f"| generating the CDM (once, cached) | {made:.0f} s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/fivesafes-bench"))
    parser.add_argument("--runs", type=int, default=15, help="warm runs (at least 10)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    path, made = synthetic_cdm(args.workdir, args.persons)
    n, cold, warm, new = measure(path, max(args.runs, 10))
    section = report(args.persons, n, cold, warm, new, made)
    print(section)
    if not args.no_write:
        update_section("node-count", section)
        print(f"\nwritten to {DOCS}")


if __name__ == "__main__":
    main()
