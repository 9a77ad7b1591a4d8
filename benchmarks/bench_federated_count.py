"""Time a warm federated count end to end, with 3 and with 20 nodes on loopback: counts the
nodes compute, and counts they answer from their stores of released answers.

    .venv/bin/python benchmarks/bench_federated_count.py                  # 3 and 20 nodes
    .venv/bin/python benchmarks/bench_federated_count.py --nodes 3 --requests 20 --no-docs
    .venv/bin/python benchmarks/bench_federated_count.py --modes computed,stored

Per federation size: a hub and N node processes (each with its own small synthetic OMOP
DuckDB file), one researcher and one project every custodian approved. After every node shows
online, for each mode a few untimed counts, then ``Federation.count()`` --requests times, one
after another (submit, then long-poll until complete). A node answers a question its project
was already given from its store of released answers, without computing; so each mode asks
differently (``MODES``):

- ``computed``: the same cohort, each request with a stricter gate setting that no count
  depends on (``dof_threshold``, a model's residual degrees of freedom): a new question to the
  store, so every node computes and releases it, while the cohort's SQL, compiled the first
  time, is reused (``fivesafes.data.compiled``);
- ``new``: a new definition each request: the cohort's first criterion has a window starting
  one day later each time, before any record (the same persons), so every node compiles it;
- ``stored``: the same question again: every node answers from its store.

For the computed modes the script checks that every node recorded one released person set
per request (``person_sets`` in its state database), and for ``stored`` none: the figures are
of the work they name. Prints median, p95, min and max, a breakdown from the hub's own
timestamps, and rewrites only the ``federated-count`` section of docs/benchmarks.md (see
``benchmarks/record.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fivesafes.client import Federation
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import SITE_PROFILES, generate
from fivesafes.demo.cohorts import CT_CHEST_SMOKERS, DEMO_COHORTS
from fivesafes.demo.local import LocalFederation
from fivesafes.demo.processes import Supervisor
from fivesafes.hub.config import HubSettings
from fivesafes.node.config import NodeSettings
from record import machine, update_section

COHORTS = [CT_CHEST_SMOKERS] + [
    (title, raw)
    for title, raw in DEMO_COHORTS
    if Cohort.model_validate(raw).data_domains() == {"omop"}  # these nodes hold no imaging
]
ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "federated-count"
GOALS = {("computed", 3): 0.050, ("stored", 3): 0.300, ("stored", 20): 1.0}
"""Median seconds the platform aims for, by mode and node count (issues 2 and 13)."""
MODES = {
    "computed": "computed, its SQL compiled before (a stricter `dof_threshold` each request)",
    "new": "computed, a new definition each request (compiled at every node)",
    "stored": "the same question again, answered from the nodes' stores",
}
FIRST_DAY = dt.date(1900, 1, 1)  # the "new" mode's windows start here and later (records: 2010-)
SITES = sorted(SITE_PROFILES)
NOTES = "<!-- notes: kept when rerun without --notes -->"
T = TypeVar("T")


@dataclass(frozen=True)
class Sample:
    """One timed count. Offsets are seconds from the moment ``count()`` was called; the
    node offsets come from the hub's ``finished_at`` of each run (same machine, same clock)."""

    seconds: float
    ok: bool
    first_result: float | None = None
    last_result: float | None = None
    error: str = ""
    released: frozenset[str] = frozenset()  # the nodes that released a value (not suppressed)
    suppressed: int = 0  # node answers that were suppressed (markers only: never stored)


@dataclass(frozen=True)
class Cpu:
    """CPU seconds used during the timed requests, from /proc (Linux)."""

    hub: float
    nodes: float
    client: float  # this script, the researcher's side
    wall: float
    busy: float  # share of all CPUs busy, by any process on the machine

    @property
    def ours(self) -> float:
        """Share of all CPUs used by this benchmark's processes (hub, nodes, client)."""
        return (self.hub + self.nodes + self.client) / (self.wall * (os.cpu_count() or 1))


@dataclass(frozen=True)
class Measurement:
    nodes: int
    mode: str
    samples: list[Sample]
    setup_seconds: float
    online_seconds: float
    cpu: Cpu | None
    released_sets: list[int]  # per node, person sets recorded during the timed requests


# ---- /proc ---------------------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """user + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of a process and each of its descendants, by process id: a node runs its
    analyses in a worker process, a child of its forkserver, itself a child of the node."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    tree, found = {pid}, True
    while found:
        found = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                found = True
    used = {}
    for member in tree:
        try:
            used[member] = process_cpu(member)
        except OSError:
            continue
    return used


def machine_ticks() -> tuple[int, int]:
    """(all, idle + iowait) CPU ticks of the whole machine since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]


def cpu_during(supervisor: Supervisor, timed: Callable[[], T]) -> tuple[T, Cpu | None]:
    """Run ``timed()``; with /proc, also say how much CPU the hub and the nodes used (each
    with its child processes)."""
    try:
        pids = {s.name: s.process.pid for s in supervisor.services if s.alive()}
        before = {name: tree_cpu(pid) for name, pid in pids.items()}
        ticks = machine_ticks()
    except OSError:
        return timed(), None
    client, started = time.process_time(), time.perf_counter()
    result = timed()
    wall, client = time.perf_counter() - started, time.process_time() - client
    used = {}
    for name, pid in pids.items():
        after = tree_cpu(pid)
        used[name] = sum(cpu - before[name].get(member, 0.0) for member, cpu in after.items())
    total, idle = (a - b for a, b in zip(machine_ticks(), ticks, strict=True))
    hub = used.pop("hub", 0.0)
    return result, Cpu(hub, sum(used.values()), client, wall, 1 - idle / max(total, 1))


# ---- data and federation --------------------------------------------------------------------


def node_data(data_dir: Path, count: int, persons: int) -> list[Path]:
    """One DuckDB file per node (seed = node number, sites cycled); kept for reruns."""
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(1, count + 1):
        site = SITES[(i - 1) % len(SITES)]
        path = data_dir / f"n{i:02d}-{site}-{persons}.duckdb"
        if not path.exists():
            partial = path.with_suffix(".partial")
            partial.unlink(missing_ok=True)
            generate(partial, persons, seed=i, site=site)
            partial.rename(path)
        paths.append(path)
    return paths


def wait_until_online(client: Federation, names: list[str], timeout: float) -> float:
    """Poll presence until every node shows online; return the seconds it took."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    online: set[str] = set()
    while time.monotonic() < deadline:
        online = {n.name for n in client.nodes() if n.online and n.last_seen_at is not None}
        if set(names) <= online:
            return time.perf_counter() - started
        time.sleep(0.2)
    missing = sorted(set(names) - online)
    raise RuntimeError(f"nodes not online after {timeout:.0f} s: {', '.join(missing)}")


def timed_count(
    client: Federation, cohort: dict[str, Any], expected: int, gate: dict[str, Any] | None = None
) -> Sample:
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    try:
        result = client.count(cohort, timeout=60, gate=gate)
    except Exception as exc:
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
        return Sample(time.perf_counter() - started, ok=False, error=error)
    seconds = time.perf_counter() - started
    view = client.task(result.task_id)  # not timed: the runs' finished_at for the breakdown
    finished = [
        (run.finished_at - started_at).total_seconds()
        for run in view.runs
        if run.finished_at is not None
    ]
    bad = [n.node for n in result.nodes if n.state != "succeeded"]
    ok = result.complete and not bad and len(result.nodes) == expected
    error = "" if ok else f"complete={result.complete} not succeeded={bad}"
    return Sample(
        seconds,
        ok,
        min(finished) if finished else None,
        max(finished) if finished else None,
        error,
        frozenset(n.node for n in result.nodes if n.state == "succeeded" and not n.suppressed),
        sum(n.state == "succeeded" and n.suppressed for n in result.nodes),
    )


class Questions:
    """The n-th question of each mode (see ``MODES``): the cohort and the gate it is asked
    with. Numbers run on across warm-up and timed requests, so a computed question is never
    asked twice."""

    def __init__(self, cohort: dict[str, Any]) -> None:
        self.cohort = cohort
        self.asked = 0

    def next(self, mode: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        self.asked += 1
        if mode == "computed":
            return self.cohort, {"dof_threshold": 1000 + self.asked}
        if mode == "new":
            return moved_window(self.cohort, self.asked), None
        return self.cohort, None


def moved_window(cohort: dict[str, Any], days: int) -> dict[str, Any]:
    """``cohort`` with its first criterion's window starting ``days`` after 1900-01-01: a new
    definition that finds the same persons (no record is that old)."""
    criteria = [dict(c) for c in cohort["criteria"]]
    start = (FIRST_DAY + dt.timedelta(days=days)).isoformat()
    criteria[0]["window"] = {**criteria[0].get("window", {}), "start": start}
    return {**cohort, "criteria": criteria}


def released_sets(root: Path, names: list[str]) -> list[int]:
    """How many released person sets each node's state database holds (read-only)."""
    counts = []
    for name in names:
        path = root / name / "node.db"
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            counts.append(int(con.execute("SELECT count(*) FROM person_sets").fetchone()[0]))
    return counts


def measure(
    root: Path,
    data: list[Path],
    cohort: dict[str, Any],
    requests: int,
    warmup: int,
    modes: list[str],
) -> list[Measurement]:
    """Build a fresh federation of ``len(data)`` nodes under ``root`` and time the counts of
    each mode."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    names = [f"n{i:02d}" for i in range(1, len(data) + 1)]
    measured = []
    questions = Questions(cohort)
    with Supervisor() as supervisor:
        started = time.perf_counter()
        fed = LocalFederation(root, supervisor)
        fed.start_hub(name="bench-hub")
        for name, path in zip(names, data, strict=True):
            fed.add_node(name, {"engine": "duckdb", "path": str(path)})
        token = fed.researcher("alice")
        project = fed.project(["alice"], names, title="Federated count benchmark")
        setup = time.perf_counter() - started
        print(f"  {len(names)} nodes set up in {setup:.1f} s", file=sys.stderr)
        with fed.federation(token, project) as client:
            online = wait_until_online(client, names, timeout=120 + 10 * len(names))
            print(f"  all online {online:.1f} s later", file=sys.stderr)
            for mode in modes:
                print(f"  {mode}: warming up", file=sys.stderr)
                for _ in range(warmup):
                    cohort_n, gate = questions.next(mode)
                    sample = timed_count(client, cohort_n, len(names), gate)
                    if not sample.ok:
                        raise RuntimeError(f"warm-up count failed: {sample.error}")
                wait_until_online(client, names, timeout=30)
                before = released_sets(root, names)

                def timed(mode: str = mode) -> list[Sample]:
                    samples = []
                    for i in range(requests):
                        cohort_n, gate = questions.next(mode)
                        samples.append(timed_count(client, cohort_n, len(names), gate))
                        if (i + 1) % 25 == 0:
                            print(f"  {mode} {i + 1}/{requests}", file=sys.stderr)
                    return samples

                samples, cpu = cpu_during(supervisor, timed)
                after = released_sets(root, names)
                grown = [b - a for a, b in zip(before, after, strict=True)]
                dead = [s.name for s in supervisor.services if not s.alive()]
                if dead:
                    raise RuntimeError(f"processes died during the run: {', '.join(dead)}")
                # a computed value a node released is recorded once; a suppressed answer
                # (markers only) is never recorded, nor answered from the store
                wanted = [
                    0 if mode == "stored" else sum(name in s.released for s in samples if s.ok)
                    for name in names
                ]
                if grown != wanted:
                    raise RuntimeError(
                        f"{mode}: nodes recorded {grown} released sets; expected {wanted}"
                    )
                measured.append(Measurement(len(names), mode, samples, setup, online, cpu, grown))
    return measured


def node_query_seconds(path: Path, cohort: dict[str, Any], repeats: int = 20) -> dict[str, float]:
    """Median times of the node's own work (concept check + the cohort's persons) on one
    file, in-process: a definition compiled before, and a new one each time."""
    from fivesafes.analyses.count import cohort_person_set

    parsed = Cohort.model_validate(cohort)
    times: dict[str, list[float]] = {"computed": [], "new": []}
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        cohort_person_set(db, parsed)  # warm
        for i in range(repeats):
            for mode, asked in (("computed", parsed), ("new", moved(cohort, i))):
                started = time.perf_counter()
                cohort_person_set(db, asked)
                times[mode].append(time.perf_counter() - started)
    return {mode: statistics.median(values) for mode, values in times.items()}


def moved(cohort: dict[str, Any], n: int) -> Cohort:
    return Cohort.model_validate(moved_window(cohort, 20_000 + n))  # 1954 and later


# ---- figures --------------------------------------------------------------------------------


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def summary(m: Measurement) -> dict[str, float]:
    ok = [s for s in m.samples if s.ok]
    seconds = [s.seconds for s in ok] or [float("nan")]
    first = [s.first_result for s in ok if s.first_result is not None] or [float("nan")]
    last = [s.last_result for s in ok if s.last_result is not None] or [float("nan")]
    tail = [s.seconds - s.last_result for s in ok if s.last_result is not None] or [float("nan")]
    return {
        "median": statistics.median(seconds),
        "p95": p95(seconds) if len(seconds) > 1 else seconds[0],
        "min": min(seconds),
        "max": max(seconds),
        "mean": statistics.fmean(seconds),
        "first": statistics.median(first),
        "last": statistics.median(last),
        "tail": statistics.median(tail),
        "failures": float(len(m.samples) - len(ok)),
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def table(results: list[Measurement]) -> list[str]:
    lines = [
        "| nodes | answered | requests | failures | median ms | p95 ms | min ms | max ms "
        "| mean ms | goal (median) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for m in results:
        s = summary(m)
        goal = GOALS.get((m.mode, m.nodes))
        verdict = (
            "—"
            if goal is None
            else f"< {ms(goal)} ms: {'met' if s['median'] < goal else '**missed**'}"
        )
        lines.append(
            f"| {m.nodes} | {MODES[m.mode]} | {len(m.samples)} | {s['failures']:.0f} "
            f"| {ms(s['median'])} | {ms(s['p95'])} | {ms(s['min'])} | {ms(s['max'])} "
            f"| {ms(s['mean'])} | {verdict} |"
        )
    return lines


def breakdown(results: list[Measurement]) -> list[str]:
    lines = [
        "| nodes | answered | first node result at hub | last node result at hub "
        "| last result → client has it |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for m in results:
        s = summary(m)
        lines.append(
            f"| {m.nodes} | {m.mode} | {ms(s['first'])} ms | {ms(s['last'])} ms "
            f"| {ms(s['tail'])} ms |"
        )
    return lines


def cpu_table(results: list[Measurement]) -> list[str]:
    cpus = os.cpu_count() or 1
    lines = [
        "| nodes | answered | hub CPU per count | nodes' CPU per count (per node) "
        f"| ÷ {cpus} CPUs: lower bound | machine busy | of which this benchmark "
        "| person sets recorded per node | node answers suppressed |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in results:
        if m.cpu is None:
            continue
        n = len(m.samples)
        hub, nodes = m.cpu.hub / n, m.cpu.nodes / n
        recorded = " or ".join(str(g) for g in sorted(set(m.released_sets)))
        suppressed = sum(s.suppressed for s in m.samples)
        lines.append(
            f"| {m.nodes} | {m.mode} | {ms(hub)} ms | {ms(nodes)} ms ({ms(nodes / m.nodes)} ms) "
            f"| {ms((hub + nodes) / cpus)} ms | {m.cpu.busy:.0%} | {m.cpu.ours:.0%} "
            f"| {recorded} | {suppressed:,} of {n * m.nodes:,} |"
        )
    return lines


def report(
    results: list[Measurement],
    *,
    persons: int,
    cohort_title: str,
    cohort: dict[str, Any],
    warmup: int,
    query_seconds: dict[str, float],
    load: list[tuple[float, float, float]],
    notes: str,
) -> str:
    hub, node = HubSettings(), NodeSettings(name="x", hub_url="http://127.0.0.1:1")
    criteria = ", ".join(c["domain"] for c in cohort["criteria"])
    loads = "; ".join(" / ".join(f"{x:.2f}" for x in triple) for triple in load)
    lines = [
        "## Federated count, end to end",
        "",
        "`benchmarks/bench_federated_count.py`: wall time of `Federation.count()` (submit the "
        "task, then long-poll the hub until it is complete) against a warm federation of a hub "
        "and N node processes on loopback (HTTP, SQLite state at the hub and every node), "
        "built with `fivesafes.demo.local.LocalFederation`.",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- load average (1 / 5 / 15 min) at the start and the end: {loads}",
        f"- data: {persons:,} synthetic persons per node, each node its own DuckDB file "
        f"(`generate(path, {persons}, seed=node number, site)`, sites cycled through "
        f"{', '.join(SITES)})",
        f"- cohort: *{cohort_title}* (`fivesafes.demo.cohorts`, criteria: {criteria})",
        "- answered: a node answers a question its project was already given from its store "
        "of released answers, without computing. *computed, its SQL compiled before*: the "
        "same cohort, each request with a stricter `dof_threshold` (a setting no count "
        "depends on), so a new question that every node computes, gates, checks for "
        "differencing and records, reusing the cohort's compiled SQL; *a new definition*: "
        "the first criterion's window starts a day later each request, before any record "
        "(the same persons), so every node also builds and compiles the query; *the same "
        "question again*: every node answers from its store. Every node's state database "
        "is checked to have recorded one released person set per value it released in a "
        "computed request and none in the stored ones (the CPU table's last columns). A "
        "suppressed answer (markers only) is neither recorded nor stored, so a node whose "
        "count is below its threshold computes it in every mode",
        f"- requests: one at a time, back to back, after every node showed online and "
        f"{warmup} untimed counts of the same mode; every result checked complete with every "
        "node `succeeded`",
        f"- poll settings (defaults): node `poll_wait_seconds` = {node.poll_wait_seconds}, hub "
        f"`max_poll_wait_seconds` = {hub.max_poll_wait_seconds}; a held long-poll (node or "
        "researcher) is woken in-process by the hub's notifier and re-checks the database at "
        f"least every 1 s; hub `sweep_interval_seconds` = {hub.sweep_interval_seconds:g}",
        "- node's own work in-process (concept check + the cohort's persons on one file, "
        f"warm, no HTTP): median {ms(query_seconds['computed'])} ms for a definition compiled "
        f"before, {ms(query_seconds['new'])} ms for a new one",
        "",
        *table(results),
        "",
        "Where the time goes (medians over the successful requests; offsets from the call "
        "to `count()`, node results timed by the hub's `finished_at` of each run):",
        "",
        *breakdown(results),
        "",
        "CPU used by the service processes during the timed requests (from /proc; the lower "
        "bound is what that CPU work alone takes if spread perfectly over every CPU of this "
        "machine, which the hub and nodes share here; machine busy minus this benchmark's "
        "share is other work running on the machine meanwhile):",
        "",
        *cpu_table(results),
        "",
        "Setup (not timed above): "
        + "; ".join(
            f"{m.nodes} nodes set up in {m.setup_seconds:.0f} s, online {m.online_seconds:.1f} s "
            "later"
            for m in {m.nodes: m for m in results}.values()
        )
        + ".",
    ]
    if notes.strip():
        lines += ["", NOTES, notes.strip()]
    return "\n".join(lines)


def kept_notes(path: Path, section: str = SECTION) -> str:
    """The notes of ``section`` as last written to ``path`` (empty if none)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start, end = f"<!-- bench:{section} -->", f"<!-- /bench:{section} -->"
    block = text.partition(start)[2].partition(end)[0]
    return block.partition(NOTES)[2].strip() if NOTES in block else ""


# ---- command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="timed counts per mode and size")
    parser.add_argument("--nodes", default="3,20", help="comma-separated federation sizes")
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"comma-separated, of: {', '.join(MODES)}"
    )
    parser.add_argument("--workdir", type=Path, help="kept afterwards (default: a temp dir)")
    parser.add_argument("--persons", type=int, default=2000, help="synthetic persons per node")
    parser.add_argument("--warmup", type=int, default=5, help="untimed counts first, per mode")
    parser.add_argument(
        "--cohort",
        type=int,
        default=0,
        choices=range(len(COHORTS)),
        help="0: CT_CHEST_SMOKERS, then the demo's clinical cohorts (fivesafes.demo.cohorts)",
    )
    parser.add_argument("--docs", type=Path, default=DOCS, help="markdown file to update")
    parser.add_argument("--no-docs", action="store_true", help="only print the figures")
    parser.add_argument(
        "--notes",
        type=Path,
        help="markdown file of findings appended to the section (default: keep the current)",
    )
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.nodes.split(",") if n.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown modes: {', '.join(unknown)}")
    title, cohort = COHORTS[args.cohort]

    keep = args.workdir is not None
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="fivesafes-bench-"))).resolve()
    results: list[Measurement] = []
    load = [os.getloadavg()]
    try:
        print(f"generating data for up to {max(sizes)} nodes in {workdir}", file=sys.stderr)
        data = node_data(workdir / "data", max(sizes), args.persons)
        query_seconds = node_query_seconds(data[0], cohort)
        for size in sizes:
            print(f"{size} nodes:", file=sys.stderr)
            results += measure(workdir / f"federation-{size}", data[:size], cohort,
                               args.requests, args.warmup, modes)  # fmt: skip
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    load.append(os.getloadavg())

    section = report(
        results,
        persons=args.persons,
        cohort_title=title,
        cohort=cohort,
        warmup=args.warmup,
        query_seconds=query_seconds,
        load=load,
        notes=args.notes.read_text(encoding="utf-8") if args.notes else kept_notes(args.docs),
    )
    print(section)
    for m in results:
        for s in m.samples:
            if not s.ok:
                print(f"{m.nodes} nodes, {m.mode}: failed request: {s.error}", file=sys.stderr)
    if not args.no_docs:
        update_section(SECTION, section, args.docs)
        print(f"\nupdated {args.docs}", file=sys.stderr)
    failed = any(not s.ok for m in results for s in m.samples)
    missed = any(
        summary(m)["median"] >= GOALS.get((m.mode, m.nodes), float("inf")) for m in results
    )
    return 1 if failed or missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
