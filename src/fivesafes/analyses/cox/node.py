"""The node part of a Cox model: the node's share (complete cases: covariates without an
intercept, time and event) and one round's sums (``newton.node_round``)."""

from __future__ import annotations

import numpy as np

from fivesafes.analyses.cox.models import CoxParameters
from fivesafes.analyses.cox.newton import CoxSums, SurvivalRows, node_round
from fivesafes.analyses.formula import design, parse_formula
from fivesafes.analyses.model_node import ModelShare, binary_columns, evidence
from fivesafes.analyses.variables import analysis_frame
from fivesafes.data.source import OmopDatabase
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.gate import ModelEvidence


def cox_share(db: OmopDatabase, parameters: CoxParameters) -> ModelShare:
    formula = parse_formula(parameters.formula)
    frame = analysis_frame(db, parameters.cohort, formula.variables)
    built = design(frame.columns, formula)
    used = built.used
    event = frame.columns[f"{formula.outcome}_event"][used]
    x = built.x[:, 1:]  # no intercept: the baseline hazard (per node) absorbs it
    binary = (int(np.sum(b == 1.0)) for b in binary_columns(built))
    return ModelShare(
        persons=person_set(frame.person_ids[used]),
        rows=SurvivalRows.of(x, built.y, event),
        columns=built.columns[1:],
        level_counts=(int(event.sum()), *binary),
        missing=len(frame) - int(used.sum()),
    )


def round_sums(share: ModelShare, beta: tuple[float, ...]) -> CoxSums:
    return node_round(share.rows, beta)


def round_evidence(share: ModelShare, sums: CoxSums) -> ModelEvidence:
    finite = bool(np.all(np.isfinite(sums.information)) and np.isfinite(sums.loglik))
    return evidence(share, sums.n, finite=finite, separation=False)
