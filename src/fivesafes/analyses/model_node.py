"""The node part of the models (GLM and Cox): the node's share of the model (its complete-case
rows as numbers, built once per task and kept for the task's rounds) and one round's sums."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

import numpy as np
from pyroaring import BitMap

from fivesafes.analyses.catalogue import VARIABLES
from fivesafes.analyses.cox import CoxSums, SurvivalRows
from fivesafes.analyses.cox import node_round as cox_round
from fivesafes.analyses.formula import Design, Formula, design, parse_formula
from fivesafes.analyses.glm import RoundSums, Rows, node_round
from fivesafes.analyses.variables import analysis_frame
from fivesafes.data.source import OmopDatabase
from fivesafes.protocol.models import CoxParameters, GLMParameters, Instruction
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.gate import ModelEvidence

CACHED_SHARES = 4


@dataclass(frozen=True)
class ModelShare:
    """This node's rows of a model: never leaves the node."""

    persons: BitMap  # the complete cases: the population behind every round's sums
    rows: Rows | SurvivalRows
    columns: tuple[str, ...]
    level_counts: tuple[int, ...]  # rows holding 1, per binary column (outcome first)
    missing: int  # cohort persons left out for a missing variable


_shares: OrderedDict[str, ModelShare] = OrderedDict()
_lock = Lock()


ModelParameters = GLMParameters | CoxParameters


def model_share(db: OmopDatabase, parameters: ModelParameters, key: str) -> ModelShare:
    """The share for ``parameters``, from the cache when this task's rounds built it before."""
    with _lock:
        if key in _shares:
            _shares.move_to_end(key)
            return _shares[key]
    share = build_share(db, parameters)
    with _lock:
        _shares[key] = share
        while len(_shares) > CACHED_SHARES:
            _shares.popitem(last=False)
    return share


def build_share(db: OmopDatabase, parameters: ModelParameters) -> ModelShare:
    formula = parse_formula(parameters.formula)
    if isinstance(parameters, CoxParameters):
        return _cox_share(db, parameters, formula)
    extra = [v for v in (parameters.offset, parameters.weights) if v is not None]
    frame = analysis_frame(db, parameters.cohort, [*formula.variables, *extra])
    keep = np.ones(len(frame), dtype=bool)
    for name in extra:
        keep &= ~np.isnan(frame.columns[name])
    columns = {name: values[keep] for name, values in frame.columns.items()}
    built = design(columns, formula)
    used = np.flatnonzero(keep)[built.used]

    def column(name: str | None) -> np.ndarray | None:
        return None if name is None else frame.columns[name][used]

    binary = [built.y] if VARIABLES[formula.outcome].kind == "binary" else []
    return ModelShare(
        persons=person_set(frame.person_ids[used]),
        rows=Rows.of(built.x, built.y, column(parameters.weights), column(parameters.offset)),
        columns=built.columns,
        level_counts=tuple(int(np.sum(b == 1.0)) for b in [*binary, *_binary(built)]),
        missing=len(frame) - len(used),
    )


def _binary(built: Design) -> list[np.ndarray]:
    """The design's 0/1 columns: dummies of categorical terms and binary terms."""
    return [
        built.x[:, j]
        for j, name in enumerate(built.columns)
        if "[T." in name or (name in VARIABLES and VARIABLES[name].kind == "binary")
    ]


def _cox_share(db: OmopDatabase, parameters: CoxParameters, formula: Formula) -> ModelShare:
    frame = analysis_frame(db, parameters.cohort, formula.variables)
    built = design(frame.columns, formula)
    used = built.used
    event = frame.columns[f"{formula.outcome}_event"][used]
    x = built.x[:, 1:]  # no intercept: the baseline hazard (per node) absorbs it
    return ModelShare(
        persons=person_set(frame.person_ids[used]),
        rows=SurvivalRows.of(x, built.y, event),
        columns=built.columns[1:],
        level_counts=(int(event.sum()), *(int(np.sum(b == 1.0)) for b in _binary(built))),
        missing=len(frame) - int(used.sum()),
    )


def round_sums(
    share: ModelShare, parameters: ModelParameters, step: Instruction
) -> RoundSums | CoxSums:
    if isinstance(share.rows, SurvivalRows):
        return cox_round(share.rows, tuple(step.beta))
    assert isinstance(parameters, GLMParameters)
    return node_round(
        share.rows, parameters.family, step.step, ybar=step.ybar, beta=tuple(step.beta)
    )


def evidence_of(share: ModelShare, sums: RoundSums | CoxSums) -> ModelEvidence:
    if isinstance(sums, CoxSums):
        finite = bool(np.all(np.isfinite(sums.information)) and np.isfinite(sums.loglik))
        separation = False
    else:
        finite = bool(
            np.all(np.isfinite(sums.xtwx))
            and np.all(np.isfinite(sums.xtwz))
            and np.isfinite(sums.deviance)
        )
        separation = sums.at_boundary > 0
    return ModelEvidence(
        n=sums.n,
        parameters=len(share.columns),
        level_counts=share.level_counts,
        separation=separation,
        finite=finite,
    )
