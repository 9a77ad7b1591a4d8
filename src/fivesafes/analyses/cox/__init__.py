"""Cox proportional hazards, stratified by node (Breslow ties), fitted by federated
Newton-Raphson: each round the nodes send their log partial likelihood, gradient and
information at the hub's coefficients; the pooled fit has one stratum per node.

| part    | what it does                                                                     |
| ------- | -------------------------------------------------------------------------------- |
| node    | the complete cases (``node.py``); a round's sums at the signed coefficients      |
| gate    | the model traps, events counted as a level: a failing round is refused           |
| rounds  | pool, gate the pool, take Newton's next step (``newton.py``)                      |
| reading | ``CoxResult``: hazard ratios with their intervals; a coefficient plot            |
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import typer

from fivesafes.analyses.commands import CohortOption, not_ok
from fivesafes.analyses.cox.models import CoxCombined, CoxParameters
from fivesafes.analyses.cox.newton import (
    CoxFit,
    CoxSums,
    Newton,
    SurvivalRows,
    fit_local,
    node_round,
)
from fivesafes.analyses.cox.node import cox_share, round_evidence, round_sums
from fivesafes.analyses.cox.result import CoxResult
from fivesafes.analyses.formula import parse_formula
from fivesafes.analyses.gating import by_evidence
from fivesafes.analyses.glm.irls import Instruction
from fivesafes.analyses.glm.models import ModelRoundOutput
from fivesafes.analyses.model_node import gate_pooled, model_round
from fivesafes.analyses.parameters import CohortLike, cohort_json
from fivesafes.analyses.plugin import (
    Analysis,
    Asker,
    Command,
    Computed,
    Judged,
    NodeContext,
    Rounds,
)
from fivesafes.analyses.results.page import Shown, number, show_fit
from fivesafes.protocol.models import TaskView
from fivesafes.sdc.gate import Judgement
from fivesafes.sdc.profiles import Profile

__all__ = [
    "CoxCombined",
    "CoxFit",
    "CoxPH",
    "CoxParameters",
    "CoxResult",
    "CoxSums",
    "Newton",
    "SurvivalRows",
    "fit_local",
    "node_round",
]


def coxph(
    fed: Asker,
    formula: str,
    *,
    cohort: CohortLike,
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = 300,
    gate: dict[str, Any] | None = None,
) -> CoxResult:
    """Fit a Cox model stratified by node (``"time_to_lung_cancer ~ age + sex + smoker"``)
    by federated Newton-Raphson: the pooled fit with one stratum per node, Breslow ties."""
    parameters = {"cohort": cohort_json(cohort), "formula": formula}
    view = fed.submit("coxph", parameters, project=project, nodes=nodes, timeout=timeout, gate=gate)
    return CoxResult.from_view(fed.wait(view.task_id, timeout))


def pooled(outputs: list[ModelRoundOutput], p: int) -> CoxSums:
    """The nodes' sums of one round, added (one stratum per node)."""
    total = CoxSums(0, 0, 0.0, np.zeros(p), np.zeros((p, p)))
    for o in outputs:
        total = total + CoxSums(
            o.n,
            o.events,
            o.loglike,
            np.asarray(o.xtwz, dtype=float),
            np.asarray(o.xtwx, dtype=float).reshape(p, p),
        )
    return total


class NewtonRounds(Rounds):
    """The hub's Newton-Raphson (``newton.Newton``), its state kept as ``newton``."""

    def start(self, parameters: dict[str, Any]) -> dict[str, Any]:
        cox = CoxParameters.model_validate(parameters)
        columns = parse_formula(cox.formula).columns[1:]  # no intercept in a Cox model
        return {"newton": Newton(columns).state()}

    def first(self, state: dict[str, Any]) -> Instruction:
        return Instruction("step", beta=Newton.from_state(state["newton"]).first())

    def step(
        self, state: dict[str, Any], outputs: list[dict[str, Any]], profile: Profile
    ) -> tuple[Instruction | None, dict[str, Any] | None]:
        rounds = [ModelRoundOutput.model_validate(o) for o in outputs]
        newton = Newton.from_state(state["newton"])
        p = len(newton.names)
        total = pooled(rounds, p)
        gate_pooled(total.n, (total.events,), [len(o.xtwz) for o in rounds], p, profile)
        beta = newton.advance(total)
        state["newton"] = newton.state()
        if beta is None:
            assert newton.fit is not None
            return None, newton.fit.as_dict()
        return Instruction("step", beta=beta), None

    def finished(
        self, parameters: dict[str, Any], progress: dict[str, Any], error: str | None
    ) -> dict[str, Any]:
        return {"formula": parameters["formula"]}


def _coxph_command(
    fed: Asker,
    *,
    formula: Annotated[str, typer.Option(help='e.g. "time_to_lung_cancer ~ age + smoker".')],
    cohort: CohortOption,
    project: str | None,
    nodes: list[str] | None,
    timeout: int,
) -> CoxResult:
    """Fit a Cox model stratified by node (Breslow ties): the pooled fit, from sums only."""
    return coxph(fed, formula, cohort=cohort, project=project, nodes=nodes, timeout=timeout)


class CoxPH(Analysis):
    name = "coxph"
    title = "Cox model"
    parameters = CoxParameters
    output = ModelRoundOutput
    combined = CoxCombined
    result = CoxResult
    fits_a_model = True
    rounds = NewtonRounds()
    client = {"coxph": coxph}
    exports = (CoxResult,)
    commands = {
        "coxph": Command(_coxph_command, timeout=300, finish=not_ok, waits_for="the whole fit")
    }

    def compute(self, parameters: CoxParameters, context: NodeContext) -> Computed:
        return model_round(
            context,
            lambda: cox_share(context.db, parameters),
            lambda share, step: round_sums(share, tuple(step.beta)),
            round_evidence,
        )

    def judge(self, computed: Computed, profile: Profile) -> Judged:
        step, sums, missing, evidence = computed.found

        def build(judgement: Judgement) -> dict[str, Any]:
            return ModelRoundOutput(
                round=step.round,
                step=step.step,
                n=sums.n,
                events=sums.events,
                missing=missing,
                loglike=sums.loglik,
                xtwx=sums.information.tolist(),
                xtwz=sums.gradient.tolist(),
                gate=judgement.record(),
            ).model_dump(mode="json")

        return by_evidence(evidence, profile, build, model=True)

    def show(self, view: TaskView, page: Shown) -> None:
        cox = self.read(view)
        words = (
            f"Cox model stratified by node (Breslow ties) over "
            f"{', '.join(cox.nodes_contributing)}: {number(cox.n)} persons, "
            f"{number(cox.events)} events, log partial likelihood {number(cox.loglik)}, "
            f"{cox.iterations} iterations"
        )
        show_fit(cox, page, words, "coefficient: log hazard ratio (95 % CI)", ratio="hazard ratio")
