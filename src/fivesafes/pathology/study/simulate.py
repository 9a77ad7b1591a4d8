"""A simulated review study with a known truth, for the demo and the benchmark (issue 17).

The simulation plants a truth for every case and lets simulated readers and a simulated AI
err at rates the caller chooses, then drives the study through the platform's own actions
(``actions``) on the given store, so what ``results`` measures can be held against what was
planted. What it plants, on the shipped lung biopsy form:

- **the truth** of each case: carcinoma present or not (``tumour_present``, yes with
  probability ``tumour_share``), and a histological type drawn from :data:`TYPE_SHARES`;
  the type is part of the truth only where a carcinoma is present (the form asks for it only
  then). The simulation never answers "cannot be determined", so ``tumour_present`` stays a
  yes/no question;
- **a reader** answers each item right with probability ``1 - error_rate``, and otherwise
  gives another of its codes at random (for ``tumour_present``: the other of yes and no).
  Re-reads are fresh, independent reads by the same rule;
- **the AI** does the same with the error rate of the case's hospital
  (``ai_error_by_site``); with ``ai_drift = (site, from_period, error_rate)`` that hospital's
  rate is ``error_rate`` from that period on (periods in the order given);
- **aided answers**: once the AI is shown, a reader who was wrong on an item where the AI is
  right takes the AI's answer with probability ``aided_improvement`` (0: the AI changes
  nothing); a right answer never changes.

A case's period is fixed by its place in its hospital's list: the cases are spread evenly over
``periods``. Every read is submitted and the study locked, so its results may be read.

Randomness: each case's truth, the AI's answers to it and each read's answers come from their
own ``numpy.random.default_rng`` streams keyed by ``seed`` and the case, reader and re-read, so
one seed always plants the same answers whatever the order of the worklists. Who reads which
case, and which cases are read again, are the platform's allocation, whose seed
``create_study`` chooses; with ``reads_per_case`` equal to the number of readers (the default)
only the choice of re-reads varies between runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np

from fivesafes.pathology.study import actions
from fivesafes.pathology.study.agreement import Answer
from fivesafes.pathology.study.design import Allocating, FormRef, StudyDesign, StudyReader
from fivesafes.pathology.study.forms import Form, shipped_form
from fivesafes.pathology.study.reads import Read
from fivesafes.pathology.study.store import StudyStore
from fivesafes.protocol.errors import InvalidRequest

PRESENT = "tumour_present"
TYPE = "histological_type"
TYPE_SHARES: Mapping[str, float] = {
    "adenocarcinoma": 0.45,
    "squamous": 0.25,
    "small_cell": 0.12,
    "lcnec": 0.05,
    "nsclc_nos": 0.08,
    "other": 0.05,
}
PRESENT_CODES = ("yes", "no")
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

Latent = dict[str, str]  # an answer to both planted items, whether the form shows it or not


@dataclass(frozen=True)
class SimulatedStudy:
    """What was planted, keyed by the cases' pseudonyms in the study."""

    study_id: str
    truth: dict[str, dict[str, Answer | None]]  # item -> case -> the true answer
    ai: dict[str, dict[str, Answer | None]]  # item -> case -> the AI's answer
    period_of: dict[str, str]  # case -> its period
    site_of: dict[str, str]  # case -> its hospital
    release_of: dict[str, str]  # case -> the release it was made from (the same for a seed)


def simulate_study(
    store: StudyStore,
    *,
    cases_per_site: Mapping[str, int],
    readers: Sequence[tuple[str, str, float]],
    ai_error_by_site: Mapping[str, float],
    periods: Sequence[str],
    seed: int,
    ai_drift: tuple[str, str, float] | None = None,
    aided_improvement: float = 0.5,
    tumour_share: float = 0.7,
    reads_per_case: int | None = None,
    exclude_own_site: bool = False,
    reread_fraction: float = 0.1,
    washout_days: int = 14,
    design: Literal["sequential", "crossover"] = "sequential",
    form: Form | None = None,
    lead: str = "lead",
    project_id: str = "simulated",
    study_id: str | None = None,
    start: datetime = START,
) -> SimulatedStudy:
    """Plant a truth, run a whole study on ``store`` through its actions, and lock it (see the
    module's docstring); ``readers`` are ``(username, hospital, error_rate)``."""
    form = form or shipped_form()
    _check(form, cases_per_site, readers, ai_error_by_site, periods, ai_drift)
    for share in (aided_improvement, tumour_share):
        if not 0.0 <= share <= 1.0:
            raise InvalidRequest("Shares of a simulation are between 0 and 1.")
    sites = list(cases_per_site)
    releases = [
        (f"sim-{site}-{i:04d}", site, periods[i * len(periods) // count])
        for site, count in cases_per_site.items()
        for i in range(count)
    ]
    truth, ai = _plant(releases, periods, ai_error_by_site, ai_drift, tumour_share, seed)
    allocating = Allocating(
        reads_per_case=reads_per_case or len(readers),
        exclude_own_site=exclude_own_site,
        reread_fraction=reread_fraction,
        washout_days=washout_days,
    )
    study_design = StudyDesign(
        title="A simulated lung biopsy study",
        purpose="Readers' agreement and the AI's quality against a planted truth.",
        nodes=tuple(sites),
        model="simulated-ai",
        readers=tuple(StudyReader(username=name, site=site) for name, site, _ in readers),
        allocation=allocating,
        design=design,
        form=FormRef(form_id=form.form_id, version=form.version),
    )
    study = actions.create_study(
        store, project_id, study_design, by=lead, now=start, study_id=study_id
    )
    sid = study.study_id
    actions.propose_study(store, sid, by=lead)
    for node in sites:
        actions.approve_study(
            store, sid, node, study_design.digest, by=f"custodian-{node}", now=start
        )
    made = actions.add_cases(store, sid, [(r, site) for r, site, _ in releases], by=lead)
    actions.allocate_reads(store, sid, by=lead)
    position = {release: i for i, (release, _, _) in enumerate(releases)}
    case_index = {c.case: position[c.review_id] for c in made}
    now = start
    rereads: list[tuple[int, str, Read]] = []
    for number, (name, _, error) in enumerate(readers):
        for assigned in actions.worklist(store, sid, by=name):
            if assigned.read.reread:
                rereads.append((number, name, assigned.read))
                continue
            now += timedelta(minutes=3)
            i = case_index[assigned.read.case]
            rng = np.random.default_rng([seed, 2, number, i, 0])
            _read(store, form, assigned.read, name, rng, error, truth[i], ai[i],
                  aided_improvement, now)  # fmt: skip
    now += timedelta(days=washout_days, hours=1)
    for number, name, read in rereads:
        now += timedelta(minutes=3)
        i = case_index[read.case]
        error = readers[number][2]
        rng = np.random.default_rng([seed, 2, number, i, 1])
        _read(store, form, read, name, rng, error, truth[i], ai[i], aided_improvement, now)
    actions.lock_study(store, sid, by=lead, now=now + timedelta(hours=1))

    return SimulatedStudy(
        study_id=sid,
        truth=_by_item(case_index, truth),
        ai=_by_item(case_index, ai),
        period_of={c.case: releases[case_index[c.case]][2] for c in made},
        site_of={c.case: c.site for c in made},
        release_of={c.case: c.review_id for c in made},
    )


def _plant(
    releases: Sequence[tuple[str, str, str]],
    periods: Sequence[str],
    ai_error_by_site: Mapping[str, float],
    ai_drift: tuple[str, str, float] | None,
    tumour_share: float,
    seed: int,
) -> tuple[list[Latent], list[Latent]]:
    """Each release's truth, and the AI's answers at its hospital's (and period's) error rate."""
    truth = [
        _truth(np.random.default_rng([seed, 0, i]), tumour_share) for i in range(len(releases))
    ]
    drift_from = periods.index(ai_drift[1]) if ai_drift else len(periods)
    ai: list[Latent] = []
    for i, (_, site, period) in enumerate(releases):
        rate = ai_error_by_site[site]
        if ai_drift and site == ai_drift[0] and periods.index(period) >= drift_from:
            rate = ai_drift[2]
        ai.append(_answer(np.random.default_rng([seed, 1, i]), truth[i], rate))
    return truth, ai


def _by_item(
    case_index: Mapping[str, int], latent: Sequence[Latent]
) -> dict[str, dict[str, Answer | None]]:
    """Item -> case -> answer, as the form shows them (``None`` where it does not ask)."""
    return {
        item: {case: _shown(latent[i]).get(item) for case, i in case_index.items()}
        for item in (PRESENT, TYPE)
    }


def _check(
    form: Form,
    cases_per_site: Mapping[str, int],
    readers: Sequence[tuple[str, str, float]],
    ai_error_by_site: Mapping[str, float],
    periods: Sequence[str],
    ai_drift: tuple[str, str, float] | None,
) -> None:
    """Refuse, in words, a simulation that cannot be run as asked."""
    items = {i.id: i for i in form.items}
    if PRESENT not in items or TYPE not in items or set(TYPE_SHARES) != set(items[TYPE].codes):
        raise InvalidRequest("The simulation plants the lung biopsy form's type and presence.")
    if not cases_per_site or any(n < 1 for n in cases_per_site.values()):
        raise InvalidRequest("Give each hospital of the simulation at least one case.")
    if not periods or len(set(periods)) != len(periods):
        raise InvalidRequest("Give the simulation at least one period, each once.")
    if set(ai_error_by_site) != set(cases_per_site):
        raise InvalidRequest(
            "Give the AI's error rate for every hospital with cases, and only them."
        )
    rates = [e for _, _, e in readers] + list(ai_error_by_site.values())
    if ai_drift is not None:
        site, period, rate = ai_drift
        if site not in cases_per_site or period not in periods:
            raise InvalidRequest("The AI's drift must name a hospital and a period of the study.")
        rates.append(rate)
    if not readers or any(not 0.0 <= e <= 1.0 for e in rates):
        raise InvalidRequest("The simulation needs readers, and error rates between 0 and 1.")


def _truth(rng: np.random.Generator, tumour_share: float) -> Latent:
    codes = list(TYPE_SHARES)
    kind = codes[int(rng.choice(len(codes), p=list(TYPE_SHARES.values())))]
    present = "yes" if rng.random() < tumour_share else "no"
    return {PRESENT: present, TYPE: kind}


def _answer(rng: np.random.Generator, truth: Latent, error: float) -> Latent:
    """Each planted item right with probability ``1 - error``, else another code at random."""
    answer = {}
    for item, codes in ((PRESENT, PRESENT_CODES), (TYPE, tuple(TYPE_SHARES))):
        right = truth[item]
        if rng.random() < error:
            others = [c for c in codes if c != right]
            answer[item] = others[int(rng.integers(len(others)))]
        else:
            answer[item] = right
    return answer


def _shown(latent: Latent) -> dict[str, Answer]:
    """The planted items as the form asks them: a type only where a carcinoma is present."""
    if latent[PRESENT] == "yes":
        return {PRESENT: "yes", TYPE: latent[TYPE]}
    return {PRESENT: latent[PRESENT]}


def _aided(
    rng: np.random.Generator, unaided: Latent, truth: Latent, ai: Latent, improvement: float
) -> Latent:
    """The reader's answers once the AI is shown: a wrong answer where the AI shows the right
    one becomes the AI's with probability ``improvement``."""
    shown_ai, shown_truth = _shown(ai), _shown(truth)
    aided = dict(unaided)
    for item in (PRESENT, TYPE):
        suggested = shown_ai.get(item)
        switch = rng.random() < improvement  # drawn for every item: the streams stay aligned
        if suggested is not None and suggested == shown_truth.get(item) != unaided[item]:
            aided[item] = str(suggested) if switch else unaided[item]
    return aided


def _form_answers(latent: Latent, confidence: str) -> dict[str, Any]:
    return {"adequacy": "adequate", **_shown(latent), "confidence": confidence}


def _read(
    store: StudyStore,
    form: Form,
    read: Read,
    by: str,
    rng: np.random.Generator,
    error: float,
    truth: Latent,
    ai: Latent,
    improvement: float,
    now: datetime,
) -> None:
    """One reader's read of one case, through the actions its condition takes."""
    unaided = _answer(rng, truth, error)
    aided = _aided(rng, unaided, truth, ai, improvement)
    confidence = str(int(rng.integers(3, 6)))
    rid = read.read_id
    actions.open_read(store, rid, by=by, now=now)
    if read.condition == "sequential":
        actions.save_read(store, rid, form, _form_answers(unaided, confidence),
                          phase="unaided", by=by)  # fmt: skip
        actions.lock_read(store, rid, form, by=by, now=now)
        actions.reveal_ai(store, rid, by=by, now=now)
        actions.save_read(store, rid, form, _form_answers(aided, confidence),
                          phase="aided", by=by)  # fmt: skip
    elif read.condition == "unaided":
        actions.save_read(store, rid, form, _form_answers(unaided, confidence),
                          phase="unaided", by=by)  # fmt: skip
    else:
        actions.save_read(store, rid, form, _form_answers(aided, confidence),
                          phase="aided", by=by)  # fmt: skip
    actions.submit_read(store, rid, form, by=by, now=now)
