"""What the models (GLM, Cox, a meta-analysis's own fits) share: a node's share of the model
(its complete-case rows as numbers, built once per task and kept for the task's rounds), a
round at the node, the gate's evidence about it, the hub's gate on a pooled round, and the
error a fit stops with."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock
from typing import Any, TypeVar

import numpy as np
from pyroaring import BitMap

from fivesafes.analyses.catalogue import VARIABLES
from fivesafes.analyses.formula import Design
from fivesafes.analyses.plugin import Computed, NodeContext, Refused
from fivesafes.protocol.models import Instruction
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.gate import ModelEvidence, judge
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Verdict

CACHED_SHARES = 4
S = TypeVar("S")


class GLMError(ValueError):
    """The model cannot be fitted (singular information, no convergence); never names data."""


@dataclass(frozen=True)
class ModelShare:
    """This node's rows of a model: never leaves the node."""

    persons: BitMap  # the complete cases: the population behind every round's sums
    rows: Any  # the model's rows (``glm.Rows``, ``cox.SurvivalRows``)
    columns: tuple[str, ...]
    level_counts: tuple[int, ...]  # rows holding 1, per binary column (outcome first)
    missing: int  # cohort persons left out for a missing variable


_shares: OrderedDict[str, ModelShare] = OrderedDict()
_lock = Lock()


def model_share(key: str, build: Callable[[], ModelShare]) -> ModelShare:
    """The share under ``key``, from the cache when this task's rounds built it before."""
    with _lock:
        if key in _shares:
            _shares.move_to_end(key)
            return _shares[key]
    share = build()
    with _lock:
        _shares[key] = share
        while len(_shares) > CACHED_SHARES:
            _shares.popitem(last=False)
    return share


def binary_columns(built: Design) -> list[np.ndarray]:
    """The design's 0/1 columns: dummies of categorical terms and binary terms."""
    return [
        built.x[:, j]
        for j, name in enumerate(built.columns)
        if "[T." in name or (name in VARIABLES and VARIABLES[name].kind == "binary")
    ]


def evidence(share: ModelShare, n: int, *, finite: bool, separation: bool) -> ModelEvidence:
    """What the gate judges of one round's (or one fit's) sums over ``share``."""
    return ModelEvidence(
        n=n,
        parameters=len(share.columns),
        level_counts=share.level_counts,
        separation=separation,
        finite=finite,
    )


def gate_pooled(
    n: int, levels: tuple[int, ...], sizes: list[int], p: int, profile: Profile
) -> None:
    """The hub's own gate on a pooled round (it may be stricter than a node's); ``sizes`` are
    the nodes' numbers of parameters. Raises ``GLMError``, which stops the fit."""
    if any(size not in (0, p) for size in sizes):
        raise GLMError("a node's sums do not fit the model's design")
    judgement = judge(ModelEvidence(n=n, parameters=p, level_counts=levels), profile)
    if judgement.verdict is not Verdict.PASS:
        raise GLMError(f"the pooled model fails the hub's gate ({', '.join(judgement.rules)})")


def model_round(
    context: NodeContext,
    build: Callable[[], ModelShare],
    sums: Callable[[ModelShare, Instruction], S],
    evidence_of: Callable[[ModelShare, S], ModelEvidence],
) -> Computed:
    """One round of an iterative model at the node: the share (built once for the task's
    rounds), its sums at the hub's signed instruction, and the gate's evidence. A round without
    its instruction is refused (``invalid_parameters``), a model that cannot be computed too
    (``model_refused``)."""
    instruction = context.instruction
    if instruction is None:
        raise Refused(ReasonCode.INVALID_PARAMETERS)
    try:
        share = model_share(context.cache_key, build)
        found = sums(share, instruction)
    except GLMError:
        raise Refused(ReasonCode.MODEL_REFUSED) from None
    return Computed(share.persons, (instruction, found, share.missing, evidence_of(share, found)))
