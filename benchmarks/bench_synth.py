"""Time the synthetic OMOP generator and record the result in docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_synth.py              # 1,000,000 persons
    .venv/bin/python benchmarks/bench_synth.py --persons 100000 --no-docs

Prints persons/s and rows per table, then rewrites only the section between
``<!-- bench:synth -->`` and ``<!-- /bench:synth -->`` in docs/benchmarks.md
(with :func:`record.update_section`, shared by every benchmark script).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from fivesafes.data.synth import SITE_PROFILES, generate
from record import machine_facts, peak_rss_mib, update_section

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "synth"
TARGET_SECONDS = 120.0


def run(persons: int, seed: int, site: str, out: Path) -> tuple[float, dict[str, int]]:
    """Generate once; return (seconds, rows per table)."""
    started = time.perf_counter()
    counts = generate(out, persons, seed, site)
    return time.perf_counter() - started, counts


def report(persons: int, site: str, seconds: float, counts: dict[str, int], size: int) -> str:
    """The markdown section for docs/benchmarks.md."""
    info = machine_facts()
    rows = sum(counts.values())
    peak = peak_rss_mib()
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
        update_section(SECTION, section, args.docs)
        print(f"\nupdated {args.docs}", file=sys.stderr)
    return 0 if seconds < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
