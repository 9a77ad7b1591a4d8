"""The node part of a GLM: the node's share of the model (its complete-case rows, with weights
and an offset) and one round's sums (``irls.node_round``)."""

from __future__ import annotations

import numpy as np

from fivesafes.analyses.catalogue import VARIABLES
from fivesafes.analyses.formula import design, parse_formula
from fivesafes.analyses.glm.irls import RoundSums, Rows, node_round
from fivesafes.analyses.glm.models import GLMParameters
from fivesafes.analyses.model_node import ModelShare, binary_columns, evidence
from fivesafes.analyses.variables import analysis_frame
from fivesafes.data.source import OmopDatabase
from fivesafes.protocol.models import Instruction
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.gate import ModelEvidence


def glm_share(db: OmopDatabase, parameters: GLMParameters) -> ModelShare:
    """The complete cases of the model's variables (and of its offset and weights)."""
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
    return ModelShare(
        persons=person_set(frame.person_ids[used]),
        rows=Rows.of(built.x, built.y, column(parameters.weights), column(parameters.offset)),
        columns=built.columns,
        level_counts=tuple(int(np.sum(b == 1.0)) for b in [*binary, *binary_columns(built)]),
        missing=len(frame) - len(used),
    )


def round_sums(share: ModelShare, parameters: GLMParameters, step: Instruction) -> RoundSums:
    return node_round(
        share.rows, parameters.family, step.step, ybar=step.ybar, beta=tuple(step.beta)
    )


def round_evidence(share: ModelShare, sums: RoundSums) -> ModelEvidence:
    finite = bool(
        np.all(np.isfinite(sums.xtwx))
        and np.all(np.isfinite(sums.xtwz))
        and np.isfinite(sums.deviance)
    )
    return evidence(share, sums.n, finite=finite, separation=sums.at_boundary > 0)
