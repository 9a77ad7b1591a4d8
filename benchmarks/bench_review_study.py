"""Time a simulated review study of 500 cases, 6 readers at 3 hospitals (issue 17): allocating
its reads, and computing its results, against the reference implementations computing the same
statistics on the same answers, in the same run; record it in docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_review_study.py               # recorded
    .venv/bin/python benchmarks/bench_review_study.py --no-docs

**Allocation**: ``pathology.study.allocation.allocate`` on 500 cases (``--cases``), a third at
each of 3 hospitals, and 6 readers, two at each hospital, each case read by ``k`` readers never
of its own hospital, 10% re-read: median of repeated runs.

**Results**: a study simulated through the platform's own actions on the in-memory store
(``simulate.simulate_study``: every read submitted, the study locked), then
``results.agreement_table`` for the histological type (every pair of readers, each reader with
the AI, Fleiss' kappa, Krippendorff's alpha, each with a 1,000-resample bootstrap interval) and
``results.ai_quality`` per hospital and month; the reference: the same point estimates with
``sklearn.metrics.cohen_kappa_score``, ``statsmodels``' ``fleiss_kappa`` and the
``krippendorff`` package on the same answers (no intervals: they have none), and the same
estimates from our functions without intervals, so the bootstrap's share is seen.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

import krippendorff
import numpy as np
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from fivesafes.pathology.study import agreement as stats
from fivesafes.pathology.study import results
from fivesafes.pathology.study.allocation import Case, Reader, Rules, allocate
from fivesafes.pathology.study.forms import shipped_form
from fivesafes.pathology.study.simulate import simulate_study
from fivesafes.pathology.study.store import MemoryStudies
from record import machine, update_section

SITES = ("northfield", "lakeside", "riverside")
READERS = [(f"reader{i + 1}", SITES[i // 2], 0.05 + 0.05 * i) for i in range(6)]
PERIODS = [f"2026-{m:02d}" for m in range(1, 7)]


def timed(work: Callable[[], object], runs: int) -> tuple[float, float, float]:
    """Median, min and max seconds of ``runs`` calls."""
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), min(seconds), max(seconds)


def per_site(total: int) -> dict[str, int]:
    first = total - 2 * (total // 3)
    return {SITES[0]: first, SITES[1]: total // 3, SITES[2]: total // 3}


def allocation_rows(cases: int, runs: int) -> list[str]:
    counts = per_site(cases)
    made = [Case(f"C{site[:1]}{i:05d}", site) for site, n in counts.items() for i in range(n)]
    readers = [Reader(name, site) for name, site, _ in READERS]
    rows = []
    for k in (2, 3):
        rules = Rules(reads_per_case=k, exclude_own_site=True, reread_fraction=0.1, washout_days=14)
        median, low, high = timed(lambda r=rules: allocate(made, readers, r, seed=7), runs)
        loads = allocate(made, readers, rules, seed=7).load()
        rows.append(
            f"| {cases} | 6 at 3 | {k} | {1000 * median:.1f} ms | {1000 * low:.1f} / "
            f"{1000 * high:.1f} ms | {min(loads.values())} to {max(loads.values())} |"
        )
    return rows


def reference(answers: dict[str, dict[str, object]], ai: dict[str, object]) -> dict[str, object]:
    """The same point estimates with the reference packages, on the same answers."""
    codes = sorted({a for by in answers.values() for a in by.values() if a is not None})
    index = {c: i for i, c in enumerate(codes)}
    readers = sorted(answers)
    cases = sorted({c for by in answers.values() for c in by})
    found: dict[str, object] = {}
    for a, b in combinations(readers, 2):
        both = [c for c in cases if answers[a].get(c) is not None and answers[b].get(c) is not None]
        if len(both) < results.MIN_SHARED_CASES:
            continue
        found[f"{a}-{b}"] = cohen_kappa_score(
            [answers[a][c] for c in both], [answers[b][c] for c in both], labels=codes
        )
    for r in readers:
        both = [c for c in cases if answers[r].get(c) is not None and ai.get(c) is not None]
        found[f"{r}-AI"] = cohen_kappa_score(
            [answers[r][c] for c in both], [ai[c] for c in both], labels=codes
        )
    rows = [[index[answers[r][c]] for r in readers if answers[r].get(c) is not None] for c in cases]
    k = max(len(row) for row in rows)
    table, _ = aggregate_raters(np.array([row for row in rows if len(row) == k]))
    found["fleiss"] = fleiss_kappa(table)
    data = np.array(
        [[index[answers[r][c]] if answers[r].get(c) is not None else np.nan for c in cases]
         for r in readers], dtype=float,
    )  # fmt: skip
    found["alpha"] = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    return found


def ours(answers: dict[str, dict[str, object]], ai: dict[str, object]) -> dict[str, object]:
    """The same point estimates with our own functions (``agreement``), on the same answers."""
    codes = sorted({a for by in answers.values() for a in by.values() if a is not None})
    readers = sorted(answers)
    cases = sorted({c for by in answers.values() for c in by})
    found: dict[str, object] = {}
    for a, b in combinations(readers, 2):
        both = [c for c in cases if answers[a].get(c) is not None and answers[b].get(c) is not None]
        if len(both) < results.MIN_SHARED_CASES:  # two readers of one hospital: none shared
            continue
        found[f"{a}-{b}"] = stats.cohen_kappa(
            [answers[a][c] for c in both], [answers[b][c] for c in both], categories=codes
        )
    for r in readers:
        both = [c for c in cases if answers[r].get(c) is not None and ai.get(c) is not None]
        found[f"{r}-AI"] = stats.cohen_kappa(
            [answers[r][c] for c in both], [ai[c] for c in both], categories=codes
        )
    rows = [[answers[r][c] for r in readers if answers[r].get(c) is not None] for c in cases]
    k = max(len(row) for row in rows)
    found["fleiss"] = stats.fleiss_kappa([row for row in rows if len(row) == k], categories=codes)
    data = [[answers[r].get(c) for c in cases] for r in readers]
    found["alpha"] = stats.krippendorff_alpha(data, level="nominal", categories=codes)
    return found


def results_rows(cases: int, runs: int, resamples: int) -> tuple[list[str], str]:
    store = MemoryStudies()
    start = time.perf_counter()
    sim = simulate_study(
        store, cases_per_site=per_site(cases), readers=READERS, reads_per_case=3,
        exclude_own_site=True, ai_error_by_site={s: 0.1 for s in SITES}, periods=PERIODS,
        seed=11, ai_drift=("lakeside", "2026-05", 0.4),
    )  # fmt: skip
    simulated = time.perf_counter() - start
    form = shipped_form()
    sid, item = sim.study_id, "histological_type"
    ai = {case: sim.ai[item].get(case) for case in sim.period_of}
    table = lambda: results.agreement_table(  # noqa: E731
        store, sid, form, item=item, ai=ai, seed=5, resamples=resamples
    )
    quality = lambda: results.ai_quality(  # noqa: E731
        store, sid, form, item="tumour_present", ai={c: sim.ai["tumour_present"].get(c)
        for c in sim.period_of}, period_of=sim.period_of, positive="yes",
    )  # fmt: skip
    answers = results.answers_of(store, sid, item, "unaided")
    rows = []
    for name, work in (
        (f"agreement table, {resamples:,} bootstrap resamples per statistic", table),
        ("our point estimates alone (`agreement`: the same statistics)",
         lambda: ours(answers, ai)),
        ("AI quality per hospital and month (Wilson intervals, drift)", quality),
        ("reference: sklearn, statsmodels, krippendorff (point estimates)",
         lambda: reference(answers, ai)),
    ):  # fmt: skip
        median, low, high = timed(work, runs)
        rows.append(
            f"| {name} | {1000 * median:.1f} ms | {1000 * low:.1f} / {1000 * high:.1f} ms |"
        )
    mine, ref = ours(answers, ai), reference(answers, ai)
    worst = max(abs(float(mine[k]) - float(ref[k])) for k in ref)  # type: ignore[arg-type]
    check = (
        f"The simulated study ({cases} cases, every read through the platform's actions on the "
        f"in-memory store, locked) took {simulated:.1f} s to run. Our point estimates equal the "
        f"references' to {worst:.1e} at most."
    )
    return rows, check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    started = dt.datetime.now(dt.UTC)
    load = Path("/proc/loadavg").read_text().split()[:3]
    allocation = allocation_rows(args.cases, args.runs)
    computed, check = results_rows(args.cases, args.runs, args.resamples)
    body = "\n".join([
        "## Review study: allocation and results (`benchmarks/bench_review_study.py`)",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; machine: {machine()}; "
        f"load average at the start: {' / '.join(load)}",
        "- a study of the issue's size: 6 readers, two at each of 3 hospitals, never reading a "
        "case of their own hospital; the cases a third at each hospital; median of "
        f"{args.runs} runs (min / max)",
        "",
        "| cases | readers | reads per case | allocate | min / max | first reads per reader |",
        "| ---: | --- | ---: | ---: | ---: | --- |",
        *allocation,
        "",
        f"Results of a simulated study of {args.cases} cases, each read by 3 readers "
        "(`results`, the histological type; the AI's quality for carcinoma present):",
        "",
        "| computed | median | min / max |",
        "| --- | ---: | ---: |",
        *computed,
        "",
        check,
        "",
        "The portal's pages under 50 concurrent readers: `benchmarks/bench_study_portal.py` "
        "(its own section).",
    ])  # fmt: skip
    print(body)
    if not args.no_docs:
        update_section("review-study", body)
        print("updated docs/benchmarks.md")


if __name__ == "__main__":
    main()
