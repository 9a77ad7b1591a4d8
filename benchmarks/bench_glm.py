"""Time a federated logistic regression (10 parameters) against statsmodels on the pooled rows.

    .venv/bin/python benchmarks/bench_glm.py                       # 3 nodes x 10k and 100k,
                                                                   # 10 nodes x 10k
    .venv/bin/python benchmarks/bench_glm.py --sizes 3x1000000,50x10000 --no-docs

For each size (nodes x persons per node): a hub and N node processes on loopback, each with its
own synthetic OMOP DuckDB file. The model is ``lung_cancer ~ age + sex + smoker + bmi + t2dm +
hypertension + copd + visits_past_year`` (binomial; an intercept and 9 covariate columns).
Measured:

- **cold**: the first fit (each node builds its analysis frame from OMOP, then every round);
- **warm**: the same fit again (the median of ``--warm`` fits). Each node answers every round of
  an identical question from its store of released answers, so this is the platform's own
  per-round cost: signing, leasing, long-poll wake-ups, result submission and the hub's IRLS
  step. The CPU the hub and the nodes used meanwhile is read from /proc, with how busy the whole
  machine was (other work on a shared machine slows the figures down);
- **statsmodels, end to end**: what the cold fit is compared with: the pooled rows' frames
  built from the same OMOP files by the platform's own variable builder (one file after the
  other, as one process holding the pooled data would) and ``sm.GLM(...).fit()`` on them;
- **statsmodels, fit only**: the fit on frames already built.

BLAS threads are pinned (``--blas-threads``, default 1) for every process alike: the script
re-runs itself with ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` set,
which the hub and node processes inherit. Unpinned, statsmodels took 0.05 s or 0.44-0.62 s on
the same 30,000 rows depending on how many threads OpenBLAS started on a busy machine.

The fit must equal statsmodels' (coefficients to 1e-8) with the same number of iterations; the
script fails loudly otherwise. Rewrites only the ``federated-glm`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import statsmodels.api as sm

from bench_federated_count import NOTES, Cpu, cpu_during, kept_notes, node_data, wait_until_online
from fivesafes.analyses.formula import Design, design, parse_formula
from fivesafes.analyses.variables import Frame, analysis_frame
from fivesafes.client import Federation
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.demo.local import LocalFederation
from fivesafes.demo.processes import Supervisor
from record import machine, update_section

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "federated-glm"
FORMULA = "lung_cancer ~ age + sex + smoker + bmi + t2dm + hypertension + copd + visits_past_year"
COHORT = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}
GOAL_PER_ROUND = 0.100  # seconds of platform overhead per round with 10 nodes
T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    nodes: int
    persons: int
    rounds: int
    iterations: int
    reference_iterations: int
    cold: float
    warm: float  # the median warm fit
    reference: float  # statsmodels' fit on frames already built
    reference_frames: float  # building the pooled rows' frames from OMOP
    max_relative_difference: float
    cpu: Cpu | None  # during the warm fits

    @property
    def reference_end_to_end(self) -> float:
        return self.reference_frames + self.reference

    @property
    def per_round(self) -> float:
        return self.warm / self.rounds


# ---- shared with bench_cox.py ----------------------------------------------------------------


BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def pin_blas_threads(threads: int) -> None:
    """Run this script again with every BLAS library limited to ``threads`` threads, unless
    it already is; the hub and node processes it starts inherit the setting. (numpy reads
    these variables once, when it is first imported, so this process cannot change its own.)"""
    wanted = str(threads)
    if all(os.environ.get(name) == wanted for name in BLAS_VARIABLES):
        return
    os.environ.update(dict.fromkeys(BLAS_VARIABLES, wanted))
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, *sys.argv])


def node_frames(paths: list[Path], formula: str) -> list[tuple[Frame, Design]]:
    """Each node's analysis frame and design, built by the platform's own variable builder
    (the rows a pooled reference fit sees)."""
    parsed = parse_formula(formula)
    frames = []
    for path in paths:
        with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
            frame = analysis_frame(db, Cohort.model_validate(COHORT), parsed.variables)
        frames.append((frame, design(frame.columns, parsed)))
    return frames


@contextmanager
def running_federation(
    root: Path, paths: list[Path], title: str
) -> Iterator[tuple[Federation, Supervisor]]:
    """A hub and one node process per data file (``n01``, ``n02``, ...), a researcher and a
    project every custodian approved; yields the researcher's client once every node is online."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    names = [f"n{i:02d}" for i in range(1, len(paths) + 1)]
    with Supervisor() as supervisor:
        fed = LocalFederation(root, supervisor)
        fed.start_hub(name="bench-hub")
        for name, path in zip(names, paths, strict=True):
            fed.add_node(name, {"engine": "duckdb", "path": str(path)})
        token = fed.researcher("alice")
        project = fed.project(["alice"], names, title=title)
        with fed.federation(token, project) as client:
            wait_until_online(client, names, timeout=120 + 10 * len(paths))
            yield client, supervisor


def timed(fit: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = fit()
    return result, time.perf_counter() - started


def cold_and_warm(
    fit: Callable[[], T], supervisor: Supervisor, warm_fits: int
) -> tuple[T, float, float, Cpu | None]:
    """The first fit (cold) and ``warm_fits`` more: the cold result and seconds, the median
    warm seconds, and (with /proc) the CPU used per warm fit."""
    cold, cold_seconds = timed(fit)
    warm, cpu = cpu_during(supervisor, lambda: [timed(fit)[1] for _ in range(warm_fits)])
    if cpu is not None:
        cpu = Cpu(*(v / warm_fits for v in (cpu.hub, cpu.nodes, cpu.client, cpu.wall)), cpu.busy)
    return cold, cold_seconds, statistics.median(warm), cpu


def max_relative_difference(ours: Any, reference: Any) -> float:
    ours, reference = np.asarray(ours, dtype=float), np.asarray(reference, dtype=float)
    return float(np.max(np.abs(ours - reference) / np.abs(reference)))


def cpu_note(cpu: Cpu | None, rounds: int) -> str:
    """Hub and nodes' CPU per round of the warm fits, and how busy the machine was."""
    if cpu is None:
        return "n/a"
    return (
        f"hub {1000 * cpu.hub / rounds:.0f} ms, nodes {1000 * cpu.nodes / rounds:.0f} ms; "
        f"machine {100 * cpu.busy:.0f}% busy, {100 * cpu.ours:.0f}% this benchmark"
    )


def command_line(doc: str, default_sizes: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--sizes", default=default_sizes, help="nodes x persons, comma-separated")
    parser.add_argument("--warm", type=int, default=3, help="warm fits (their median is shown)")
    parser.add_argument("--workdir", type=Path, help="kept afterwards (default: a temp dir)")
    parser.add_argument("--no-docs", action="store_true", help="only print the figures")
    parser.add_argument(
        "--blas-threads", type=int, default=1, help="BLAS threads of every process (default 1)"
    )
    args = parser.parse_args()
    pin_blas_threads(args.blas_threads)
    return args


R = TypeVar("R")


def each_size(
    args: argparse.Namespace,
    measure: Callable[[Path, Path, int, int, int], R],
    table: Callable[[list[R]], str],
    name: str,
) -> list[R]:
    """``measure(federation dir, data dir, nodes, persons, warm fits)`` for every size of
    ``--sizes``, printing each row as it comes; the data files are kept in ``--workdir``."""
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    work = args.workdir or Path(tempfile.mkdtemp(prefix=f"fivesafes-bench-{name}-"))
    rows: list[R] = []
    try:
        for nodes, persons in sizes:
            print(f"{nodes} nodes x {persons:,} persons", file=sys.stderr)
            rows.append(measure(work / f"{name}-{nodes}", work / "data", nodes, persons, args.warm))
            print(table(rows[-1:]), file=sys.stderr)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return rows


def measured(script: str, args: argparse.Namespace) -> str:
    """The line that says when, where and how a section's figures were measured."""
    return (
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine()}, with "
        f"`benchmarks/{script} --sizes {args.sizes} --warm {args.warm} --blas-threads "
        f"{args.blas_threads}`, all rows in one run; every process's BLAS limited to "
        f"{args.blas_threads} thread{'s' if args.blas_threads != 1 else ''}."
    )


# ---- the GLM ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    frames: float  # seconds to build the pooled rows' frames from OMOP
    fit: float  # seconds of statsmodels' fit on them
    iterations: int
    params: np.ndarray


def pooled_reference(paths: list[Path]) -> Reference:
    (built, frames) = timed(lambda: [d for _, d in node_frames(paths, FORMULA)])
    x, y = np.vstack([d.x for d in built]), np.concatenate([d.y for d in built])
    fit, seconds = timed(lambda: sm.GLM(y, x, family=sm.families.Binomial()).fit())
    return Reference(frames, seconds, int(fit.fit_history["iteration"]), fit.params)


def measure(root: Path, data_dir: Path, nodes: int, persons: int, warm_fits: int) -> Row:
    paths = node_data(data_dir, nodes, persons)
    with running_federation(root, paths, "GLM benchmark") as (client, supervisor):
        cold, cold_seconds, warm, cpu = cold_and_warm(
            lambda: client.glm(FORMULA, cohort=COHORT, family="binomial", timeout=1800),
            supervisor,
            warm_fits,
        )
    if not cold.ok or cold.rounds is None or cold.iterations is None:
        raise RuntimeError(f"the fit failed: {cold.error}")
    reference = pooled_reference(paths)
    difference = max_relative_difference(cold.params, reference.params)
    if difference > 1e-8 or cold.iterations != reference.iterations:
        raise RuntimeError(f"not the pooled fit: {difference:.1e}, {cold.iterations} iterations")
    return Row(
        nodes,
        persons,
        cold.rounds,
        cold.iterations,
        reference.iterations,
        cold_seconds,
        warm,
        reference.fit,
        reference.frames,
        difference,
        cpu,
    )


def table(rows: list[Row]) -> str:
    lines = [
        "| nodes | persons per node | rounds | iterations (statsmodels) | cold fit "
        "| statsmodels end to end (frames + fit) | statsmodels fit only | warm fit "
        "| platform cost per round | max rel. difference | CPU per warm round |",
        "| ----: | ---------------: | -----: | ------------------------ | -------: "
        "| ------------------------------------: | -------------------: | -------: "
        "| ----------------------: | ------------------: | ------------------ |",
    ]
    for r in rows:
        lines.append(
            f"| {r.nodes} | {r.persons:,} | {r.rounds} | {r.iterations} ({r.reference_iterations}) "
            f"| {r.cold:.2f} s | {r.reference_end_to_end:.2f} s ({r.reference_frames:.2f} + "
            f"{r.reference:.2f}) | {r.reference:.2f} s | {r.warm:.2f} s "
            f"| {1000 * r.per_round:.0f} ms | {r.max_relative_difference:.0e} "
            f"| {cpu_note(r.cpu, r.rounds)} |"
        )
    return "\n".join(lines)


def verdict(rows: list[Row]) -> str:
    ten = [r for r in rows if r.nodes == 10]
    if not ten:
        return "not measured in this run"
    worst = max(r.per_round for r in ten)
    if worst < GOAL_PER_ROUND:
        return f"met ({1000 * worst:.0f} ms)"
    return f"**not met** ({1000 * worst:.0f} ms)"


def main() -> int:
    args = command_line(__doc__, "3x10000,3x100000,10x10000")
    rows = each_size(args, measure, table, "glm")
    body = "\n".join(
        [
            "## Federated GLM (logistic regression) against statsmodels",
            "",
            measured("bench_glm.py", args),
            "",
            f"Model: `{FORMULA}` (binomial, 10 parameters), everyone at 2020-01-01.",
            "Cold: the first fit, frames built from OMOP at every node (the nodes build theirs",
            "at the same time, on the machine's shared cores), then every round. Its like:",
            "statsmodels end to end, the same rows' frames built from the same OMOP files by the",
            "same builder, one file after the other, then `sm.GLM(...).fit()` on the pooled rows",
            "in one process; the fit alone is shown too. Warm: the same fit again",
            f"(median of {args.warm}), every round answered from the nodes' stores of released",
            "answers, so it is the platform's own cost per round (signing, leases, wake-ups,",
            "submission, hub step). All processes share the machine's cores; CPU per warm",
            "round is what the hub and all nodes used (from /proc), and how busy the whole",
            "machine was meanwhile",
            "(other work on a shared machine slows every figure down).",
            "",
            table(rows),
            "",
            f"Goal: the same iterations as statsmodels (met in every row above, or the script "
            f"fails); platform cost per round under {1000 * GOAL_PER_ROUND:.0f} ms with 10 nodes: "
            f"{verdict(rows)}.",
        ]
    )
    notes = kept_notes(DOCS, SECTION)
    if notes:  # written by hand below the marker; kept when the figures are rewritten
        body = f"{body}\n\n{NOTES}\n{notes}"
    print(body)
    if not args.no_docs:
        update_section(SECTION, body, DOCS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
