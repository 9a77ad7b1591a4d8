"""A review study's results (issue 17) on simulated studies with a planted truth.

The simulation (``simulate``) plants each reader's and the AI's error rates and drives a whole
study through the real actions; each test holds a result against what was planted, within a
tolerance set by the sample size (written where it is asserted), and one kappa and one alpha
against the reference packages on the same answers. A planted study of 240 cases is read by
three readers at two hospitals (every reader reads every case; a fifth read again).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from datetime import UTC, datetime
from statistics import mean

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from fivesafes.pathology.study import actions
from fivesafes.pathology.study.design import (
    Allocating,
    FormRef,
    StudyConflict,
    StudyDesign,
    StudyReader,
)
from fivesafes.pathology.study.forms import shipped_form
from fivesafes.pathology.study.reads import Read
from fivesafes.pathology.study.results import (
    AGREEMENT_HEADER,
    QUALITY_HEADER,
    ResultsError,
    agreement_table,
    ai_quality,
    aided_vs_unaided,
    can_see_results,
    check_results,
    intra_observer,
    progress,
    to_csv,
)
from fivesafes.pathology.study.simulate import PRESENT, TYPE, simulate_study
from fivesafes.pathology.study.store import MemoryStudies

FORM = shipped_form()
PERIODS = [f"2026-{month:02d}" for month in range(1, 7)]  # 20 cases of each hospital a month
READERS = [("ann", "north", 0.05), ("bea", "north", 0.15), ("cal", "lake", 0.30)]
AI_ERROR = {"north": 0.10, "lake": 0.25}
DRIFT = ("lake", PERIODS[-1], 0.80)  # the AI errs on 80 % of the lake's cases in the last month
PER_SITE = 120
REREADS = math.floor(0.2 * 2 * PER_SITE + 0.5)  # each reader's re-reads (allocation's rounding)
SEED = 17  # chosen before the first run, not tuned
RESAMPLES = 200
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def simulate(**changes):
    planted = {
        "cases_per_site": {"north": PER_SITE, "lake": PER_SITE},
        "readers": READERS,
        "ai_error_by_site": AI_ERROR,
        "ai_drift": DRIFT,
        "periods": PERIODS,
        "seed": SEED,
        "aided_improvement": 0.8,
        "reread_fraction": 0.2,
    }
    store = MemoryStudies()
    return store, simulate_study(store, **(planted | changes))


@pytest.fixture(scope="module")
def planted():
    return simulate()


def reads_of(store, study_id, reader=None, *, reread=False) -> list[Read]:
    """The submitted reads, straight from the store (not through ``results``)."""
    found = [a.read for a in store.reads(study_id, reader) if a.read.reread == reread]
    assert all(r.submitted_at is not None for r in found)
    return found


def within(share: float, expected: float, n: int, *, errors: float = 4.0) -> bool:
    """A binomial share of ``n`` within ``errors`` standard errors of ``expected``: a right
    share fails 4 standard errors with probability below 1e-4."""
    return abs(share - expected) < errors * math.sqrt(expected * (1 - expected) / n)


# -- what was planted ----------------------------------------------------------------------------


@pytest.mark.parametrize("item", [PRESENT, TYPE])
def test_each_readers_accuracy_against_the_truth_is_near_one_minus_their_error_rate(planted, item):
    store, sim = planted
    for name, _, error in READERS:
        reads = reads_of(store, sim.study_id, name)
        assert len(reads) == 2 * PER_SITE
        # a type is given only where reader and truth both find a carcinoma; it is still right
        # with probability 1 - error there, as the reader's type is drawn apart from presence
        scored = [
            r.unaided[item] == sim.truth[item][r.case]
            for r in reads
            if item in r.unaided and sim.truth[item][r.case] is not None
        ]
        assert len(scored) > 80
        assert within(mean(scored), 1 - error, len(scored))


def test_the_two_best_readers_agree_most_and_the_ai_follows_the_better_reader(planted):
    store, sim = planted
    table = agreement_table(
        store, sim.study_id, FORM, item=PRESENT, ai=sim.ai[PRESENT], resamples=RESAMPLES
    )
    kappa = {(s.first, s.second): s.estimate for s in table.readers}
    assert set(kappa) == {("ann", "bea"), ("ann", "cal"), ("bea", "cal")}
    # planted agreement 0.815 against 0.68 and 0.64: kappa about 0.59 against 0.33 and 0.23,
    # each with a standard error near 0.05 on 240 cases
    assert kappa["ann", "bea"] > max(kappa["ann", "cal"], kappa["bea", "cal"])
    with_ai = {s.first: s.estimate for s in table.versus_ai}
    assert with_ai["ann"] > with_ai["cal"]
    for s in table.rows:
        assert s.cases == 2 * PER_SITE and s.low <= s.estimate <= s.high and not s.note


@pytest.mark.parametrize(("item", "weights"), [(PRESENT, None), ("confidence", "quadratic")])
def test_a_kappa_in_the_table_equals_sklearn_on_the_same_answers(planted, item, weights):
    store, sim = planted
    ann = {r.case: r.unaided[item] for r in reads_of(store, sim.study_id, "ann")}
    bea = {r.case: r.unaided[item] for r in reads_of(store, sim.study_id, "bea")}
    shared = sorted(ann.keys() & bea.keys())
    labels = list(FORM.item(item).codes)
    expected = cohen_kappa_score(
        [ann[c] for c in shared], [bea[c] for c in shared], labels=labels, weights=weights
    )
    table = agreement_table(store, sim.study_id, FORM, item=item, resamples=RESAMPLES)
    ours = next(s for s in table.readers if (s.first, s.second) == ("ann", "bea"))
    assert ours.cases == len(shared)
    assert ours.estimate == pytest.approx(expected, abs=1e-12)


def test_the_panels_alpha_equals_the_krippendorff_package(planted):
    store, sim = planted
    cases = sorted(sim.truth[TYPE])
    codes = {code: i for i, code in enumerate(FORM.item(TYPE).codes)}
    rows = []
    for name, _, _ in READERS:
        theirs = {r.case: r.unaided.get(TYPE) for r in reads_of(store, sim.study_id, name)}
        rows.append([codes[theirs[c]] if theirs.get(c) else np.nan for c in cases])
    expected = krippendorff.alpha(reliability_data=rows, level_of_measurement="nominal")
    table = agreement_table(store, sim.study_id, FORM, item=TYPE, resamples=RESAMPLES)
    assert table.alpha.estimate == pytest.approx(expected, abs=1e-12)
    assert "fewer than two answers" in table.alpha.note  # a type only where a carcinoma is


def test_each_reader_agrees_with_themselves_as_their_error_rate_says(planted):
    store, sim = planted
    rows = {s.first: s for s in intra_observer(store, sim.study_id, FORM, item=PRESENT,
                                               resamples=RESAMPLES)}  # fmt: skip
    assert set(rows) == {"ann", "bea", "cal"}
    assert all(s.second == "re-read" and s.cases == REREADS for s in rows.values())
    # independent reads agree with probability 1 - 2e(1 - e): 0.905 for ann, 0.58 for cal;
    # kappa about 0.78 against 0.1, each with a standard error near 0.12 on 48 cases
    assert rows["ann"].estimate > rows["cal"].estimate


def consensus_wrong(rates):
    """The chance that most of three readers who err independently on a yes/no question err."""
    a, b, c = rates
    return a * b * (1 - c) + a * (1 - b) * c + (1 - a) * b * c + a * b * c


def quality_of(store, sim):
    """The AI's quality on presence, a yes/no question; a month is judged against at least the
    100 cases before it, which only the last month of each hospital has."""
    return ai_quality(store, sim.study_id, FORM, item=PRESENT, ai=sim.ai[PRESENT],
                      period_of=sim.period_of, positive="yes", min_baseline_cases=100)  # fmt: skip


def test_the_ais_accuracy_against_consensus_is_near_the_planted_rate_per_hospital(planted):
    store, sim = planted
    report = quality_of(store, sim)
    wrong = consensus_wrong([e for _, _, e in READERS])
    for site in report.sites:
        steady = [p.performance for p in site.periods if p.period != DRIFT[1] or
                  site.site != DRIFT[0]]  # fmt: skip
        n = sum(p.n for p in steady)
        share = sum(p.accuracy.successes for p in steady) / n
        # the AI matches the consensus when both are right or both are wrong (yes/no)
        error = AI_ERROR[site.site]
        expected = (1 - error) * (1 - wrong) + error * wrong
        assert n == (PER_SITE if site.site == "north" else PER_SITE - PER_SITE // len(PERIODS))
        assert within(share, expected, n)
    assert report.no_consensus == 0  # three yes/no answers always have a majority


def test_only_the_planted_drift_is_flagged(planted):
    store, sim = planted
    report = quality_of(store, sim)
    # a last month of 20 cases judged against the 100 before it: the AI then matches the
    # consensus on about a quarter of the lake's cases, far below its baseline of about 0.72;
    # a steady month is flagged in about 4 % of studies (over 100 seeds of this design: the
    # steady hospital flagged in 5, the drift never missed)
    flagged = {(s.site, p.period) for s in report.sites for p in s.periods if p.drift}
    assert flagged == {DRIFT[:2]}
    assert [p.period for s in report.sites for p in s.periods] == PERIODS * 2


def test_the_aided_effect_is_positive_when_planted_and_nothing_when_not(planted):
    store, sim = planted
    effect = aided_vs_unaided(store, sim.study_id, FORM, item=PRESENT, resamples=RESAMPLES)
    # against a consensus of the same unaided reads the gain is diluted where a reader's error
    # was the majority's: about +0.05 on average here, with a standard error near 0.015
    assert effect.mean_difference.estimate > 0
    gains = {r.reader: r.difference for r in effect.readers}
    assert gains["cal"] == max(gains.values())  # the most errors, the most to gain
    assert effect.cases == 2 * PER_SITE and effect.incomplete_reads == 0

    store, sim = simulate(cases_per_site={"north": 40, "lake": 40}, aided_improvement=0.0)
    effect = aided_vs_unaided(store, sim.study_id, FORM, item=PRESENT, resamples=RESAMPLES)
    assert all(r.difference == 0 for r in effect.readers)
    assert (effect.mean_difference.low, effect.mean_difference.high) == (0, 0)


def test_a_crossover_study_compares_a_readers_reads_of_a_case_in_each_condition():
    store, sim = simulate(cases_per_site={"north": 20, "lake": 20}, design="crossover",
                          reread_fraction=0.5, ai_drift=None)  # fmt: skip
    rereads = [
        r for name, _, _ in READERS for r in reads_of(store, sim.study_id, name, reread=True)
    ]
    effect = aided_vs_unaided(store, sim.study_id, FORM, item=PRESENT, resamples=RESAMPLES)
    per_reader = Counter(r.reader for r in rereads)
    for reader in effect.readers:
        assert 0 < reader.unaided.n <= per_reader[reader.reader]
    intra = intra_observer(store, sim.study_id, FORM, item=PRESENT, resamples=RESAMPLES)
    assert all(s.estimate is None and "too few cases" in s.note for s in intra)


# -- what is not computed ------------------------------------------------------------------------


def test_a_pair_sharing_few_cases_is_too_few_cases_not_a_number():
    store, sim = simulate(cases_per_site={"north": 3, "lake": 3}, reads_per_case=2, ai_drift=None)
    table = agreement_table(store, sim.study_id, FORM, item=PRESENT, resamples=RESAMPLES)
    for s in table.readers:
        assert s.cases < 5 and s.note.startswith("too few cases")
        assert (s.estimate, s.low, s.high) == (None, None, None)


def test_an_undefined_statistic_is_none_with_its_reason_in_words():
    nobody_errs = [(name, site, 0.0) for name, site, _ in READERS]
    store, sim = simulate(cases_per_site={"north": 10, "lake": 10}, readers=nobody_errs,
                          ai_error_by_site={"north": 0.0, "lake": 0.0}, ai_drift=None,
                          tumour_share=1.0)  # fmt: skip
    table = agreement_table(store, sim.study_id, FORM, item=PRESENT, ai=sim.ai[PRESENT],
                            resamples=RESAMPLES)  # fmt: skip
    for s in table.rows:
        assert s.estimate is None and "every answer is in one category" in s.note


def test_items_that_are_not_scored_and_a_form_the_study_did_not_pin_are_refused(planted):
    store, sim = planted
    for item, words in [("comment", "not scored"), ("ai_agrees", "per prediction"),
                        ("nothing_here", "no item")]:  # fmt: skip
        with pytest.raises(ResultsError, match=words):
            agreement_table(store, sim.study_id, FORM, item=item)
    other = FORM.model_copy(update={"version": FORM.version + 1})
    with pytest.raises(ResultsError, match="version"):
        agreement_table(store, sim.study_id, other, item=PRESENT)
    with pytest.raises(ResultsError, match="no period") as refused:
        ai_quality(store, sim.study_id, FORM, item=PRESENT, ai=sim.ai[PRESENT], period_of={})
    assert "C-" not in str(refused.value)  # counts, never a case
    with pytest.raises(ResultsError, match="median"):
        ai_quality(store, sim.study_id, FORM, item=PRESENT, ai={}, period_of=sim.period_of,
                   consensus="median")  # fmt: skip


# -- blinding and progress -----------------------------------------------------------------------


def open_study(store):
    design = StudyDesign(
        title="Lung biopsies read across two hospitals",
        purpose="Agreement on histological type, and the AI's quality per hospital.",
        nodes=("north", "lake"),
        model="demo-tumour",
        readers=tuple(StudyReader(username=u, site=s) for u, s, _ in READERS),
        allocation=Allocating(reads_per_case=2, exclude_own_site=False),
        form=FormRef(form_id=FORM.form_id, version=FORM.version),
    )
    study = actions.create_study(store, "proj", design, by="lead", now=NOW)
    actions.propose_study(store, study.study_id, by="lead")
    for node in ("north", "lake"):
        actions.approve_study(store, study.study_id, node, design.digest, by="c", now=NOW)
    released = [(f"rel-{i}", "north" if i % 2 else "lake") for i in range(12)]
    actions.add_cases(store, study.study_id, released, by="lead")
    actions.allocate_reads(store, study.study_id, by="lead")
    return study.study_id


ANSWERS = {"adequacy": "adequate", "tumour_present": "no", "confidence": "4"}


def test_results_are_refused_until_the_study_is_locked_and_progress_is_not():
    store = MemoryStudies()
    sid = open_study(store)
    ann = [a.read.read_id for a in actions.worklist(store, sid, by="ann")]
    for step, rid in enumerate(ann[:3]):  # one read opened, one locked, one submitted
        actions.open_read(store, rid, by="ann", now=NOW)
        if step >= 1:
            actions.save_read(store, rid, FORM, ANSWERS, phase="unaided", by="ann")
            actions.lock_read(store, rid, FORM, by="ann", now=NOW)
        if step == 2:
            actions.reveal_ai(store, rid, by="ann", now=NOW)
            actions.submit_read(store, rid, FORM, by="ann", now=NOW)
    for result in (
        lambda: agreement_table(store, sid, FORM, item=PRESENT),
        lambda: intra_observer(store, sid, FORM, item=PRESENT),
        lambda: ai_quality(store, sid, FORM, item=PRESENT, ai={}, period_of={}),
        lambda: aided_vs_unaided(store, sid, FORM, item=PRESENT),
    ):
        with pytest.raises(StudyConflict, match="once it is locked"):
            result()
    assert not can_see_results(store.study(sid))
    seen = progress(store, sid)
    assert seen.readers["ann"].assigned == len(ann)
    counts = seen.readers["ann"]
    assert (counts.opened, counts.locked, counts.submitted) == (3, 2, 1)
    assert seen.overall.assigned == 2 * 12  # two reads of each case
    assert sum(c.opened for c in seen.sites.values()) == 3

    actions.lock_study(store, sid, by="lead", now=NOW)
    check_results(store.study(sid))
    table = agreement_table(store, sid, FORM, item=PRESENT)  # one submitted read: too few
    assert all(s.estimate is None for s in table.rows)


def test_progress_counts_add_up_over_readers_and_hospitals(planted):
    store, sim = planted
    seen = progress(store, sim.study_id)
    every = 3 * (2 * PER_SITE + REREADS)
    assert seen.overall.assigned == seen.overall.submitted == every and seen.withdrawn == 0
    for field in ("assigned", "opened", "locked", "submitted"):
        total = getattr(seen.overall, field)
        assert sum(getattr(c, field) for c in seen.readers.values()) == total
        assert sum(getattr(c, field) for c in seen.sites.values()) == total
    assert set(seen.sites) == {"north", "lake"}


# -- CSV -----------------------------------------------------------------------------------------

NUMBER = re.compile(r"^-?\d+\.\d{4}$")


def test_the_agreement_csv_has_its_header_and_a_row_per_pair(planted):
    store, sim = planted
    table = agreement_table(store, sim.study_id, FORM, item="confidence", resamples=RESAMPLES)
    rows = list(csv.reader(io.StringIO(to_csv(table))))
    assert rows[0] == list(AGREEMENT_HEADER) == ["item", "phase", "statistic", "first",
        "second", "cases", "estimate", "ci_low", "ci_high", "note"]  # fmt: skip
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    readers = {name for name, _, _ in READERS}
    pairs = [r for r in body if r["first"] in readers and r["second"] in readers]
    assert sorted((r["first"], r["second"]) for r in pairs) == [
        ("ann", "bea"), ("ann", "cal"), ("bea", "cal")]  # fmt: skip
    assert all(NUMBER.match(r[k]) for r in pairs for k in ("estimate", "ci_low", "ci_high"))
    assert [r["statistic"] for r in body[-2:]] == [
        "Fleiss' kappa",
        "Krippendorff's alpha (ordinal)",
    ]
    fleiss = body[-2]  # not given for an ordinal item: empty cells and the reason
    assert (fleiss["estimate"], fleiss["ci_low"]) == ("", "") and "nominal" in fleiss["note"]
    assert not [r for r in body if r["second"] == "AI"]  # no AI answers given: no rows


def test_the_quality_csv_has_a_row_per_hospital_and_period(planted):
    store, sim = planted
    report = quality_of(store, sim)
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert rows[0] == list(QUALITY_HEADER)
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(body) == 1 + 2 * (1 + len(PERIODS))
    assert (body[0]["site"], body[0]["period"], body[0]["cases"]) == ("all", "all", "240")
    assert [(r["site"], r["period"]) for r in body if r["drift"] == "yes"] == [DRIFT[:2]]
    assert all(NUMBER.match(r["accuracy"]) for r in body)
    early = [r for r in body if r["period"] == PERIODS[0]]
    assert all(r["baseline"] == "" and r["drift"] == "no" for r in early)  # no baseline yet


# -- the simulation ------------------------------------------------------------------------------


def test_the_simulation_is_the_same_for_a_seed_and_differs_for_another():
    def planted_by_release(seed):
        store, sim = simulate(cases_per_site={"north": 15, "lake": 15}, seed=seed)
        answers = {(r.reader, sim.release_of[r.case]): r.unaided for r in reads_of(
            store, sim.study_id)}  # fmt: skip
        by_release = {sim.release_of[c]: (sim.truth[TYPE][c], sim.ai[PRESENT][c],
                                          sim.period_of[c]) for c in sim.release_of}  # fmt: skip
        return by_release, answers

    assert planted_by_release(5) == planted_by_release(5)
    assert planted_by_release(5) != planted_by_release(6)
