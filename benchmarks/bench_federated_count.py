"""Time a warm federated count end to end, with 3 and with 20 nodes on loopback.

    .venv/bin/python benchmarks/bench_federated_count.py                  # 3 and 20 nodes
    .venv/bin/python benchmarks/bench_federated_count.py --nodes 3 --requests 20 --no-docs

Per federation size: a hub and N node processes (each with its own small synthetic OMOP
DuckDB file), one researcher and one project every custodian approved. After every node shows
online and a few warm-up counts, ``Federation.count()`` is called --requests times, one after
another (submit, then long-poll until complete). Prints median, p95, min and max, a breakdown
from the hub's own timestamps, and rewrites only the ``federated-count`` section of
docs/benchmarks.md (see ``benchmarks/record.py``).
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fivesafes.client import Federation
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import SITE_PROFILES, generate
from fivesafes.demo.cohorts import DEMO_COHORTS
from fivesafes.demo.local import LocalFederation
from fivesafes.demo.processes import Supervisor
from fivesafes.hub.config import HubSettings
from fivesafes.node.config import NodeSettings
from record import machine, update_section

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "federated-count"
GOALS = {3: 0.300, 20: 1.0}  # median seconds the platform aims for, by node count
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
    samples: list[Sample]
    setup_seconds: float
    online_seconds: float
    cpu: Cpu | None


# ---- /proc ---------------------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """user + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(all, idle + iowait) CPU ticks of the whole machine since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]


def cpu_during(supervisor: Supervisor, timed: Callable[[], T]) -> tuple[T, Cpu | None]:
    """Run ``timed()``; with /proc, also say how much CPU the hub and the nodes used."""
    try:
        pids = {s.name: s.process.pid for s in supervisor.services if s.alive()}
        before = {name: process_cpu(pid) for name, pid in pids.items()}
        ticks = machine_ticks()
    except OSError:
        return timed(), None
    client, started = time.process_time(), time.perf_counter()
    result = timed()
    wall, client = time.perf_counter() - started, time.process_time() - client
    used = {name: process_cpu(pid) - before[name] for name, pid in pids.items()}
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


def timed_count(client: Federation, cohort: dict[str, Any], expected: int) -> Sample:
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    try:
        result = client.count(cohort, timeout=60)
    except Exception as exc:
        return Sample(time.perf_counter() - started, ok=False, error=type(exc).__name__)
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
    )


def measure(
    root: Path, data: list[Path], cohort: dict[str, Any], requests: int, warmup: int
) -> Measurement:
    """Build a fresh federation of ``len(data)`` nodes under ``root`` and time the counts."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    names = [f"n{i:02d}" for i in range(1, len(data) + 1)]
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
            print(f"  all online {online:.1f} s later; warming up", file=sys.stderr)
            for _ in range(warmup):
                sample = timed_count(client, cohort, len(names))
                if not sample.ok:
                    raise RuntimeError(f"warm-up count failed: {sample.error}")
            wait_until_online(client, names, timeout=30)

            def timed() -> list[Sample]:
                samples = []
                for i in range(requests):
                    samples.append(timed_count(client, cohort, len(names)))
                    if (i + 1) % 25 == 0:
                        print(f"  {i + 1}/{requests}", file=sys.stderr)
                return samples

            samples, cpu = cpu_during(supervisor, timed)
            dead = [s.name for s in supervisor.services if not s.alive()]
            if dead:
                raise RuntimeError(f"processes died during the run: {', '.join(dead)}")
    return Measurement(len(names), samples, setup, online, cpu)


def node_query_seconds(path: Path, cohort: dict[str, Any], repeats: int = 20) -> float:
    """Median time of the node's own work (concept check + count) on one file, in-process."""
    from fivesafes.analyses.count import count_persons

    parsed = Cohort.model_validate(cohort)
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        count_persons(db, parsed)  # warm
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            count_persons(db, parsed)
            times.append(time.perf_counter() - started)
    return statistics.median(times)


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
        "| nodes | requests | failures | median ms | p95 ms | min ms | max ms | mean ms "
        "| goal (median) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for m in results:
        s = summary(m)
        goal = GOALS.get(m.nodes)
        verdict = (
            "—"
            if goal is None
            else f"< {ms(goal)} ms: {'met' if s['median'] < goal else '**missed**'}"
        )
        lines.append(
            f"| {m.nodes} | {len(m.samples)} | {s['failures']:.0f} | {ms(s['median'])} "
            f"| {ms(s['p95'])} | {ms(s['min'])} | {ms(s['max'])} | {ms(s['mean'])} | {verdict} |"
        )
    return lines


def breakdown(results: list[Measurement]) -> list[str]:
    lines = [
        "| nodes | first node result at hub | last node result at hub "
        "| last result → client has it |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for m in results:
        s = summary(m)
        lines.append(
            f"| {m.nodes} | {ms(s['first'])} ms | {ms(s['last'])} ms | {ms(s['tail'])} ms |"
        )
    return lines


def cpu_table(results: list[Measurement]) -> list[str]:
    cpus = os.cpu_count() or 1
    lines = [
        "| nodes | hub CPU per count | nodes' CPU per count (per node) "
        f"| ÷ {cpus} CPUs: lower bound | machine busy | of which this benchmark |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in results:
        if m.cpu is None:
            continue
        n = len(m.samples)
        hub, nodes = m.cpu.hub / n, m.cpu.nodes / n
        lines.append(
            f"| {m.nodes} | {ms(hub)} ms | {ms(nodes)} ms ({ms(nodes / m.nodes)} ms) "
            f"| {ms((hub + nodes) / cpus)} ms | {m.cpu.busy:.0%} | {m.cpu.ours:.0%} |"
        )
    return lines


def report(
    results: list[Measurement],
    *,
    persons: int,
    cohort_title: str,
    cohort: dict[str, Any],
    warmup: int,
    query_seconds: float,
    notes: str,
) -> str:
    hub, node = HubSettings(), NodeSettings(name="x", hub_url="http://127.0.0.1:1")
    criteria = ", ".join(c["domain"] for c in cohort["criteria"])
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
        f"- data: {persons:,} synthetic persons per node, each node its own DuckDB file "
        f"(`generate(path, {persons}, seed=node number, site)`, sites cycled through "
        f"{', '.join(SITES)})",
        f"- cohort: *{cohort_title}* (`DEMO_COHORTS`, criteria: {criteria})",
        f"- requests: one at a time, back to back, after every node showed online and "
        f"{warmup} warm-up counts; every result checked complete with every node `succeeded`",
        f"- poll settings (defaults): node `poll_wait_seconds` = {node.poll_wait_seconds}, hub "
        f"`max_poll_wait_seconds` = {hub.max_poll_wait_seconds}; a held long-poll (node or "
        "researcher) is woken in-process by the hub's notifier and re-checks the database at "
        f"least every 1 s; hub `sweep_interval_seconds` = {hub.sweep_interval_seconds:g}",
        f"- node's own work in-process (concept check + count on one file, warm, no HTTP): "
        f"median {ms(query_seconds)} ms",
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
            for m in results
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
    parser.add_argument("--requests", type=int, default=100, help="timed counts per size")
    parser.add_argument("--nodes", default="3,20", help="comma-separated federation sizes")
    parser.add_argument("--workdir", type=Path, help="kept afterwards (default: a temp dir)")
    parser.add_argument("--persons", type=int, default=2000, help="synthetic persons per node")
    parser.add_argument("--warmup", type=int, default=5, help="untimed counts first")
    parser.add_argument(
        "--cohort",
        type=int,
        default=1,
        choices=range(len(DEMO_COHORTS)),
        help="index into fivesafes.demo.cohorts.DEMO_COHORTS",
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
    title, cohort = DEMO_COHORTS[args.cohort]

    keep = args.workdir is not None
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="fivesafes-bench-"))).resolve()
    results = []
    try:
        print(f"generating data for up to {max(sizes)} nodes in {workdir}", file=sys.stderr)
        data = node_data(workdir / "data", max(sizes), args.persons)
        query_seconds = node_query_seconds(data[0], cohort)
        for size in sizes:
            print(f"{size} nodes:", file=sys.stderr)
            results.append(
                measure(workdir / f"federation-{size}", data[:size], cohort, args.requests,
                        args.warmup)
            )  # fmt: skip
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)

    section = report(
        results,
        persons=args.persons,
        cohort_title=title,
        cohort=cohort,
        warmup=args.warmup,
        query_seconds=query_seconds,
        notes=args.notes.read_text(encoding="utf-8") if args.notes else kept_notes(args.docs),
    )
    print(section)
    for m in results:
        for s in m.samples:
            if not s.ok:
                print(f"{m.nodes} nodes: failed request: {s.error}", file=sys.stderr)
    if not args.no_docs:
        update_section(SECTION, section, args.docs)
        print(f"\nupdated {args.docs}", file=sys.stderr)
    failed = any(not s.ok for m in results for s in m.samples)
    missed = any(summary(m)["median"] >= GOALS.get(m.nodes, float("inf")) for m in results)
    return 1 if failed or missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
