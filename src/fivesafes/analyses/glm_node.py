"""The node part of the GLM: the node's share of the model (its complete-case rows as numbers,
built once per task and kept for the task's rounds) and one round's sums over it."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

import numpy as np
from pyroaring import BitMap

from fivesafes.analyses.catalogue import VARIABLES
from fivesafes.analyses.formula import design, parse_formula
from fivesafes.analyses.glm import RoundSums, Rows, node_round
from fivesafes.analyses.variables import analysis_frame
from fivesafes.data.source import OmopDatabase
from fivesafes.protocol.models import GLMParameters, Instruction
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.gate import ModelEvidence

CACHED_SHARES = 4


@dataclass(frozen=True)
class ModelShare:
    """This node's rows of a model: never leaves the node."""

    persons: BitMap  # the complete cases: the population behind every round's sums
    rows: Rows
    columns: tuple[str, ...]
    level_counts: tuple[int, ...]  # rows holding 1, per binary column (outcome first)
    missing: int  # cohort persons left out for a missing variable


_shares: OrderedDict[str, ModelShare] = OrderedDict()
_lock = Lock()


def model_share(db: OmopDatabase, parameters: GLMParameters, key: str) -> ModelShare:
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


def build_share(db: OmopDatabase, parameters: GLMParameters) -> ModelShare:
    formula = parse_formula(parameters.formula)
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
    binary += [
        built.x[:, j]
        for j, name in enumerate(built.columns)
        if "[T." in name or (name in VARIABLES and VARIABLES[name].kind == "binary")
    ]
    return ModelShare(
        persons=person_set(frame.person_ids[used]),
        rows=Rows.of(built.x, built.y, column(parameters.weights), column(parameters.offset)),
        columns=built.columns,
        level_counts=tuple(int(np.sum(b == 1.0)) for b in binary),
        missing=len(frame) - len(used),
    )


def round_sums(share: ModelShare, parameters: GLMParameters, step: Instruction) -> RoundSums:
    return node_round(
        share.rows, parameters.family, step.step, ybar=step.ybar, beta=tuple(step.beta)
    )


def evidence_of(share: ModelShare, sums: RoundSums) -> ModelEvidence:
    finite = bool(
        np.all(np.isfinite(sums.xtwx))
        and np.all(np.isfinite(sums.xtwz))
        and np.isfinite(sums.deviance)
    )
    return ModelEvidence(
        n=len(share.rows.y),
        parameters=len(share.columns),
        level_counts=share.level_counts,
        separation=sums.at_boundary > 0,
        finite=finite,
    )
