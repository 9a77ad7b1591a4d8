"""Linkage at scale (issue 18): token linkage of 10,000,000 x 10,000,000 persons with DuckDB
(``linkage.match_sql``) on this machine, and the rate of Bloom-filter encoding (CLK)
comparisons with blocking at 1,000,000 x 1,000,000. Recorded in docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_linkage_scale.py                      # recorded
    .venv/bin/python benchmarks/bench_linkage_scale.py --persons 1000000 --clk-persons 100000 \\
        --memory-limits 4GB,200MB --no-docs

**Tokens.** Two token files (Parquet, one row per record: ``ref`` and a 32-byte token per
kind, NULL where the record has none) are made by DuckDB in one vectorised statement each:
each token is SHA-256 of a secret, the kind and a synthetic person's number (a keyed hash, as
the real tokens are an HMAC). A share ``SHARE`` of the right's records are persons of the left
(the planted truth); of those, ``PLANTED`` says how many agree on the primary token, have no
NHS number on the right or another one (so link on their secondary tokens only, each of which
differs with probability ``DIFFERS``), or agree on one secondary token only (the rule cannot
link them: planted misses). The left misses the primary token for ``NO_NHS_LEFT`` of its
records; both sides miss the postcode's two tokens for ``NO_POSTCODE``. Of the right's other
records, ``NAMESAKES[2]`` share two secondary tokens with a random left person (a namesake born
the same day: the rule links them wrongly when nothing better claims that person) and
``NAMESAKES[1]`` one (a candidate, never a link). Timed apart: making the files, and matching
them (reading the files, the rule, one to one, into a table) once under each of
``--memory-limits`` (DuckDB's; the smaller to make it spill), each in a process of its own,
whose peak resident memory is its own (``VmHWM``, and ``getrusage``'s ``ru_maxrss``); the
temporary files DuckDB spills are sampled every 0.05 s. The same generator at
``--check-persons`` a side is also matched by ``linkage.match.match_tokens`` in Python: the
pairs must be the same.

**Encodings.** ``--clk-persons`` random 1,024-bit vectors a side (not CLKs of identities:
the comparison's cost does not depend on the bits, and making 2,000,000 real ones would take
about ten minutes more; FEBRL4's 10,000 take 2.7 s in bench_linkage.py), of which ``SHARE``
of the right's are planted near-duplicates of left ones: a copy with each bit flipped with a
probability drawn uniformly from 0 to ``CLK_FLIP`` (Dice about 0.85 or more). Blocking: each
record's block is its year of birth (1930 to 2004) and sex (150 blocks), as nodes would send
it under a keyed hash; a duplicate is in its original's block.
Each block is matched by ``linkage.encodings.match_encodings`` (Dice of every pair in the
block, numpy, then pairs at or above ``THRESHOLD``, one to one); the rate is the comparisons
made over the time of those calls.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from fivesafes.linkage.encodings import match_encodings
from fivesafes.linkage.kinds import KINDS, PRIMARY
from fivesafes.linkage.match import match_tokens
from fivesafes.linkage.match_sql import Spill, connect, match_relations, parquet
from record import machine, peak_rss_mib, update_section

SECTION = "linkage-scale"
SECRET = "bench-linkage-scale"
SHARE = 0.3  # of the right's records, persons of the left
PLANTED = {"primary": 0.80, "no_nhs": 0.16, "other_nhs": 0.03, "unlinkable": 0.01}
DIFFERS = 0.10  # each secondary token of a shared record, where not planted otherwise
NO_NHS_LEFT = 0.05
NO_POSTCODE = 0.02
POSTCODE_KINDS = ("family_dob_postcode", "given_dob_postcode")
NAMESAKES = {2: 0.001, 1: 0.01}  # the right's other records sharing that many tokens
THRESHOLD = 0.8  # Dice, as bench_linkage.py
CLK_FLIP = 0.15
BLOCKS = 150  # 75 years of birth x 2 sexes
HERE = Path(__file__).resolve()


# ---- making the token files -------------------------------------------------------------------


def multiplier(n: int) -> int:
    """A number prime to ``n``: j -> j * it mod n maps the shared right records to distinct
    left persons, scattered."""
    a = 1_000_003
    while math.gcd(a, n) != 1:
        a += 2
    return a


def _token(kind: str, person: str, variant: str | None = None) -> str:
    text = f"'{SECRET}:{kind}:' || {person}::VARCHAR"
    if variant:
        text += f" || ':' || {variant}::VARCHAR"
    return f"unhex(sha256({text}))"


def _draw(record: str, what: str) -> str:
    """A uniform draw in [0, 1), fixed by the record and what it is for."""
    return f"(hash({record}, '{what}') % 1000000) / 1000000.0"


def left_sql(n: int, out: Path) -> str:
    nopc = f"{_draw('i', 'no_postcode')} < {NO_POSTCODE}"
    columns = []
    for kind in KINDS:
        token = _token(kind, "i")
        if kind == PRIMARY:
            token = f"IF({_draw('i', 'no_nhs')} < {NO_NHS_LEFT}, NULL, {token})"
        elif kind in POSTCODE_KINDS:
            token = f"IF({nopc}, NULL, {token})"
        columns.append(f"{token} AS {kind}")
    return (f"COPY (SELECT i AS ref, {', '.join(columns)} FROM range({n}) t(i)) "
            f"TO '{out}' (FORMAT parquet)")  # fmt: skip


def right_sql(n: int, out: Path) -> str:
    shared, a = round(SHARE * n), multiplier(n)
    edges = np.cumsum(list(PLANTED.values()))
    primary, no_nhs, other_nhs = (f"u < {e:.6f}" for e in edges[:3])
    columns = []
    for kind in KINDS:
        same, other = _token(kind, "p"), _token(kind, "p", "j")
        if kind == PRIMARY:
            token = (f"CASE WHEN NOT shared THEN IF({_draw('j', 'no_nhs')} < {NO_NHS_LEFT}, "
                     f"NULL, {same}) WHEN {primary} THEN {same} WHEN {no_nhs} THEN NULL "
                     f"WHEN {other_nhs} THEN {other} ELSE NULL END")  # fmt: skip
        else:
            # the right's other records: a namesake of a left person shares names_dob (one
            # token) or names_dob and initial_family_dob_sex (two)
            shares = {"names_dob": NAMESAKES[2] + NAMESAKES[1], "initial_family_dob_sex":
                      NAMESAKES[2]}.get(kind, 0.0)  # fmt: skip
            token = (
                f"CASE WHEN NOT shared THEN IF(decoy < {shares}, {_token(kind, 'namesake')}, "
                f"{same}) WHEN u >= {edges[2]:.6f} THEN "  # unlinkable: names_dob agrees only
                f"{same if kind == 'names_dob' else other} "
                f"WHEN {_draw('j', 'differs_' + kind)} < {DIFFERS} THEN {other} "
                f"ELSE {same} END"
            )
            if kind in POSTCODE_KINDS:
                token = f"IF({_draw('j', 'no_postcode')} < {NO_POSTCODE}, NULL, {token})"
        columns.append(f"{token} AS {kind}")
    plan = (f"SELECT j, {n} + j AS ref, j < {shared} AS shared, "
            f"IF(j < {shared}, (j * {a}) % {n}, {n} + j) AS p, "
            f"hash(j, 'namesake_of') % {n} AS namesake, {_draw('j', 'kind')} AS u, "
            f"{_draw('j', 'decoy')} AS decoy FROM range({n}) t(j)")  # fmt: skip
    return f"COPY (SELECT ref, {', '.join(columns)} FROM ({plan})) TO '{out}' (FORMAT parquet)"


def stage_generate(n: int, folder: Path, spill: Spill) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    con = connect(spill)
    started = time.perf_counter()
    con.execute(left_sql(n, folder / "left.parquet"))
    con.execute(right_sql(n, folder / "right.parquet"))
    seconds = time.perf_counter() - started
    con.close()
    size = sum((folder / f"{s}.parquet").stat().st_size for s in ("left", "right"))
    return {"seconds": seconds, "bytes": size, **_peaks()}


# ---- matching them ----------------------------------------------------------------------------


class SpillWatch:
    """The most disk DuckDB's temporary files held at once (allocated bytes), sampled."""

    def __init__(self, folder: Path, every: float = 0.05) -> None:
        self.folder, self.every, self.peak = folder, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SpillWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for path in self.folder.rglob("*"):
                try:
                    total += path.stat().st_blocks * 512
                except OSError:
                    continue
            self.peak = max(self.peak, total)
            self._stop.wait(self.every)


def stage_match(n: int, folder: Path, spill: Spill) -> dict[str, Any]:
    con = connect(spill)
    shared, a = round(SHARE * n), multiplier(n)
    left, right = parquet(folder / "left.parquet"), parquet(folder / "right.parquet")
    with SpillWatch(spill.temp_directory) as watch:
        started = time.perf_counter()
        done = match_relations(con, left, right)
        seconds = time.perf_counter() - started
    row = con.execute(
        f"SELECT count(*) FROM linked WHERE right_ref - {n} < {shared} "
        f"AND left_ref = ((right_ref - {n}) * {a}) % {n}"
    ).fetchone()
    hits = int(row[0]) if row else 0
    con.close()
    return {"seconds": seconds, "steps": done.seconds, "candidates": done.candidates,
            "scored": done.scored, "linked": done.linked, "hits": hits, "shared": shared,
            "spill_peak": watch.peak, **_peaks()}  # fmt: skip


def stage_check(n: int, folder: Path, spill: Spill) -> dict[str, Any]:
    """The same generator, small: the DuckDB pairs against ``match_tokens``'s."""
    stage_generate(n, folder, spill)
    con = connect(spill)
    match_relations(con, parquet(folder / "left.parquet"), parquet(folder / "right.parquet"))
    sql = set(con.execute("SELECT left_ref, right_ref FROM linked").fetchall())
    sides = []
    for side in ("left", "right"):
        table = con.execute(f"FROM {parquet(folder / f'{side}.parquet')}").fetch_arrow_table()
        refs = table.column("ref").to_pylist()
        made: dict[int, dict[str, str]] = {r: {} for r in refs}
        for kind in KINDS:
            for ref, token in zip(refs, table.column(kind).to_pylist(), strict=True):
                if token is not None:
                    made[ref][kind] = token.hex()
        sides.append(made)
    con.close()
    started = time.perf_counter()
    python = set(match_tokens(sides[0], sides[1]))
    took = time.perf_counter() - started
    return {"identical": python == sql, "pairs": len(sql), "only_sql": len(sql - python),
            "only_python": len(python - sql), "python_seconds": took}  # fmt: skip


# ---- encodings --------------------------------------------------------------------------------


def stage_clk(n: int, seed: int = 18) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    nbytes = 1024 // 8
    left = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    right = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    lblock = rng.integers(0, BLOCKS, size=n)
    rblock = rng.integers(0, BLOCKS, size=n)
    shared = round(SHARE * n)
    source = rng.choice(n, size=shared, replace=False)  # right j < shared is left source[j]
    rblock[:shared] = lblock[source]
    for start in range(0, shared, 50_000):  # planted near-duplicates, in chunks
        rows = source[start : start + 50_000]
        bits = np.unpackbits(left[rows], axis=1).astype(bool)
        flip = rng.random(bits.shape, dtype=np.float32) < rng.uniform(0, CLK_FLIP, len(rows))[
            :, None
        ].astype(np.float32)
        right[start : start + len(rows)] = np.packbits(bits ^ flip, axis=1)
    truth = {(int(source[j]), j) for j in range(shared)}
    lorder, rorder = np.argsort(lblock, kind="stable"), np.argsort(rblock, kind="stable")
    ledges = np.searchsorted(lblock[lorder], np.arange(BLOCKS + 1))
    redges = np.searchsorted(rblock[rorder], np.arange(BLOCKS + 1))
    comparisons, took, found = 0, 0.0, set()
    for b in range(BLOCKS):
        lids = lorder[ledges[b] : ledges[b + 1]]
        rids = rorder[redges[b] : redges[b + 1]]
        lmap = {int(i): left[i].tobytes() for i in lids}
        rmap = {int(j): right[j].tobytes() for j in rids}
        started = time.perf_counter()
        pairs = match_encodings(lmap, rmap, threshold=THRESHOLD)
        took += time.perf_counter() - started
        comparisons += len(lids) * len(rids)
        found |= {(int(i), int(j)) for i, j, _ in pairs}
    hits = len(found & truth)
    return {"comparisons": comparisons, "seconds": took, "pairs": len(found), "hits": hits,
            "shared": shared, "largest_block": int(max(np.diff(ledges).max(),
                                                       np.diff(redges).max())),
            **_peaks()}  # fmt: skip


# ---- the stages as processes, and the report ---------------------------------------------------


def _peaks() -> dict[str, float]:
    return {"peak_mib": peak_rss_mib(),
            "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip


def run_stage(
    stage: str, args: argparse.Namespace, folder: Path, limit: str | None = None
) -> dict[str, Any]:
    """One stage in a process of its own; its result is its last line of output (JSON)."""
    command = [sys.executable, str(HERE), "--stage", stage, "--workdir", str(folder),
               "--persons", str(args.persons), "--check-persons", str(args.check_persons),
               "--clk-persons", str(args.clk_persons), "--memory-limit",
               limit or args.memory_limits[0],
               "--threads", str(args.threads)]  # fmt: skip
    print(f"[{datetime.now(UTC):%H:%M:%S}] {stage} ...", file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stderr[-4000:], file=sys.stderr)
        errors = [line for line in done.stderr.splitlines() if "Error" in line]
        return {"error": (errors or ["exit status " + str(done.returncode)])[-1][:200]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"[{datetime.now(UTC):%H:%M:%S}] {stage}: {result}", file=sys.stderr, flush=True)
    return result


def gib(mib: float) -> str:
    return f"{mib / 1024:.2f} GiB"


def report(args: argparse.Namespace, figures: dict[str, Any], loads: list[tuple[float, ...]],
           when: datetime) -> str:  # fmt: skip
    n = args.persons
    gen, match, check, clk = (figures.get(k) for k in ("generate", "match", "check", "clk"))
    lines = [
        "## Linkage at scale: DuckDB token matching and CLK comparisons "
        "(`benchmarks/bench_linkage_scale.py`)",
        "",
        f"Run {when:%Y-%m-%d %H:%M} UTC on {machine()}; duckdb {duckdb.__version__}, numpy "
        f"{np.__version__}; load average (1 / 5 / 15 min) "
        + "; ".join(" / ".join(f"{x:.2f}" for x in load) for load in loads)
        + " (start; after the tokens; end). The machine is shared with other work.",
        "",
    ]
    if match and gen and "error" not in gen:
        shared = round(SHARE * n)

        def row(name: str, value: Any) -> str:
            first = name.startswith("**")
            cells = [(f"failed: {m['error']}" if first else "-") if "error" in m else value(m)
                     for m in match]  # fmt: skip
            return f"| {name} | " + " | ".join(cells) + " |"

        lines += [
            f"**Token linkage, {n:,} x {n:,} persons** (`linkage.match_sql`: the rule of "
            "`linkage.match` as DuckDB SQL, each kind a hash join on its column, then scores, "
            f"then one to one by window functions; {args.threads} threads; once under each "
            "memory limit, spilling to a folder on local disk). Tokens are 32-byte keyed "
            f"hashes (SHA-256) of synthetic persons: {SHARE:.0%} of the right's records are "
            "persons of the left; of those, "
            f"{PLANTED['primary']:.0%} agree on the primary token, "
            f"{PLANTED['no_nhs']:.0%} have no NHS number on the right and "
            f"{PLANTED['other_nhs']:.0%} another one (both link on secondary tokens only, each "
            f"of which differs for {DIFFERS:.0%}), {PLANTED['unlinkable']:.0%} agree on one "
            "secondary token only (planted misses); the left lacks the primary token for "
            f"{NO_NHS_LEFT:.0%}, both sides the postcode's tokens for {NO_POSTCODE:.0%}; "
            f"{NAMESAKES[2]:.1%} of the right's other records share two secondary tokens with "
            f"a left person (namesakes born the same day, linked wrongly when nothing better "
            f"claims that person) and {NAMESAKES[1]:.0%} one. Making both token files (DuckDB, "
            f"vectorised SQL; {gen['bytes'] / 2**30:.1f} GiB of Parquet) took "
            f"{gen['seconds']:.1f} s (peak memory {gib(gen['peak_mib'])}). Matching is timed "
            "from the Parquet files to the table of linked pairs, each run in a process of its "
            f"own; {shared:,} planted pairs.",
            "",
            "| DuckDB memory limit | " + " | ".join(args.memory_limits) + " |",
            "| --- |" + " ---: |" * len(match),
            row("**matching**", lambda m: f"**{m['seconds']:.1f} s**"),
            row(
                "persons per second (both sides' records over the time)",
                lambda m: f"{2 * n / m['seconds']:,.0f}",
            ),
            row(
                "of which: candidates (5 joins) / scores / one to one",
                lambda m: " / ".join(
                    f"{m['steps'][k]:.1f} s" for k in ("candidates", "scored", "linked")
                ),
            ),
            row(
                "candidate rows / pairs passing the rule / linked",
                lambda m: f"{m['candidates']:,} / {m['scored']:,} / {m['linked']:,}",
            ),
            row(
                "precision / recall against the planted truth",
                lambda m: f"**{m['hits'] / max(m['linked'], 1):.4f} / {m['hits'] / shared:.4f}**",
            ),
            row(
                "peak memory of the process (VmHWM; `ru_maxrss`)",
                lambda m: f"{gib(m['peak_mib'])}; {gib(m['ru_maxrss_mib'])}",
            ),
            row(
                "DuckDB's temporary files (spill), most at once",
                lambda m: f"{m['spill_peak'] / 2**20:,.0f} MiB",
            ),
        ]
        if check and "error" not in check:
            same = "**the same pairs**" if check["identical"] else (
                f"**differ**: {check['only_sql']} only in SQL, {check['only_python']} only in "
                "Python")  # fmt: skip
            lines += [
                "",
                f"The same generator at {args.check_persons:,} x {args.check_persons:,}, "
                f"matched by DuckDB and by `linkage.match.match_tokens` in Python: {same} "
                f"({check['pairs']:,} pairs; Python took {check['python_seconds']:.1f} s).",
            ]
        lines.append("")
    if clk and "error" in clk:
        lines += [f"**CLK comparisons with blocking** failed: {clk['error']}", ""]
    elif clk:
        m = clk["persons"]
        rate = clk["comparisons"] / clk["seconds"]
        lines += [
            f"**CLK comparisons with blocking, {m:,} x {m:,}**: random 1,024-bit vectors "
            f"(the rate does not depend on the bits), {SHARE:.0%} of the right's planted "
            f"near-duplicates of left ones (each bit flipped with a probability drawn from 0 to "
            f"{CLK_FLIP}); blocks by year of birth and sex ({BLOCKS}, as a keyed hash nodes "
            "would send; a duplicate in its original's block). Each block matched by "
            f"`linkage.encodings.match_encodings` (numpy Dice of every pair, pairs at Dice "
            f"{THRESHOLD} or more, one to one), timed over those calls only.",
            "",
            "| figure | value |",
            "| --- | ---: |",
            f"| comparisons made (without blocking: {m * m:,}) | {clk['comparisons']:,} "
            f"({clk['comparisons'] / (m * m):.2%}); largest block {clk['largest_block']:,} |",
            f"| time | {clk['seconds']:.1f} s |",
            f"| **comparisons per second** | **{rate / 1e6:,.1f} million** |",
            f"| pairs found / planted / precision / recall | {clk['pairs']:,} / "
            f"{clk['shared']:,} / {clk['hits'] / max(clk['pairs'], 1):.4f} / "
            f"{clk['hits'] / clk['shared']:.4f} |",
            f"| peak memory (VmHWM) | {gib(clk['peak_mib'])} |",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=10_000_000, help="token linkage, a side")
    parser.add_argument("--check-persons", type=int, default=100_000,
                        help="a side, matched in Python too (0: not)")  # fmt: skip
    parser.add_argument("--clk-persons", type=int, default=1_000_000, help="0: no CLK part")
    parser.add_argument("--memory-limits", default="4GB,500MB",
                        help="DuckDB's, for the matching: one run under each")  # fmt: skip
    parser.add_argument("--memory-limit", help=argparse.SUPPRESS)  # a stage's own
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--workdir", help="for the token files and the spill (a temporary one)")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--stage", choices=["generate", "match", "check", "clk"],
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    args.memory_limits = args.memory_limits.split(",")
    if args.stage:
        folder = Path(args.workdir)
        spill = Spill(folder / "spill", args.memory_limit or "4GB", args.threads)
        if args.stage == "generate":
            result = stage_generate(args.persons, folder, spill)
        elif args.stage == "match":
            result = stage_match(args.persons, folder, spill)
        elif args.stage == "check":
            result = stage_check(args.check_persons, folder / "check", spill)
        else:
            result = {"persons": args.clk_persons, **stage_clk(args.clk_persons)}
        print(json.dumps(result))
        return

    when = datetime.now(UTC)
    loads = [os.getloadavg()]
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="linkage-scale-") as work:
        folder = Path(work)
        if args.persons:
            figures["generate"] = run_stage("generate", args, folder)
            figures["match"] = [run_stage("match", args, folder, limit)
                                for limit in args.memory_limits]  # fmt: skip
            for side in ("left", "right"):
                (folder / f"{side}.parquet").unlink()
            if args.check_persons:
                figures["check"] = run_stage("check", args, folder)
        loads.append(os.getloadavg())
        if args.clk_persons:
            figures["clk"] = run_stage("clk", args, folder)
    loads.append(os.getloadavg())
    body = report(args, figures, loads, when)
    print(body)
    if not args.no_docs:
        update_section(SECTION, body)


if __name__ == "__main__":
    main()
