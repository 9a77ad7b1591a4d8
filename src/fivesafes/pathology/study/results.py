"""A review study's results, read from its records in the store: pure functions, no I/O.
:func:`progress` counts reads per reader and hospital; :func:`agreement_table` gives each pair
of readers, each reader with the AI, and the panel (Fleiss' kappa, Krippendorff's alpha), with
bootstrap intervals; :func:`intra_observer` each reader's first reads against their re-reads;
:func:`ai_quality` the AI against the panel's consensus per hospital and period;
:func:`aided_vs_unaided` readers' accuracy without and with the AI; :func:`to_csv` a table.

**Which answers.** Only submitted reads count, and only first reads (re-reads serve
:func:`intra_observer`, and in a crossover study the aided effect). Agreement and consensus take
the *unaided* answers by default: the first read, locked before the AI was shown, is the
readers' own judgement; ``phase="aided"`` takes the answers given with the AI. In a crossover
study a read has one condition, and a phase takes only the reads in it.

**Which statistic** follows the item's kind: a choice or a yes/no item is nominal (Cohen's and
Fleiss' kappa, nominal alpha); an ordinal item takes quadratic-weighted kappa and ordinal alpha
(Fleiss' kappa does not weigh ordered answers: not given); an integer item takes interval alpha
only, for pairs too. Text and regions are read, not scored: refused in words.

**Undefined is said, not computed.** A pair with fewer than :data:`MIN_SHARED_CASES` cases both
answered is "too few cases"; a statistic undefined on its cases (every answer in one category)
is ``None`` with the reason in words. Intervals are percentile bootstraps over cases
(``agreement.bootstrap_ci``), at 95 %, seeded by the study's own seed (the platform's) unless
the platform's own code passes one: never a client, who could shop for an interval.

**Blinding.** No reader sees another's answers until the study is locked
(``reads.answers_visible``), so every result built on answers needs a locked or closed study
(:func:`check_results`); progress carries no answer and is shown at any time. Who may see
results (the study team) is checked where requests arrive.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple, dataclass
from datetime import date
from itertools import combinations
from typing import Literal, TypeVar

from fivesafes.pathology.study import agreement as stats
from fivesafes.pathology.study import quality
from fivesafes.pathology.study.agreement import AgreementError, Answer, Level, Weights, is_given
from fivesafes.pathology.study.design import StudyConflict, StudyState
from fivesafes.pathology.study.forms import Form
from fivesafes.pathology.study.quality import AidedEffect, AidedRead, Performance, QualityReport
from fivesafes.pathology.study.reads import Phase, Read, ReadState
from fivesafes.pathology.study.store import Study, StudyStore
from fivesafes.protocol.errors import InvalidRequest, NotFoundOrNoPermission

MIN_SHARED_CASES = 5  # fewer cases answered by both: "too few cases"
DEFAULT_RESAMPLES = 1000
AI = "AI"  # the AI, in a table
PANEL = "panel"  # the readers together, in a table
T = TypeVar("T")
Answers = dict[str, dict[str, Answer | None]]  # reader -> case -> answer
Pairs = Sequence[tuple[Answer, Answer]]


class ResultsError(InvalidRequest):
    """A result asked of an item, or with inputs, it does not fit: said in words."""


def can_see_results(study: Study) -> bool:
    return study.state in (StudyState.LOCKED, StudyState.CLOSED)


def check_results(study: Study) -> None:
    """Results show every reader's answers: only once the study is locked."""
    if not can_see_results(study):
        raise StudyConflict(
            "The study's results are shown once it is locked: until then each reader's "
            "answers are hidden from everyone else."
        )


def _study(store: StudyStore, study_id: str, *, locked: bool = True) -> Study:
    study = store.study(study_id)
    if study is None:
        raise NotFoundOrNoPermission("study")
    if locked:
        check_results(study)
    return study


# -- progress ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """Reads (not withdrawn) and how many reached each step: a submitted read was opened and
    locked too, so no count is larger than the one before it."""

    assigned: int = 0
    opened: int = 0
    locked: int = 0  # answers fixed: a locked unaided read, or a submitted read
    submitted: int = 0

    def plus(self, read: Read) -> Counts:
        done = read.state == ReadState.SUBMITTED
        return Counts(
            self.assigned + 1,
            self.opened + (read.opened_at is not None),
            self.locked + (done or read.locked_at is not None),
            self.submitted + done,
        )


@dataclass(frozen=True)
class Progress:
    overall: Counts
    readers: dict[str, Counts]  # by reader
    sites: dict[str, Counts]  # by the case's hospital
    withdrawn: int  # reads taken from a reader who left (in no count above)


def progress(store: StudyStore, study_id: str) -> Progress:
    """How far the study's reads (first reads and re-reads) have gone."""
    _study(store, study_id, locked=False)
    site = {c.case: c.site for c in store.cases(study_id)}
    overall, withdrawn = Counts(), 0
    readers: dict[str, Counts] = defaultdict(Counts)
    sites: dict[str, Counts] = defaultdict(Counts)
    for read in (a.read for a in store.reads(study_id)):
        if read.state == ReadState.WITHDRAWN:
            withdrawn += 1
            continue
        overall = overall.plus(read)
        readers[read.reader] = readers[read.reader].plus(read)
        sites[site[read.case]] = sites[site[read.case]].plus(read)
    return Progress(overall, dict(sorted(readers.items())), dict(sorted(sites.items())), withdrawn)


# -- answers and scales --------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """How an item's answers are compared."""

    level: Level
    weights: Weights | None
    categories: tuple[Answer, ...] | None

    @property
    def pair_name(self) -> str:
        if self.level == "interval":
            return "Krippendorff's alpha (interval)"
        return "Cohen's kappa" + (f" ({self.weights} weights)" if self.weights else "")

    def pair(self, pairs: Pairs) -> float:
        """Agreement between two sets of answers to the same cases."""
        first, second = [a for a, _ in pairs], [b for _, b in pairs]
        if self.level == "interval":
            return stats.krippendorff_alpha([first, second], level="interval")
        return stats.cohen_kappa(first, second, weights=self.weights, categories=self.categories)


def scale_of(study: Study, form: Form, item_id: str) -> Scale:
    """The item's scale, or a refusal in words of a form or an item that results do not fit."""
    if (form.form_id, form.version) != (study.design.form.form_id, study.design.form.version):
        raise ResultsError("The form given is not the version of the form the study pinned.")
    try:
        item = form.item(item_id)
    except KeyError:
        raise ResultsError("The study's form has no item of that name.") from None
    if item.target != "case":
        raise ResultsError("Results compare a case's items, not those answered per prediction.")
    scales = {
        "choice": Scale("nominal", None, item.codes),
        "ordinal": Scale("ordinal", "quadratic", item.codes),
        "boolean": Scale("nominal", None, (False, True)),
        "integer": Scale("interval", None, None),
    }
    if item.kind not in scales:
        raise ResultsError("A text or region item is read, not scored: choose a coded item.")
    return scales[item.kind]


def answer(read: Read, item: str, phase: Phase) -> Answer | None:
    """The read's answer to ``item`` in ``phase`` (``None``: not given, or not in that phase)."""
    if read.condition not in ("sequential", phase):
        return None
    given = ((read.unaided if phase == "unaided" else read.aided) or {}).get(item)
    return given if isinstance(given, str | int | float) and is_given(given) else None


def answers_of(
    store: StudyStore, study_id: str, item: str, phase: Phase, *, reread: bool = False
) -> Answers:
    """Reader -> case -> answer, from the submitted first reads (or re-reads)."""
    table: Answers = defaultdict(dict)
    for read in (a.read for a in store.reads(study_id)):
        if read.state == ReadState.SUBMITTED and read.reread == reread:
            table[read.reader][read.case] = answer(read, item, phase)
    return dict(sorted(table.items()))


# -- agreement -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statistic:
    statistic: str
    first: str  # a reader, or the panel
    second: str  # a reader, the AI, "re-read", or "" for the panel
    cases: int  # the cases it rests on
    estimate: float | None  # None: not computed, and ``note`` says why
    low: float | None
    high: float | None
    note: str = ""


@dataclass(frozen=True)
class AgreementTable:
    item: str
    phase: Phase
    level: Level
    readers: tuple[Statistic, ...]  # each pair of readers
    versus_ai: tuple[Statistic, ...]  # each reader with the AI
    fleiss: Statistic
    alpha: Statistic

    @property
    def rows(self) -> tuple[Statistic, ...]:
        return (*self.readers, *self.versus_ai, self.fleiss, self.alpha)


@dataclass(frozen=True)
class _Bootstrap:
    seed: int
    resamples: int

    def run(self, name: str, between: tuple[str, str], cases: Sequence[T],
            statistic: Callable[[Sequence[T]], float], note: str = "") -> Statistic:  # fmt: skip
        n = len(cases)
        if n < MIN_SHARED_CASES:
            why = f"too few cases: {n} answered, at least {MIN_SHARED_CASES} needed"
            return Statistic(name, *between, n, None, None, None, _join(why, note))
        try:
            ci = stats.bootstrap_ci(statistic, cases, seed=self.seed, resamples=self.resamples)
        except AgreementError as exc:
            return Statistic(name, *between, n, None, None, None, _join(str(exc), note))
        if ci.skipped:
            note = _join(note, f"{ci.skipped} of {self.resamples} resamples undefined, left out")
        return Statistic(name, *between, n, ci.estimate, ci.low, ci.high, note)


def _prepared(
    store: StudyStore, study_id: str, form: Form, item: str, seed: int | None, resamples: int
) -> tuple[Study, Scale, _Bootstrap]:
    study = _study(store, study_id)
    bootstrap = _Bootstrap(study.seed if seed is None else seed, resamples)
    return study, scale_of(study, form, item), bootstrap


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _paired(
    a: Mapping[str, Answer | None], b: Mapping[str, Answer | None], why: str
) -> tuple[list[tuple[Answer, Answer]], str]:
    """The answers to the cases both answered, and a note of the shared cases left out."""
    pairs = []
    shared = sorted(a.keys() & b.keys())
    for case in shared:
        x, y = a[case], b[case]
        if is_given(x) and is_given(y):
            pairs.append((x, y))
    return pairs, _left_out(len(shared) - len(pairs), why)


def _left_out(count: int, why: str) -> str:
    return f"{count} case{'s' if count != 1 else ''} left out: {why}" if count else ""


def agreement_table(
    store: StudyStore, study_id: str, form: Form, *, item: str,
    ai: Mapping[str, Answer | None] | None = None, phase: Phase = "unaided",
    seed: int | None = None, resamples: int = DEFAULT_RESAMPLES,
) -> AgreementTable:  # fmt: skip
    """How far the readers agree on ``item``: each pair, each reader with the AI (``ai``:
    case -> the AI's answer; no such rows without it), and the panel; see the module's
    docstring."""
    study, scale, boot = _prepared(store, study_id, form, item, seed, resamples)
    answers = answers_of(store, study_id, item, phase)
    readers = []
    for a, b in combinations(answers, 2):
        pairs, note = _paired(answers[a], answers[b], "not answered by both")
        readers.append(boot.run(scale.pair_name, (a, b), pairs, scale.pair, note))
    versus_ai = []
    if ai is not None:
        for reader, theirs in answers.items():
            their_ai = {c: ai.get(c) for c in theirs}
            pairs, note = _paired(theirs, their_ai, "the reader or the AI gave no answer")
            versus_ai.append(boot.run(scale.pair_name, (reader, AI), pairs, scale.pair, note))
    cases = sorted({case for theirs in answers.values() for case in theirs})
    columns = [[answers[r][c] for r in answers if c in answers[r]] for c in cases]
    fleiss = _fleiss(boot, scale, columns, study.design.allocation.reads_per_case)
    pairable = [[answers[r].get(c) for r in answers] for c in cases]
    pairable = [col for col in pairable if sum(map(is_given, col)) >= 2]
    note = _left_out(len(cases) - len(pairable), "fewer than two answers")

    def alpha(sample: Sequence[list[Answer | None]]) -> float:
        rows = [[col[j] for col in sample] for j in range(len(answers))]
        return stats.krippendorff_alpha(rows, level=scale.level, categories=scale.categories)

    panel = boot.run(f"Krippendorff's alpha ({scale.level})", (PANEL, ""), pairable, alpha, note)
    return AgreementTable(item, phase, scale.level, tuple(readers), tuple(versus_ai), fleiss, panel)


def _fleiss(
    boot: _Bootstrap, scale: Scale, columns: list[list[Answer | None]], k: int
) -> Statistic:
    """Fleiss' kappa over the cases with exactly ``k`` first reads, all answered."""
    if scale.level != "nominal":
        why = f"Fleiss' kappa is for nominal answers; the {scale.level} alpha is the panel's"
        return Statistic("Fleiss' kappa", PANEL, "", 0, None, None, None, why)
    full = [col for col in columns if len(col) == k and all(map(is_given, col))]
    note = _left_out(len(columns) - len(full), f"not answered by exactly {k} readers")

    def kappa(sample: Sequence[list[Answer | None]]) -> float:
        return stats.fleiss_kappa(sample, categories=scale.categories)

    return boot.run("Fleiss' kappa", (PANEL, ""), full, kappa, note)


def intra_observer(
    store: StudyStore, study_id: str, form: Form, *, item: str, phase: Phase = "unaided",
    seed: int | None = None, resamples: int = DEFAULT_RESAMPLES,
) -> tuple[Statistic, ...]:  # fmt: skip
    """Each reader with re-reads: their first read of a case against their re-read of it, in
    ``phase``. (A crossover study re-reads a case in the other condition, so no case has both
    reads in one phase: every reader has too few cases; see :func:`aided_vs_unaided`.)"""
    _, scale, boot = _prepared(store, study_id, form, item, seed, resamples)
    first = answers_of(store, study_id, item, phase)
    again = answers_of(store, study_id, item, phase, reread=True)
    rows = []
    for reader, theirs in again.items():
        pairs, note = _paired(first.get(reader, {}), theirs, "not answered in both reads")
        name = f"{scale.pair_name}, read and re-read"
        rows.append(boot.run(name, (reader, "re-read"), pairs, scale.pair, note))
    return tuple(rows)


# -- the AI's quality and the aided effect -------------------------------------------------------

How = Literal["majority", "median"]


def panel_consensus(
    store: StudyStore, study_id: str, scale: Scale, item: str, how: How = "majority"
) -> dict[str, Answer | None]:
    """Case -> the panel's answer, from the submitted first reads' unaided answers: their
    majority, or for an ordinal or integer item their median; ``None``: no consensus."""
    if how == "median" and scale.level not in ("ordinal", "interval"):
        raise ResultsError("A median consensus needs an ordinal or integer item.")
    answers: dict[str, list[Answer | None]] = {c.case: [] for c in store.cases(study_id)}
    for theirs in answers_of(store, study_id, item, "unaided").values():
        for case, given in theirs.items():
            answers[case].append(given)
    if how == "majority":
        return {case: stats.consensus(given) for case, given in answers.items()}
    return {c: stats.median_consensus(g, categories=scale.categories) for c, g in answers.items()}


def ai_quality(
    store: StudyStore, study_id: str, form: Form, *, item: str,
    ai: Mapping[str, Answer | None], period_of: Mapping[str, str | date],
    positive: Answer | None = None, consensus: How = "majority",
    min_baseline_cases: int = quality.DEFAULT_MIN_BASELINE_CASES,
) -> QualityReport:  # fmt: skip
    """The AI's answers (``ai``: case -> answer) against the panel's consensus, overall, per
    hospital and per hospital and period (``period_of``: case -> its period), with the drift
    rule of ``quality``; a yes/no question when ``positive`` names its finding."""
    study = _study(store, study_id)
    agreed = panel_consensus(store, study_id, scale_of(study, form, item), item, consensus)
    cases = store.cases(study_id)
    missing = sum(1 for c in cases if c.case not in period_of)
    if missing:
        raise ResultsError(f"{missing} of the study's cases have no period: give each one.")
    rows = [quality.QualityRow(c.case, c.site, period_of[c.case], ai.get(c.case), agreed[c.case])
            for c in cases]  # fmt: skip
    try:
        if positive is None:
            return quality.multiclass_quality(rows, min_baseline_cases=min_baseline_cases)
        return quality.binary_quality(
            rows, positive=positive, min_baseline_cases=min_baseline_cases
        )
    except AgreementError as exc:
        raise ResultsError(str(exc)) from None


def aided_vs_unaided(
    store: StudyStore, study_id: str, form: Form, *, item: str, seed: int | None = None,
    resamples: int = DEFAULT_RESAMPLES,
) -> AidedEffect:  # fmt: skip
    """Readers' accuracy against the panel's consensus without and with the AI: in a
    sequential study each first read's unaided and aided answers; in a crossover study a
    reader's reads of a case in each condition (a first read and its re-read)."""
    study = _study(store, study_id)
    agreed = panel_consensus(store, study_id, scale_of(study, form, item), item)
    done = [a.read for a in store.reads(study_id) if a.read.state == ReadState.SUBMITTED]
    if study.design.design == "sequential":
        reads = [AidedRead(r.case, r.reader, answer(r, item, "unaided"), answer(r, item, "aided"))
                 for r in done if not r.reread]  # fmt: skip
    else:
        aided = {(r.reader, r.case): r for r in done if r.condition == "aided"}
        pairs = [(r, aided.get((r.reader, r.case))) for r in done if r.condition == "unaided"]
        reads = [AidedRead(u.case, u.reader, answer(u, item, "unaided"), answer(a, item, "aided"))
                 for u, a in pairs if a is not None]  # fmt: skip
    seed = study.seed if seed is None else seed
    try:
        return quality.aided_effect(reads, agreed, seed=seed, resamples=resamples)
    except AgreementError as exc:
        raise ResultsError(f"The aided effect is undefined: {exc}") from None


# -- CSV -----------------------------------------------------------------------------------------

AGREEMENT_HEADER = ("item", "phase", "statistic", "first", "second", "cases", "estimate",
                    "ci_low", "ci_high", "note")  # fmt: skip
QUALITY_HEADER = ("site", "period", "cases", "accuracy", "accuracy_low", "accuracy_high",
                  "sensitivity", "specificity", "kappa", "baseline", "drift")  # fmt: skip
ALL = "all"


def to_csv(result: AgreementTable | QualityReport) -> str:
    """CSV text: a header row, then one row per statistic of a table, or per hospital and
    period of the AI's quality (``all``: every hospital, or every period); numbers to four
    decimals; an undefined value is an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if isinstance(result, AgreementTable):
        writer.writerow(AGREEMENT_HEADER)
        writer.writerows(_cells(result.item, result.phase, *astuple(s)) for s in result.rows)
        return out.getvalue()
    writer.writerow(QUALITY_HEADER)
    writer.writerow(_cells(ALL, ALL, *_performance(result.overall), None, None))
    for site in result.sites:
        writer.writerow(_cells(site.site, ALL, *_performance(site.performance), None, None))
        for p in site.periods:
            when = p.period.isoformat() if isinstance(p.period, date) else p.period
            baseline = p.baseline.estimate if p.baseline else None
            writer.writerow(
                _cells(site.site, when, *_performance(p.performance), baseline, p.drift)
            )
    return out.getvalue()


def _performance(perf: Performance | None) -> list[object]:
    if perf is None:
        return [0, *[None] * 6]
    accuracy, sens, spec = perf.accuracy, perf.sensitivity, perf.specificity
    shares = [sens.estimate if sens else None, spec.estimate if spec else None]
    return [perf.n, accuracy.estimate, accuracy.low, accuracy.high, *shares, perf.kappa]


def _cells(*values: object) -> list[str]:
    def cell(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    return [cell(v) for v in values]
