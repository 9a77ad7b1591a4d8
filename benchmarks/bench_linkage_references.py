"""FEBRL4 linked by our tokens and encodings and by the reference tools, side by side in one run
(issue 18): anonlink on plain (unhardened) CLKs, and Splink on the cleartext as the ceiling a
linkage that sees identifiers can reach. Precision and recall against FEBRL4's 5,000 true
links, and times. Recorded in docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_linkage_references.py              # recorded
    .venv/bin/python benchmarks/bench_linkage_references.py --no-docs

The references run in a virtualenv of their own, made once by uv and kept in
``.bench-envs/linkage-references`` (git ignores ``.bench-envs/``): nothing of them enters the
project's dependencies or lock file. The CLKs are ours (``fivesafes.linkage.encodings``): clkhash,
anonlink's usual encoder, pins ``cryptography==40.0.2``, which the platform cannot take. This
process reads FEBRL4 (``tests/febrl.py``), makes every record's tokens, hardened CLK and plain
CLK under a fixed benchmark key, writes the CLKs (packed bits, ``.npy``), the cleartext (CSV)
and the truth to a temporary folder, runs this same file there with ``--side anonlink`` and
``--side splink`` (those parts import only the standard library, numpy and the tool), reads
back the pairs each linked, and scores every method against the same truth.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

try:  # the project's code: absent from the references' venv, which runs only ``--side``
    from febrl import FOLDER, encodable, true_links
    from febrl import records as febrl_identities
    from fivesafes.linkage.encodings import THRESHOLD, clk, match_encodings, plain_clk
    from fivesafes.linkage.match import Matched, match_records, match_tokens
    from fivesafes.linkage.tokens import project_key, tokens
    from record import machine, update_section
except ModuleNotFoundError:
    if "--side" not in sys.argv:
        raise

ENV = ROOT / ".bench-envs" / "linkage-references"
ENV_PYTHON = ENV / "bin" / "python"
UV = ROOT / ".venv" / "bin" / "uv"
# Tested versions. anonlink 0.15.3 imports pkg_resources without declaring setuptools, which
# dropped pkg_resources in 82.
INSTALLS = {"splink": ["splink==5.0.0"], "anonlink": ["anonlink==0.15.3", "setuptools<82"]}
PLAIN_THRESHOLDS = (0.7, 0.8, 0.9)
SPLINK_THRESHOLDS = (0.5, 0.9, 0.99)
FIELDS = (
    "given_name",
    "surname",
    "date_of_birth",
    "soc_sec_id",
    "postcode",
    "address_1",
    "suburb",
    "state",
)
SEED = 20261207
T = TypeVar("T")
REPEATS = 3  # matching is timed as the fastest of this many runs (the machine is shared)


# --- the references' side (run by the references' venv) ---------------------------------------


def fastest(
    fn: Callable[[], T], as_compared: Callable[[T], object] = lambda answer: answer
) -> tuple[T, float]:
    """``fn``'s answer and its fastest time of ``REPEATS`` runs; every run must answer alike
    (as ``as_compared`` sees them)."""
    times, answers = [], []
    for _ in range(REPEATS):
        start = time.perf_counter()
        answers.append(fn())
        times.append(time.perf_counter() - start)
    if any(as_compared(answer) != as_compared(answers[0]) for answer in answers):
        raise AssertionError("a repeated run answered otherwise")
    return answers[0], min(times)


def _one_to_one(scored: Iterable[tuple[float, str, str]]) -> list[tuple[str, str]]:
    """Greedy, most probable first (ties by ids): each record linked at most once."""
    taken_left: set[str] = set()
    taken_right: set[str] = set()
    pairs = []
    for _, a, b in sorted(scored, key=lambda s: (-s[0], s[1], s[2])):
        if a not in taken_left and b not in taken_right:
            taken_left.add(a)
            taken_right.add(b)
            pairs.append((a, b))
    return pairs


def anonlink_side(folder: Path) -> dict[str, Any]:
    """anonlink's candidate generation (its native Dice) and greedy solver on each set of CLKs
    at each threshold of ``spec.json``, timed around those two calls."""
    with warnings.catch_warnings():  # pkg_resources is deprecated
        warnings.simplefilter("ignore")
        import anonlink
    from anonlink.candidate_generation import find_candidate_pairs
    from anonlink.similarities import dice_coefficient_accelerated
    from anonlink.solving import greedy_solve
    from bitarray import bitarray

    spec = json.loads((folder / "spec.json").read_text())
    ids = {part: json.loads((folder / f"ids_{part}.json").read_text()) for part in "ab"}
    runs = []
    for run in spec["anonlink"]:
        datasets = []
        for part in "ab":
            rows = []
            for row in np.load(folder / f"{run['clks']}_{part}.npy"):
                bits = bitarray()
                bits.frombytes(row.tobytes())
                rows.append(bits)
            datasets.append(rows)
        candidates, candidate_s = fastest(
            lambda d=datasets, t=run["threshold"]: find_candidate_pairs(
                d, dice_coefficient_accelerated, t
            )
        )
        groups, solve_s = fastest(  # the groups come in no fixed order
            lambda c=candidates: greedy_solve(c), lambda found: sorted(map(sorted, found))
        )
        pairs = []
        for group in groups:
            (d0, r0), (d1, r1) = sorted(group)  # two datasets: groups are pairs, one of each
            assert (d0, d1) == (0, 1)
            pairs.append((ids["a"][r0], ids["b"][r1]))
        runs.append(
            {
                **run,
                "pairs": pairs,
                "candidates": len(candidates[0]),
                "candidate_s": candidate_s,
                "solve_s": solve_s,
            }
        )
    return {"version": anonlink.__version__, "runs": runs}


def _cleartext(path: Path) -> list[dict[str, str | None]]:
    with path.open(newline="") as handle:
        return [{k: v or None for k, v in row.items()} for row in csv.DictReader(handle)]


def splink_side(folder: Path) -> dict[str, Any]:
    """A standard Splink model of the cleartext (DuckDB): blocking on names, date of birth,
    number, postcode and address; Jaro-Winkler names and addresses, dates of birth by their
    distance, Levenshtein numbers and postcodes; u by random sampling, m by EM; then pairs at
    each match probability, one to one, most probable first."""
    import splink
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    spec = json.loads((folder / "spec.json").read_text())
    start = time.perf_counter()
    db = DuckDBAPI()
    tables = [
        db.register(_cleartext(folder / f"cleartext_{part}.csv"), dataset_display_name=part)
        for part in "ab"
    ]
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="rec_id",
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.LevenshteinAtThresholds("postcode", [1, 2]),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("suburb", [0.9, 0.7]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
            block_on("postcode"),
            block_on("address_1", "state"),
        ],
    )
    linker = Linker(tables, settings, log_level="WARNING")
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth"), block_on("soc_sec_id")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=SEED)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    trained = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=min(spec["splink"]))
    scored = []
    for row in predictions.as_record_list():
        a, b = row["rec_id_l"], row["rec_id_r"]
        if row["source_dataset_l"] == "b":
            a, b = b, a
        scored.append((float(row["match_probability"]), a, b))
    predicted = time.perf_counter()
    runs = []
    for threshold in spec["splink"]:
        begun = time.perf_counter()
        pairs = _one_to_one(s for s in scored if s[0] >= threshold)
        runs.append(
            {
                "threshold": threshold,
                "pairs": pairs,
                "scored": len(scored),
                "one_to_one_s": time.perf_counter() - begun,
            }
        )
    return {
        "version": splink.__version__,
        "train_s": trained - start,
        "predict_s": predicted - trained,
        "runs": runs,
    }


def side(tool: str, folder: Path) -> None:
    run = {"anonlink": anonlink_side, "splink": splink_side}[tool]
    result = run(folder)
    result["versions"] = {
        name: metadata.version(name)
        for name in ("splink", "anonlink", "duckdb", "bitarray", "numpy")
        if _installed(name)
    }
    (folder / f"{tool}.json").write_text(json.dumps(result))


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


# --- this side (the project's venv) -------------------------------------------------------------


def read(part: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Each record for the encodings, by id (``tests/febrl.py``); and the cleartext rows
    Splink reads."""
    rows = []
    with (FOLDER / f"dataset4{part}.csv").open() as handle:
        for raw in csv.DictReader(handle, skipinitialspace=True):
            row = {k: v.strip() for k, v in raw.items()}
            rows.append({k: row[k] for k in ("rec_id", *FIELDS)})
    return encodable(part), rows


def _error_words(stderr: str) -> str:
    """The last lines of a tool's error output, on one line, without uv's box drawing."""
    lines = [line.lstrip(" \u2502\u2570\u2500\u25b6\u00d7").strip() for line in stderr.splitlines()]
    return " / ".join(line for line in lines if line)[-400:] or "no message"


def reference_env() -> dict[str, str | None]:
    """Make the references' venv if it is missing and install each tool there unless it
    imports already; each tool's error in words, or None."""
    if not ENV_PYTHON.exists():
        subprocess.run([str(UV), "venv", "--quiet", "--python", "3.11", str(ENV)], check=True)
    errors: dict[str, str | None] = {}
    for tool, packages in INSTALLS.items():
        probe = subprocess.run(
            [str(ENV_PYTHON), "-W", "ignore", "-c", f"import {tool}"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0:
            errors[tool] = None
            continue
        install = [str(UV), "pip", "install", "--quiet", "--python", str(ENV_PYTHON), *packages]
        done = subprocess.run(install, capture_output=True, text=True)
        errors[tool] = (
            None if done.returncode == 0 else f"install failed: {_error_words(done.stderr)}"
        )
    return errors


def run_side(tool: str, folder: Path) -> tuple[dict[str, Any] | None, str | None, float]:
    start = time.perf_counter()
    done = subprocess.run(
        [str(ENV_PYTHON), str(Path(__file__).resolve()), "--side", tool, str(folder)],
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - start
    if done.returncode != 0:
        return None, f"run failed: {_error_words(done.stderr)}", took
    return json.loads((folder / f"{tool}.json").read_text()), None, took


@dataclass
class Row:
    method: str
    sees: str
    threshold: str
    pairs: list[tuple[str, str]] | None
    making: str = ""
    matching: str = ""
    note: str = ""


def score(pairs: list[tuple[str, str]], truth: set[tuple[str, str]]) -> tuple[float, float]:
    hits = len(set(pairs) & truth)
    return hits / max(len(pairs), 1), hits / len(truth)


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def ours(left: dict[str, Any], right: dict[str, Any], key: bytes) -> tuple[list[Row], dict]:
    """Tokens (records with a date of birth: every token holds it), hardened and plain CLKs of
    every record, each timed; our matchers on them."""
    made: dict[str, Any] = {}
    times: dict[str, float] = {}
    dated = {part: febrl_identities(part) for part in "ab"}
    start = time.perf_counter()
    made["tokens"] = [
        {r: tokens(p, key) for r, p in dated[part].items() if p is not None} for part in "ab"
    ]
    times["tokens"] = time.perf_counter() - start
    for kind, encode in (("hardened", clk), ("plain", plain_clk)):
        start = time.perf_counter()
        made[kind] = [{r: encode(p, key) for r, p in recs.items()} for recs in (left, right)]
        times[kind] = time.perf_counter() - start
    made["plain"] = [
        {r: np.packbits(bits).tobytes() for r, bits in bits_of.items()} for bits_of in made["plain"]
    ]
    rows = []
    by_tokens, took = fastest(lambda: match_tokens(*made["tokens"]))
    rows.append(
        Row(
            "ours: exact tokens",
            "keyed hashes",
            "",
            by_tokens,
            _s(times["tokens"]),
            _s(took),
        )
    )
    alone, took = fastest(lambda: match_encodings(*made["hardened"], threshold=THRESHOLD))
    rows.append(
        Row(
            "ours: hardened CLKs alone (`match_encodings`)",
            "hardened CLKs",
            f"Dice {THRESHOLD:.2f}",
            [(a, b) for a, b, _ in alone],
            _s(times["hardened"]),
            _s(took),
        )
    )
    (first, then), took = fastest(
        lambda: match_records(*made["tokens"], *made["hardened"], threshold=THRESHOLD)
    )
    rows.append(
        Row(
            "ours: tokens, then hardened CLKs of the rest (`match_records`) at the default",
            "keyed hashes, hardened CLKs",
            f"Dice {THRESHOLD:.2f}",
            first + then,
            "both above",
            _s(took),
        )
    )
    done = Matched()
    (first, then), took = fastest(
        lambda: match_records(*made["tokens"], *made["hardened"], done=done)
    )
    assert done.threshold is not None
    rows.append(
        Row(
            "ours: tokens, then hardened CLKs of the rest at the run's own threshold "
            f"(`match_records`, the hub's rule: {done.threshold.how})",
            "keyed hashes, hardened CLKs",
            f"Dice {done.threshold.value:.2f}",
            first + then,
            "both above",
            _s(took),
        )
    )
    for threshold in PLAIN_THRESHOLDS:
        found, took = fastest(lambda t=threshold: match_encodings(*made["plain"], threshold=t))
        rows.append(
            Row(
                "ours: `match_encodings` on plain CLKs (like for like with anonlink)",
                "plain CLKs",
                f"Dice {threshold:.2f}",
                [(a, b) for a, b, _ in found],
                _s(times["plain"]),
                _s(took),
            )
        )
    return rows, made


def write_inputs(folder: Path, made: dict, cleartext: dict[str, list[dict[str, str]]]) -> None:
    for kind in ("plain", "hardened"):
        for part, encoded in zip("ab", made[kind], strict=True):
            packed = np.frombuffer(b"".join(encoded.values()), dtype=np.uint8)
            np.save(folder / f"{kind}_{part}.npy", packed.reshape(len(encoded), -1))
    for part, encoded in zip("ab", made["plain"], strict=True):
        (folder / f"ids_{part}.json").write_text(json.dumps(list(encoded)))
    for part, rows in cleartext.items():
        with (folder / f"cleartext_{part}.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["rec_id", *FIELDS])
            writer.writeheader()
            writer.writerows(rows)
    spec = {
        "anonlink": [
            *({"clks": "plain", "threshold": t} for t in PLAIN_THRESHOLDS),
            {"clks": "hardened", "threshold": THRESHOLD},
        ],
        "splink": list(SPLINK_THRESHOLDS),
    }
    (folder / "spec.json").write_text(json.dumps(spec))


def reference_rows(folder: Path, errors: dict[str, str | None]) -> tuple[list[Row], dict]:
    rows: list[Row] = []
    versions: dict[str, str] = {}
    anon, splink = "anonlink: candidate generation + greedy solver", "Splink on the cleartext"
    result, error, took = (None, errors["anonlink"], 0.0)
    if error is None:
        result, error, took = run_side("anonlink", folder)
    if result is None:
        rows.append(Row(anon, "CLKs", "", None, note=f"not run: {error}"))
    else:
        versions.update(result["versions"])
        for run in result["runs"]:
            pairs = [tuple(p) for p in run["pairs"]]
            rows.append(
                Row(
                    f"{anon} (`greedy_solve`)",
                    f"{run['clks']} CLKs",
                    f"Dice {run['threshold']:.2f}",
                    pairs,
                    "ours, above",
                    _s(run["candidate_s"] + run["solve_s"]),
                    f"{run['candidates']:,} candidate pairs; {run['candidate_s']:.2f} s "
                    f"+ {run['solve_s']:.2f} s",
                )
            )
        rows[-1].note += f"; the process took {took:.1f} s in all"
    result, error, took = (None, errors["splink"], 0.0)
    if error is None:
        result, error, took = run_side("splink", folder)
    if result is None:
        rows.append(Row(splink, "cleartext", "", None, note=f"not run: {error}"))
    else:
        versions.update(result["versions"])
        for run in result["runs"]:
            pairs = [tuple(p) for p in run["pairs"]]
            rows.append(
                Row(
                    f"{splink} (one to one, most probable first)",
                    "cleartext",
                    f"probability {run['threshold']}",
                    pairs,
                    f"{result['train_s']:.2f} s (training)",
                    _s(result["predict_s"] + run["one_to_one_s"]),
                    f"{run['scored']:,} pairs scored at {min(SPLINK_THRESHOLDS)} or more",
                )
            )
        rows[-1].note += f"; the process took {took:.1f} s in all"
    return rows, versions


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def render(
    rows: list[Row],
    truth: set[tuple[str, str]],
    versions: dict[str, str],
    started: datetime,
    loads: list[str],
    failed: list[str],
    undated: int,
) -> str:
    table = [
        "| method | sees | threshold | precision | recall | links | making | matching | note |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        if r.pairs is None:
            table.append(f"| {r.method} | {r.sees} | | | | | | | {r.note} |")
            continue
        precision, recall = score(r.pairs, truth)
        table.append(
            f"| {r.method} | {r.sees} | {r.threshold} | {precision:.4f} | "
            f"{recall:.4f} | {len(r.pairs):,} | {r.making} | {r.matching} | "
            f"{r.note} |"
        )
    tools = ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) or "none ran"
    lines = [
        "## Linkage: ours against anonlink and Splink on FEBRL4 "
        "(`benchmarks/bench_linkage_references.py`)",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC on {machine()}; load average (1 / 5 / 15 min) "
        f"{loads[0]} at the start, {loads[1]} at the end: the machine is shared with other "
        f"work. References in their own venv (`.bench-envs/linkage-references`, Python 3.11; "
        "they are no dependency of the project, and Splink's DuckDB is not the one the project "
        f"pins): {tools}; ours with numpy {np.__version__}.",
        "",
        "FEBRL4: 5,000 originals and one corrupted duplicate of each, 5,000 true links. Every "
        "record gets a hardened and a plain (unhardened) CLK of 1,024 bits, ours "
        "(`fivesafes.linkage.encodings`: names, date of birth, social security number in the "
        "NHS number's place, postcode), under one fixed benchmark key, the "
        f"{undated} records whose date of birth is missing or does not parse too (they set no "
        "date bits); tokens only "
        "for records with a date (every token holds it). The Bloom-filter encoder anonlink "
        "is usually paired with, clkhash, cannot be installed beside the platform (it pins "
        "cryptography 40.0.2), so anonlink matches our plain CLKs: what differs from ours is "
        "its candidate generation and greedy solver (a tie goes to the first pair; ours links "
        "neither record). Splink sees the cleartext, address too: given name, surname, date "
        "of birth, social security number, postcode, street (`address_1`), suburb and state, "
        "with a standard model (blocking on names, date of birth, number, postcode, street "
        "and state; Jaro-Winkler names and addresses, date of birth by distance, Levenshtein "
        "number and postcode; term frequencies for names; u by random sampling of up to 10 "
        "million pairs, m by EM on date-of-birth and postcode blocks), its pairs one to one, most "
        "probable first. It is the ceiling, not a rival: a linkage unit that saw identifiers "
        "would defeat the point of tokens and encodings.",
        "",
        "*Making*: the tokens or CLKs of both sides (ours, in this process; anonlink's input "
        "is the same plain or hardened CLKs), or Splink's training (registering the tables, "
        "u and m). *Matching*: ours, the match alone; anonlink, candidate generation and "
        f"solver, timed inside its process (each the fastest of {REPEATS} runs); Splink, "
        "prediction and one to one (one run, as its training). Starting the "
        "references' processes and importing the tools is not counted (the note gives each "
        f"process's whole time). Encodings here include the {undated} undated records, as "
        "the hub, `bench_linkage.py` (under the same key) and "
        "`tests/unit/test_linkage_encodings_febrl.py` (under another key, so its figures "
        "differ a little) do.",
        "",
        *table,
    ]
    if failed:
        lines += ["", *(f"Not run: {line}" for line in failed)]
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["--side"]:
        side(sys.argv[2], Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    started, loads = datetime.now(UTC), [load()]
    errors = reference_env()
    key = project_key(bytes(range(32)), "p_bench")
    (left, clear_a), (right, clear_b) = read("a"), read("b")
    truth = true_links(left, right)
    assert len(truth) == 5000
    rows, made = ours(left, right, key)
    with tempfile.TemporaryDirectory(prefix="linkage-references-") as tmp:
        folder = Path(tmp)
        write_inputs(folder, made, {"a": clear_a, "b": clear_b})
        (folder / "truth.json").write_text(json.dumps(sorted(truth)))
        references, versions = reference_rows(folder, errors)
    rows += references
    loads.append(load())
    failed = [f"{r.method}: {r.note}" for r in references if r.pairs is None]
    undated = sum(r.date_of_birth is None for recs in (left, right) for r in recs.values())
    body = render(rows, truth, versions, started, loads, failed, undated)
    print(body)
    if not args.no_docs:
        update_section("linkage-references", body)


if __name__ == "__main__":
    main()
