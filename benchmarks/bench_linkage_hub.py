"""The hub's linkage worker, as it runs (``fivesafes.hub.linkage``): two synthetic hospitals'
uploads written as the hub keeps them, then matched from those files as its worker does.

    .venv/bin/python benchmarks/bench_linkage_hub.py                     # 10,000 and 50,000
    .venv/bin/python benchmarks/bench_linkage_hub.py --persons 2000 --no-docs

Per size N: two synthetic hospitals of N persons each, 30% of the second's persons shared with
the first (``linkage.synth.synthesise``, seed 7, the planted errors); every person's tokens and
hardened encoding made under one benchmark key (*making*, as nodes would, both sides); the
uploads written in chunks of 1,000 records (``hub.linkage._append``: a Parquet file per chunk,
*receiving*, the hub's side of the requests only); then the worker's matching of the two
uploads (``hub.linkage._clusters``: tokens in DuckDB, then the encodings of every record tokens
left unlinked on both sides, every pair; persons and link ids). Precision and recall against
the planted pairs; the process's peak resident memory. Rewrites the ``linkage-hub`` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from fivesafes.hub import linkage
from fivesafes.linkage.encodings import THRESHOLD, clk
from fivesafes.linkage.identifiers import identity
from fivesafes.linkage.match_sql import Matched, Spill, connect, match_records_sql, parquet
from fivesafes.linkage.synth import CdmPerson, synthesise
from fivesafes.linkage.tokens import fingerprint, project_key, tokens
from fivesafes.protocol.linkage import TokenChunk, TokenRecord
from record import machine, peak_rss_mib, update_section

KEY = project_key(bytes(range(32)), "p_bench")
TODAY = dt.date(2026, 12, 7)
CHUNK = 1000


def persons(seed: int, n: int, start: int) -> list[CdmPerson]:
    rng = np.random.default_rng(seed)
    return [CdmPerson(start + i, str(rng.choice(["F", "M"])), int(rng.integers(1930, 2005)))
            for i in range(n)]  # fmt: skip


def one_size(n: int, folder: Path) -> str:
    records = synthesise({"north": persons(1, n, 1), "lake": persons(2, n, 10_000_001)},
                         overlap=0.3, seed=7)  # fmt: skip
    first = {r.true_person: r.person_id for r in records if r.site == "north"}
    truth = {(f"{first[r.true_person]:016x}", f"{r.person_id:016x}") for r in records
             if r.site == "lake" and r.true_person in first}  # fmt: skip
    started = time.perf_counter()
    made: dict[str, list[TokenRecord]] = {"north": [], "lake": []}
    for r in records:
        person = identity({"person_id": str(r.person_id), "nhs_number": r.nhs_number,
                           "given_name": r.given_name, "family_name": r.family_name,
                           "date_of_birth": r.date_of_birth, "sex": r.sex,
                           "postcode": r.postcode}, TODAY)  # fmt: skip
        encoding = base64.b64encode(clk(person, KEY)).decode()
        made[r.site].append(TokenRecord(ref=f"{r.person_id:016x}", tokens=tokens(person, KEY),
                                        encoding=encoding))  # fmt: skip
    making = time.perf_counter() - started

    started = time.perf_counter()
    uploads = {site: folder / f"{site}.upload" for site in made}
    for site, rows in made.items():
        for i in range(0, len(rows), CHUNK):
            chunk = TokenChunk(run="0" * 16, fingerprint=fingerprint(KEY),
                               records=rows[i : i + CHUNK])  # fmt: skip
            linkage._append(uploads[site], chunk, first=i)
    receiving = time.perf_counter() - started

    spill = Spill(folder / ".spill", memory_limit="1GB")
    con = connect(spill)
    steps = Matched()
    started = time.perf_counter()
    left, right = (parquet(uploads[s] / "*.parquet") for s in ("north", "lake"))
    by_tokens, by_encodings = match_records_sql(con, left, right, done=steps)
    con.close()
    pairs_took = time.perf_counter() - started
    started = time.perf_counter()
    links, _ = linkage._clusters(uploads, spill)  # the worker's whole step, persons and ids
    worker = time.perf_counter() - started
    by_link: dict[str, str] = {}
    for (site, ref), link in links.items():
        if site == "lake":
            by_link[link] = ref
    found = {(ref, by_link[link]) for (site, ref), link in links.items()
             if site == "north" and link in by_link}  # fmt: skip
    hits = len(found & truth)
    precision, recall = hits / max(len(found), 1), hits / len(truth)
    t = steps.threshold
    strangers = t.strangers if t else 0
    rate = (steps.rest + strangers) / max(steps.seconds["encodings"], 1e-9) / 1e6
    chosen = f"Dice {t.value:.2f}, {t.how}" if t else "?"
    return (f"| {n:,} x {n:,} | {len(truth):,} | {precision:.4f} | {recall:.4f} | "
            f"{making:.1f} s | {receiving:.1f} s | {steps.seconds['tokens']:.2f} s "
            f"({len(by_tokens):,} pairs) | {steps.seconds['encodings']:.1f} s "
            f"({steps.rest:,} pairs compared and {strangers:,} strangers', "
            f"{rate:.1f} million/s; {len(by_encodings):,} "
            f"linked at {chosen}) | {worker:.1f} s (pairs alone {pairs_took:.1f} s) | "
            f"{peak_rss_mib():,.0f} MiB |")  # fmt: skip


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", default="10000,50000", help="per side, comma-separated")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    started, load_start = dt.datetime.now(dt.UTC), load()
    rows = []
    for n in (int(x) for x in args.persons.split(",")):
        with tempfile.TemporaryDirectory(prefix="fivesafes-bench-link-") as folder:
            rows.append(one_size(n, Path(folder)))
            print(rows[-1], flush=True)
    body = "\n".join([
        "## The hub's linkage worker (`benchmarks/bench_linkage_hub.py`)",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC on {machine()}; load average (1 / 5 / 15 min) "
        f"{load_start} at the start, {load()} at the end (the machine is shared). Two "
        "synthetic hospitals, 30% of the second's persons shared with the first, the planted "
        "errors (`linkage.synth`); *making*: every person's tokens and hardened encoding, both "
        "sides, in this process; *receiving*: the uploads written as the hub keeps them "
        "(a Parquet file per chunk of 1,000 records); *tokens*: DuckDB's matching of the two "
        "uploads' tokens (`match_relations`, from the files); *encodings*: the encodings of "
        "every record tokens left unlinked, read and compared with every one at the other "
        "node (Dice, anonlink's candidate generation), one to one, at the run's own threshold "
        f"(`linkage.calibrate`: the default {THRESHOLD:.2f} unless the strangers, pairs of "
        "records within each side, every pair of at most 20,000, show otherwise; "
        "their comparisons are in this step's time); *worker*: the whole step of "
        "the hub's worker for the pair (the same matching again, then persons and link ids). "
        "Peak memory is the process's, making included. The encodings' step grows with the "
        "product of the records tokens leave unlinked (here the 70% not shared and the shared "
        "persons tokens miss): without blocking it is what limits a run's size.",
        "",
        "| persons | planted pairs | precision | recall | making | receiving | tokens "
        "| encodings | worker | peak memory |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
    ])  # fmt: skip
    print(body)
    if not args.no_docs:
        update_section("linkage-hub", body)


if __name__ == "__main__":
    main()
