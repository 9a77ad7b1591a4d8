"""How fast the command line starts: ``fivesafes --help``, each group's help, and a count from
the command line against the same count from Python.

    .venv/bin/python benchmarks/bench_cli_start.py                     # this tree
    .venv/bin/python benchmarks/bench_cli_start.py --compare /tmp/cli_base/src --no-docs

Every figure is the wall time of a new ``fivesafes`` process (the installed console script),
the median of --repeats runs taken in rounds, so that other work on a busy machine falls on
each command alike. With --compare, the other source tree (a ``git worktree`` of an older
commit) runs through ``PYTHONPATH`` in the same rounds. Each command runs with its bytecode
compiled (a ``PYTHONPYCACHEPREFIX`` warmed by one run, as ``scripts/install.sh`` leaves it)
and with none (an empty prefix, nothing written: every module compiled from source).

The count: a hub and --nodes node processes on loopback (``LocalFederation``, as
``bench_federated_count.py``), one researcher and one approved project; then, in rounds,
``fivesafes count`` (a new process), a new Python process calling ``Federation.count``, and
``Federation.count`` in this warm process. Rewrites only the ``cli-start`` section of
docs/benchmarks.md (see ``benchmarks/record.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_federated_count import NOTES, kept_notes, node_data, wait_until_online
from fivesafes.demo.cohorts import CT_CHEST_SMOKERS
from fivesafes.demo.local import LocalFederation
from fivesafes.demo.processes import Supervisor
from record import machine, update_section

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "cli-start"
FIVESAFES = Path(sys.executable).with_name("fivesafes")
HELP_GOAL = 0.5  # seconds, `fivesafes --help` (issue 13)
COUNT_GOAL = 0.5  # seconds a count from the command line may take beyond the same from Python
HELPS = [
    [],
    ["hub"],
    ["node"],
    ["airlock"],
    ["audit"],
    ["analyse"],
    ["sdc"],
    ["synth"],
    ["count"],
    ["analyse", "glm"],
]
HEAVY = [
    "pandas", "numpy", "ibis", "duckdb", "sqlalchemy", "sqlalchemy.orm", "alembic", "fastapi",
    "uvicorn", "httpx", "pydantic", "fivesafes.cohorts.compile", "fivesafes.hub.app",
]  # fmt: skip
PY_COUNT = (
    "import json, sys\n"
    "from fivesafes.client import Federation\n"
    "with Federation.from_file(sys.argv[1]) as fed:\n"
    "    fed.count(json.load(open(sys.argv[2])))\n"
)


class Tree:
    """A source tree the command runs from: this one (as installed) or another (PYTHONPATH)."""

    def __init__(self, label: str, src: Path | None, cache: Path) -> None:
        self.label, self.src = label, src
        self.compiled = cache / f"{label}-pyc"
        self.empty = cache / f"{label}-none"
        self.empty.mkdir(parents=True, exist_ok=True)

    def env(self, bytecode: bool) -> dict[str, str]:
        env = dict(os.environ, COLUMNS="100")
        if self.src is not None:
            env["PYTHONPATH"] = str(self.src)
        env["PYTHONPYCACHEPREFIX"] = str(self.compiled if bytecode else self.empty)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if not bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"  # the empty prefix stays empty
        return env

    def run(self, args: list[str], bytecode: bool, *, check: bool = True) -> float:
        started = time.perf_counter()
        done = subprocess.run(
            [str(FIVESAFES), *args], env=self.env(bytecode), capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
        if check and done.returncode != 0:
            raise RuntimeError(f"{self.label}: fivesafes {' '.join(args)}: {done.stderr[-500:]}")
        return seconds

    def imported(self, args: list[str]) -> tuple[int, list[str]]:
        """How many modules ``fivesafes ARGS`` imports, and which of HEAVY."""
        env = dict(self.env(bytecode=True), PYTHONPROFILEIMPORTTIME="1")
        done = subprocess.run([str(FIVESAFES), *args], env=env, capture_output=True, text=True)
        names = {
            line.rsplit("|", 1)[1].strip()
            for line in done.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        }
        names.discard("imported package")
        return len(names), [h for h in HEAVY if h in names]


def rounds(repeats: int, jobs: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Run every job once per round, ``repeats`` rounds: each job's times."""
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(repeats):
        for name, job in jobs.items():
            times[name].append(job())
    return times


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def spread(values: list[float]) -> str:
    return f"{s(statistics.median(values))} ({min(values):.2f} to {max(values):.2f})"


# ---- --help ----------------------------------------------------------------------------------


def measure_help(trees: list[Tree], repeats: int) -> tuple[dict[str, list[float]], list[str]]:
    for tree in trees:  # warm each compiled prefix once (and fail early on a broken tree)
        for args in HELPS:
            tree.run([*args, "--help"], bytecode=True)
    jobs: dict[str, Callable[[], float]] = {}
    for args in HELPS:
        for tree in trees:
            for bytecode in (True, False):
                key = f"{tree.label}|{bytecode}|{' '.join(args)}"
                jobs[key] = lambda t=tree, a=args, b=bytecode: t.run([*a, "--help"], b)
    times = rounds(repeats, jobs)
    lines = [
        "| command | "
        + " | ".join(f"{t.label}: bytecode | {t.label}: none | {t.label}: modules" for t in trees)
        + " |",
        "| --- |" + " ---: | ---: | --- |" * len(trees),
    ]
    for args in HELPS:
        cells = []
        for tree in trees:
            count, heavy = tree.imported([*args, "--help"])
            for bytecode in (True, False):
                cells.append(spread(times[f"{tree.label}|{bytecode}|{' '.join(args)}"]))
            cells.append(f"{count}{': ' + ', '.join(heavy) if heavy else ''}")
        lines.append(f"| `fivesafes {' '.join([*args, '--help'])}` | " + " | ".join(cells) + " |")
    return times, lines


# ---- a count -----------------------------------------------------------------------------------


def measure_count(trees: list[Tree], repeats: int, nodes: int, persons: int) -> list[str]:
    title, cohort = CT_CHEST_SMOKERS
    workdir = Path(tempfile.mkdtemp(prefix="fivesafes-bench-cli-"))
    try:
        data = node_data(workdir / "data", nodes, persons)
        names = [f"n{i:02d}" for i in range(1, nodes + 1)]
        with Supervisor() as supervisor:
            fed = LocalFederation(workdir / "federation", supervisor)
            fed.start_hub(name="bench-hub")
            for name, path in zip(names, data, strict=True):
                fed.add_node(name, {"engine": "duckdb", "path": str(path)})
            token = fed.researcher("alice")
            project = fed.project(["alice"], names, title="CLI start benchmark")
            connection = workdir / "connection.json"
            connection.write_text(
                json.dumps({"hub_url": fed.hub_url, "token": token, "project": project})
            )
            cohort_file = workdir / "cohort.json"
            cohort_file.write_text(json.dumps(cohort))
            with fed.federation(token, project) as client:
                wait_until_online(client, names, timeout=120)
                for _ in range(3):  # warm the hub and the nodes
                    client.count(cohort, timeout=60)
                cli = ["count", "--cohort", str(cohort_file), "--connection", str(connection)]
                for tree in trees:
                    tree.run(cli, bytecode=True)  # warm its prefix

                def in_process() -> float:
                    started = time.perf_counter()
                    client.count(cohort, timeout=60)
                    return time.perf_counter() - started

                def python_process() -> float:
                    started = time.perf_counter()
                    subprocess.run(
                        [sys.executable, "-c", PY_COUNT, str(connection), str(cohort_file)],
                        env=trees[0].env(bytecode=True),
                        check=True,
                        capture_output=True,
                    )
                    return time.perf_counter() - started

                jobs: dict[str, Callable[[], float]] = {
                    "in-process": in_process,
                    "python": python_process,
                }
                for tree in trees:
                    jobs[tree.label] = lambda t=tree: t.run(cli, bytecode=True)
                python_process()  # warm its prefix
                times = rounds(repeats, jobs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    warm = statistics.median(times["in-process"])
    lines = [
        f"A count of *{title}* over {nodes} nodes ({persons:,} synthetic persons each), "
        f"bytecode compiled, median of {repeats} (fastest to slowest):",
        "",
        "| how | wall time | beyond the warm Python count |",
        "| --- | ---: | ---: |",
        f"| `Federation.count()` in a warm Python process | {spread(times['in-process'])} | — |",
        f"| a new Python process: `Federation.from_file(…).count(…)` | "
        f"{spread(times['python'])} | {s(statistics.median(times['python']) - warm)} |",
    ]
    for tree in trees:
        extra = statistics.median(times[tree.label]) - warm
        verdict = "met" if extra <= COUNT_GOAL else "**missed**"
        lines.append(
            f"| `fivesafes count` ({tree.label}) | {spread(times[tree.label])} | {s(extra)} "
            f"(goal ≤ {COUNT_GOAL} s: {verdict}) |"
        )
    return lines


# ---- report ------------------------------------------------------------------------------------


def report(trees: list[Tree], help_lines: list[str], count_lines: list[str], repeats: int,
           loads: list[str], commit: str, notes: str) -> str:  # fmt: skip
    labels = ", ".join(
        f"*{t.label}*: "
        + ("this tree" if t.src is None else f"`PYTHONPATH={t.src}` (commit {revision(t.src)})")
        for t in trees
    )
    lines = [
        "## Command-line start (`benchmarks/bench_cli_start.py`)",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, this tree at commit {commit}",
        f"- machine: {machine()}",
        f"- load average (1 / 5 / 15 min) at the start, after `--help`, at the end: "
        f"{'; '.join(loads)}",
        f"- trees: {labels}",
        f"- each cell: the median wall time of {repeats} new `fivesafes` processes (fastest to "
        "slowest), taken in rounds; *bytecode*: compiled beforehand, as `scripts/install.sh` "
        "leaves an install; *none*: every module compiled from source on each start; "
        "*modules*: how many modules the command imports, and which heavy ones",
        f"- goal (issue 13): `fivesafes --help` under {HELP_GOAL} s",
        "",
        *help_lines,
    ]
    if count_lines:
        lines += ["", *count_lines]
    if notes.strip():
        lines += ["", NOTES, notes.strip()]
    return "\n".join(lines)


def revision(where: Path) -> str:
    """The commit checked out at ``where``, and whether its ``src`` has changes not committed."""
    git = ["git", "-C", str(where)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    changed = subprocess.run(
        [*git, "status", "--porcelain", "--", "."], capture_output=True, text=True
    )
    dirty = " with changes not committed" if changed.stdout.strip() else ""
    return f"{commit.stdout.strip() or 'unknown'}{dirty}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs of each command")
    parser.add_argument("--compare", type=Path, help="another source tree (its src folder)")
    parser.add_argument("--label", default="new", help="this tree's label")
    parser.add_argument("--compare-label", default="old", help="the other tree's label")
    parser.add_argument("--nodes", type=int, default=3, help="nodes for the count (0: no count)")
    parser.add_argument("--persons", type=int, default=2000, help="synthetic persons per node")
    parser.add_argument("--docs", type=Path, default=DOCS, help="markdown file to update")
    parser.add_argument("--no-docs", action="store_true", help="only print the figures")
    parser.add_argument(
        "--notes",
        type=Path,
        help="markdown file of findings appended to the section (default: keep the current)",
    )
    args = parser.parse_args(argv)

    cache = Path(tempfile.mkdtemp(prefix="fivesafes-bench-pyc-"))
    trees = [Tree(args.label, None, cache)]
    if args.compare is not None:
        trees.append(Tree(args.compare_label, args.compare.resolve(), cache))
    loads = [load()]
    try:
        _, help_lines = measure_help(trees, args.repeats)
        loads.append(load())
        count_lines = (
            measure_count(trees, args.repeats, args.nodes, args.persons) if args.nodes else []
        )
        loads.append(load())
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    commit = revision(ROOT / "src")
    notes = args.notes.read_text(encoding="utf-8") if args.notes else kept_notes(args.docs, SECTION)
    section = report(trees, help_lines, count_lines, args.repeats, loads, commit, notes)
    print(section)
    if not args.no_docs:
        update_section(SECTION, section, args.docs)
        print(f"\nupdated {args.docs}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
