"""The encodings' threshold (``linkage.encodings.THRESHOLD``), chosen on the synthetic truth by
the procedure docs/linkage.md states ("The threshold is the synthetic truth's"):

1. six pairs of synthetic hospitals, 4,000 persons each, 1,200 shared: the CDM persons of the
   unit tests (``tests/unit/test_linkage_synth_tokens.py``'s ``cdm(1, 4000, 1)`` and
   ``cdm(2, 4000, 100_001)``), given identities by ``linkage.synth.synthesise`` with overlap
   0.3 and seeds 7, 11, 13, 17, 19 and 23;
2. each pair linked as the linkage unit links it (``linkage.match.match_records``: tokens, then
   the encodings of the records tokens left unlinked) at every Dice coefficient from 0.55 to
   0.80 in steps of 0.01, and scored against the planted pairs;
3. the lowest coefficient at which precision is at least 0.999 at every seed and stays so at
   every coefficient above it; plus one step for a margin.

    .venv/bin/python benchmarks/choose_linkage_threshold.py            # the table and the choice
    .venv/bin/python benchmarks/choose_linkage_threshold.py --febrl    # FEBRL4 beside, to read

FEBRL4 (``--febrl``) is printed for reading only: it takes no part in the choice.

That choice is the default. Each linkage run then chooses its own from its strangers
(``linkage.calibrate``, ADR 0034); the script ends with what that rule chooses for each seed
(and FEBRL4), and the precision and recall there.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fivesafes.linkage.encodings import THRESHOLD, clk
from fivesafes.linkage.identifiers import identity
from fivesafes.linkage.match import Matched, match_records
from fivesafes.linkage.synth import CdmPerson, Record, synthesise
from fivesafes.linkage.tokens import project_key, tokens

SEEDS = (7, 11, 13, 17, 19, 23)
THRESHOLDS = [round(0.55 + 0.01 * i, 2) for i in range(26)]  # 0.55 to 0.80
PRECISION = 0.999
KEY = project_key(bytes(range(32)), "p_linkage")  # the unit tests' keys, so figures agree
FEBRL_KEY = project_key(bytes(32), "p_febrl")
TODAY = date(2026, 12, 7)

Side = tuple[dict[int, dict[str, str]], dict[int, bytes]]  # tokens, encodings by person


def cdm(seed: int, n: int, start: int) -> list[CdmPerson]:
    """The unit tests' CDM persons (``test_linkage_synth_tokens.cdm``): sex and year only."""
    rng = np.random.default_rng(seed)
    return [CdmPerson(start + i, str(rng.choice(["F", "M"])), int(rng.integers(1930, 2005)))
            for i in range(n)]  # fmt: skip


def side(records: list[Record], site: str) -> Side:
    made_tokens, made_clks = {}, {}
    for r in records:
        if r.site != site:
            continue
        person = identity({"person_id": str(r.person_id), "nhs_number": r.nhs_number,
                           "given_name": r.given_name, "family_name": r.family_name,
                           "date_of_birth": r.date_of_birth, "sex": r.sex,
                           "postcode": r.postcode}, TODAY)  # fmt: skip
        made_tokens[r.person_id] = tokens(person, KEY)
        made_clks[r.person_id] = clk(person, KEY)
    return made_tokens, made_clks


def hospitals(seed: int) -> tuple[Side, Side, set[tuple[int, int]]]:
    records = synthesise({"northfield": cdm(1, 4000, 1), "lakeside": cdm(2, 4000, 100_001)},
                         overlap=0.3, seed=seed)  # fmt: skip
    first = {r.true_person: r.person_id for r in records if r.site == "northfield"}
    truth = {(first[r.true_person], r.person_id) for r in records
             if r.site == "lakeside" and r.true_person in first}  # fmt: skip
    return side(records, "northfield"), side(records, "lakeside"), truth


def febrl() -> tuple[Side, Side, set[tuple[str, str]]]:
    from febrl import encodable, records

    made = []
    for part in ("a", "b"):
        dated = records(part)  # tokens need a date of birth; encodings do not
        made.append(({r: tokens(p, FEBRL_KEY) for r, p in dated.items() if p is not None},
                     {r: clk(p, FEBRL_KEY) for r, p in encodable(part).items()}))  # fmt: skip
    truth = {(a, a.replace("-org", "-dup-0")) for a in made[0][1]}
    return made[0], made[1], truth  # type: ignore[return-value]


def scores(left: Side, right: Side, truth: set) -> dict[float, tuple[float, float]]:
    """(precision, recall) of tokens then encodings at each threshold."""
    found = {}
    for t in THRESHOLDS:
        by_tokens, by_encodings = match_records(left[0], right[0], left[1], right[1], threshold=t)
        linked = set(by_tokens) | set(by_encodings)
        hits = len(linked & truth)
        found[t] = (hits / max(len(linked), 1), hits / len(truth))
    return found


def own(left: Side, right: Side, truth: set) -> tuple[str, float, float]:
    """The run's own threshold (how it came), and precision and recall there."""
    done = Matched()
    by_tokens, by_encodings = match_records(left[0], right[0], left[1], right[1], done=done)
    linked = set(by_tokens) | set(by_encodings)
    hits = len(linked & truth)
    chosen = done.threshold
    assert chosen is not None
    text = (f"{chosen.value:.2f} ({chosen.how}: {chosen.above:,} of {chosen.strangers:,} "
            f"strangers' pairs at or above it, {chosen.expected_wrong:.2f} wrong links "
            "to expect)")  # fmt: skip
    return text, hits / max(len(linked), 1), hits / len(truth)


def choose(by_seed: dict[int, dict[float, tuple[float, float]]]) -> float | None:
    """The lowest threshold at and above which precision is at least ``PRECISION`` at every
    seed, plus one step; None if there is none."""
    lowest = None
    for t in reversed(THRESHOLDS):
        if all(by_seed[s][t][0] >= PRECISION for s in by_seed):
            lowest = t
        else:
            break
    return None if lowest is None else round(lowest + 0.01, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--febrl", action="store_true", help="print FEBRL4 beside (not chosen on)")
    args = parser.parse_args()
    by_seed, own_rows = {}, {}
    for seed in SEEDS:
        left, right, truth = hospitals(seed)
        by_seed[seed] = scores(left, right, truth)
        own_rows[f"seed {seed}"] = own(left, right, truth)
        print(f"seed {seed}: {len(truth)} planted pairs", file=sys.stderr, flush=True)
    extra = {}
    if args.febrl:
        left_f, right_f, truth_f = febrl()
        extra = scores(left_f, right_f, truth_f)
        own_rows["FEBRL4"] = own(left_f, right_f, truth_f)
    heads = [f"seed {s}" for s in SEEDS] + (["FEBRL4 (not chosen on)"] if extra else [])
    print("Precision / recall of tokens, then encodings, per threshold")
    print("")
    print("| Dice | " + " | ".join(heads) + " |")
    print("| ---: | " + " | ".join("---:" for _ in heads) + " |")
    for t in THRESHOLDS:
        cells = [f"{by_seed[s][t][0]:.4f} / {by_seed[s][t][1]:.4f}" for s in SEEDS]
        if extra:
            cells.append(f"{extra[t][0]:.4f} / {extra[t][1]:.4f}")
        print(f"| {t:.2f} | " + " | ".join(cells) + " |")
    chosen = choose(by_seed)
    print("")
    if chosen is None:
        print(f"No threshold up to {THRESHOLDS[-1]} keeps precision >= {PRECISION} at every seed.")
    else:
        print(f"Lowest threshold with precision >= {PRECISION} at every seed and above: "
              f"{chosen - 0.01:.2f}; with one step of margin: {chosen:.2f} "
              f"(encodings.THRESHOLD is {THRESHOLD:.2f}).")  # fmt: skip
    print("")
    print("Each run's own threshold (linkage.calibrate)")
    print("")
    print("| data | the run's threshold | precision | recall |")
    print("| --- | --- | ---: | ---: |")
    for name, (text, precision, recall) in own_rows.items():
        print(f"| {name} | {text} | {precision:.4f} | {recall:.4f} |")


if __name__ == "__main__":
    main()
