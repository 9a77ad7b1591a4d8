"""Time the synthetic OMOP generator and record the result in docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_synth.py              # 1,000,000 persons
    .venv/bin/python benchmarks/bench_synth.py --persons 100000 --no-docs

Prints persons/s and rows per table, then rewrites only the section between
``<!-- bench:synth -->`` and ``<!-- /bench:synth -->`` in docs/benchmarks.md
(:func:`update_section` is generic, so other benchmark scripts can share the file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from fivesafes.data.synth import SITE_PROFILES, generate

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "synth"
TARGET_SECONDS = 120.0


def update_section(path: Path, name: str, body: str, *, title: str = "# Benchmarks") -> None:
    """Replace the text between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``.

    Creates the file (with ``title``) or appends the section when it is missing; the
    rest of the file is left exactly as it was.
    """
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else f"{title}\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def machine() -> dict[str, str]:
    """nproc, CPU model and RAM of this machine."""
    cpu = platform.processor() or "unknown"
    ram = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "ram": ram}


def run(persons: int, seed: int, site: str, out: Path) -> tuple[float, dict[str, int]]:
    """Generate once; return (seconds, rows per table)."""
    started = time.perf_counter()
    counts = generate(out, persons, seed, site)
    return time.perf_counter() - started, counts


def report(persons: int, site: str, seconds: float, counts: dict[str, int], size: int) -> str:
    """The markdown section for docs/benchmarks.md."""
    info = machine()
    rows = sum(counts.values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    verdict = "meets" if seconds < TARGET_SECONDS else "MISSES"
    lines = [
        "## Synthetic data generation",
        "",
        f"`benchmarks/bench_synth.py`: `generate()` of {persons:,} persons (site `{site}`), "
        "including writing the DuckDB file.",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM",
        f"- software: Python {platform.python_version()}, numpy {np.__version__}, "
        f"duckdb {duckdb.__version__}",
        f"- **{seconds:.1f} s, {persons / seconds:,.0f} persons/s, "
        f"{rows / seconds:,.0f} rows/s** ({verdict} the {TARGET_SECONDS:.0f} s target)",
        f"- file size: {size / 1024**2:,.0f} MiB; peak memory (RSS): {peak:,.0f} MiB",
        "",
        "| table | rows |",
        "| --- | ---: |",
        *(f"| {table} | {n:,} |" for table, n in counts.items()),
        f"| **total** | **{rows:,}** |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--site", default="default", choices=sorted(SITE_PROFILES))
    parser.add_argument("--docs", type=Path, default=DOCS, help="markdown file to update")
    parser.add_argument("--no-docs", action="store_true", help="only print the figures")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.duckdb"
        seconds, counts = run(args.persons, args.seed, args.site, out)
        size = out.stat().st_size
    section = report(args.persons, args.site, seconds, counts, size)
    print(section)
    if not args.no_docs:
        update_section(args.docs, SECTION, section)
        print(f"\nupdated {args.docs}", file=sys.stderr)
    return 0 if seconds < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
