"""Time a federated Cox model stratified by node against lifelines on the pooled rows.

    .venv/bin/python benchmarks/bench_cox.py                       # 3 nodes x 100,000 persons
    .venv/bin/python benchmarks/bench_cox.py --sizes 3x10000 --no-docs

For each size (nodes x persons per node): a hub and N node processes on loopback, each with its
own synthetic OMOP DuckDB file (the same files as ``bench_glm.py``). The model is
``time_to_lung_cancer ~ age + sex + smoker + bmi + t2dm + hypertension + copd +
visits_past_year``, one stratum per node, fitted by the hub's Newton-Raphson over rounds
(``fed.coxph``). Measured:

- **cold**: the first fit (each node builds its analysis frame from OMOP, then every round);
- **warm**: the same fit again (median of ``--warm``), every round answered from the nodes'
  stores of released answers: the platform's own cost per round;
- **lifelines**: ``CoxPHFitter().fit(rows, duration, event, strata=["node"])`` on the pooled
  rows in this process (the rows built with the platform's own variable builder, not timed).

Ties: the federated fit uses Breslow's method, lifelines Efron's. They agree exactly when no
two events of a stratum share a time; the script counts such ties and, when there are any, also
fits statsmodels' ``PHReg(ties="breslow")`` as the like-for-like reference. Rewrites only the
``federated-cox`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from lifelines import CoxPHFitter

from bench_federated_count import Cpu, node_data
from bench_glm import (
    COHORT,
    cold_and_warm,
    command_line,
    cpu_note,
    each_size,
    max_relative_difference,
    measured,
    node_frames,
    running_federation,
)
from record import update_section

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "federated-cox"
FORMULA = (
    "time_to_lung_cancer ~ age + sex + smoker + bmi + t2dm + hypertension + copd + visits_past_year"
)
EVENT = "time_to_lung_cancer_event"  # the event column the variable builder adds
AGREE = 1e-6  # largest relative difference of a coefficient the script accepts


@dataclass(frozen=True)
class Reference:
    seconds: float
    iterations: int | None
    params: np.ndarray  # lifelines (Efron)
    rows: int
    events: int
    tied_events: int  # events sharing their time with another event of the same stratum
    breslow: np.ndarray | None  # statsmodels PHReg, Breslow ties (only when there are ties)


@dataclass(frozen=True)
class Row:
    nodes: int
    persons: int
    rounds: int
    iterations: int
    cold: float
    warm: float  # median
    cpu: Cpu | None  # per warm fit
    reference: Reference
    difference: float  # against lifelines
    difference_breslow: float | None

    @property
    def per_round(self) -> float:
        return self.warm / self.rounds


def pooled_rows(paths: list[Path]) -> tuple[pd.DataFrame, list[str]]:
    """The rows the federated fit uses, stacked, with each node as a stratum."""
    parts, names = [], []
    for number, (frame, built) in enumerate(node_frames(paths, FORMULA), start=1):
        names = list(built.columns[1:])  # no intercept in a Cox model
        part = pd.DataFrame(built.x[:, 1:], columns=names)
        part["T"] = built.y
        part["E"] = frame.columns[EVENT][built.used]
        part["node"] = f"n{number:02d}"
        parts.append(part)
    return pd.concat(parts, ignore_index=True), names


def lifelines_reference(rows: pd.DataFrame, names: list[str]) -> Reference:
    progress = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(progress):
        fitted = CoxPHFitter().fit(rows, "T", "E", strata=["node"], show_progress=True)
    seconds = time.perf_counter() - started
    found = re.search(r"Convergence success after (\d+) iterations", progress.getvalue())
    events = rows[rows["E"] == 1]
    tied = int(events.duplicated(["T", "node"], keep=False).sum())
    breslow = None
    if tied:
        breslow = np.asarray(
            sm.PHReg(rows["T"], rows[names], status=rows["E"], strata=rows["node"], ties="breslow")
            .fit()
            .params
        )
    return Reference(
        seconds,
        int(found.group(1)) if found else None,
        fitted.params_[names].to_numpy(),
        len(rows),
        len(events),
        tied,
        breslow,
    )


def measure(root: Path, data_dir: Path, nodes: int, persons: int, warm_fits: int) -> Row:
    paths = node_data(data_dir, nodes, persons)
    with running_federation(root, paths, "Cox benchmark") as (client, supervisor):
        cold, cold_seconds, warm, cpu = cold_and_warm(
            lambda: client.coxph(FORMULA, cohort=COHORT, timeout=1800), supervisor, warm_fits
        )
    if not cold.ok or cold.rounds is None or cold.iterations is None:
        raise RuntimeError(f"the fit failed: {cold.error}")
    rows, names = pooled_rows(paths)
    if cold.names != names:
        raise RuntimeError(f"not the same model: {cold.names} vs {names}")
    reference = lifelines_reference(rows, names)
    difference = max_relative_difference(cold.params, reference.params)
    breslow = (
        max_relative_difference(cold.params, reference.breslow)
        if reference.breslow is not None
        else None
    )
    if (breslow if breslow is not None else difference) > AGREE:
        raise RuntimeError(f"not the pooled fit: {difference:.1e} (Breslow: {breslow})")
    return Row(
        nodes,
        persons,
        cold.rounds,
        cold.iterations,
        cold_seconds,
        warm,
        cpu,
        reference,
        difference,
        breslow,
    )


def table(rows: list[Row]) -> str:
    lines = [
        "| nodes | persons per node | rows (events) | rounds | iterations (lifelines) "
        "| cold fit | warm fit | per warm round | lifelines pooled | cold ÷ lifelines "
        "| max rel. difference | CPU per warm round |",
        "| ----: | ---------------: | ------------: | -----: | ---------------------- "
        "| -------: | -------: | -------------: | ---------------: | ---------------: "
        "| ------------------- | ------------------ |",
    ]
    for r in rows:
        ref = r.reference
        iterations = "?" if ref.iterations is None else str(ref.iterations)
        difference = f"{r.difference:.0e} (Efron)"
        if r.difference_breslow is not None:
            difference += f", {r.difference_breslow:.0e} (Breslow)"
        lines.append(
            f"| {r.nodes} | {r.persons:,} | {ref.rows:,} ({ref.events:,}) | {r.rounds} "
            f"| {r.iterations} ({iterations}) | {r.cold:.2f} s | {r.warm:.2f} s "
            f"| {1000 * r.per_round:.0f} ms | {ref.seconds:.2f} s | {r.cold / ref.seconds:.1f}x "
            f"| {difference} | {cpu_note(r.cpu, r.rounds)} |"
        )
    return "\n".join(lines)


def ties(rows: list[Row]) -> str:
    counts = "; ".join(
        f"{r.nodes} x {r.persons:,}: {r.reference.tied_events:,} of {r.reference.events:,}"
        for r in rows
    )
    if all(r.reference.tied_events == 0 for r in rows):
        return (
            "No two events of a stratum share a time in these data, so Efron's and Breslow's "
            "likelihoods are the same and lifelines is a like-for-like reference."
        )
    return (
        f"Events sharing their time (days) with another event of their stratum: {counts}. "
        "The federated fit uses Breslow's method and lifelines Efron's, so they differ by the "
        "tie correction; the Breslow column compares with statsmodels' `PHReg(ties='breslow')` "
        "on the same pooled rows."
    )


def main() -> int:
    args = command_line(__doc__, "3x100000")
    rows = each_size(args, measure, table, "cox")
    body = "\n".join(
        [
            "## Federated Cox model, stratified by node, against lifelines",
            "",
            measured("bench_cox.py", args),
            "",
            f"Model: `{FORMULA}`, one stratum per node, everyone at 2020-01-01 (persons without",
            "the event are censored at the end of their observation). Cold: the first fit, frames",
            "built from OMOP at every node. Warm: the same fit again (median of "
            f"{args.warm}), every round",
            "answered from the nodes' stores of released answers. lifelines:",
            '`CoxPHFitter().fit(rows, "T", "E", strata=["node"])` with its default options on the',
            "pooled rows in one process (built with the platform's variable builder, not timed).",
            "The federated fit runs Newton-Raphson at the hub, one round per step plus a last",
            "round for the fit at the final coefficients; lifelines' iterations are its own",
            "Newton-Raphson steps (from its progress output). All processes share the machine's",
            "cores.",
            "",
            table(rows),
            "",
            ties(rows),
        ]
    )
    print(body)
    if not args.no_docs:
        update_section(SECTION, body, DOCS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
