"""GLM: a generalised linear model (gaussian, binomial, poisson) over named variables, fitted
by federated IRLS: each round the nodes send only sums (deviance, XᵀWX, XᵀWz) and the hub
follows statsmodels step by step, so the fit equals statsmodels on the pooled rows.

| part    | what it does                                                                       |
| ------- | ---------------------------------------------------------------------------------- |
| node    | the complete cases (``node.py``); a round's sums for the hub's signed instruction  |
| gate    | the model traps (threshold, parameter ratio, dof, rare levels, separation): a     |
|         | round that fails them is refused (``model_refused``), never sent                   |
| rounds  | pool the sums, gate the pool, take IRLS's next step (``irls.py``)                   |
| reading | ``GLMResult``: statsmodels-like coefficients, odds ratios; a coefficient plot      |
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import typer

from fivesafes.analyses.commands import CohortOption, not_ok
from fivesafes.analyses.formula import parse_formula
from fivesafes.analyses.gating import by_evidence
from fivesafes.analyses.glm.irls import (
    IRLS,
    Fit,
    Instruction,
    RoundSums,
    Rows,
    fit_local,
    node_round,
)
from fivesafes.analyses.glm.models import GLMCombined, GLMParameters, ModelRoundOutput
from fivesafes.analyses.glm.node import glm_share, round_evidence, round_sums
from fivesafes.analyses.glm.result import GLMResult
from fivesafes.analyses.model_node import GLMError, gate_pooled, model_round
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
    "GLM",
    "IRLS",
    "Fit",
    "GLMCombined",
    "GLMError",
    "GLMParameters",
    "GLMResult",
    "Instruction",
    "ModelRoundOutput",
    "RoundSums",
    "Rows",
    "fit_local",
    "node_round",
]


def glm(
    fed: Asker,
    formula: str,
    *,
    cohort: CohortLike,
    family: str = "gaussian",
    offset: str | None = None,
    weights: str | None = None,
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = 300,
    gate: dict[str, Any] | None = None,
) -> GLMResult:
    """Fit ``formula`` (e.g. ``"lung_cancer ~ age + sex + smoker + bmi"``) over ``cohort``
    at every node by federated IRLS: the same fit as statsmodels on the pooled rows."""
    parameters: dict[str, Any] = {
        "cohort": cohort_json(cohort),
        "formula": formula,
        "family": family,
    }
    if offset is not None:
        parameters["offset"] = offset
    if weights is not None:
        parameters["weights"] = weights
    view = fed.submit("glm", parameters, project=project, nodes=nodes, timeout=timeout, gate=gate)
    return GLMResult.from_view(fed.wait(view.task_id, timeout))


def pooled(outputs: list[ModelRoundOutput]) -> RoundSums:
    """The nodes' sums of one round, added."""
    total = RoundSums(n=0)
    for o in outputs:
        p = len(o.xtwz)
        total = total + RoundSums(
            n=o.n,
            sum_y=o.sum_y,
            deviance=o.deviance,
            xtwx=np.asarray(o.xtwx, dtype=float).reshape(p, p),
            xtwz=np.asarray(o.xtwz, dtype=float),
            pearson=o.pearson,
            loglike=o.loglike,
        )
    return total


class IRLSRounds(Rounds):
    """The hub's IRLS (``irls.IRLS``), its state kept in the task's progress as ``irls``."""

    def start(self, parameters: dict[str, Any]) -> dict[str, Any]:
        glm = GLMParameters.model_validate(parameters)
        return {"irls": IRLS(glm.family, parse_formula(glm.formula).columns).state()}

    def first(self, state: dict[str, Any]) -> Instruction:
        return IRLS.from_state(state["irls"]).first()

    def step(
        self, state: dict[str, Any], outputs: list[dict[str, Any]], profile: Profile
    ) -> tuple[Instruction | None, dict[str, Any] | None]:
        rounds = [ModelRoundOutput.model_validate(o) for o in outputs]
        irls = IRLS.from_state(state["irls"])
        total = pooled(rounds)
        gate_pooled(total.n, (), [len(o.xtwz) for o in rounds], len(irls.names), profile)
        following = irls.advance(rounds[0].step, total)
        state["irls"] = irls.state()
        if following is None:
            assert irls.fit is not None
            return None, irls.fit.as_dict()
        return following, None

    def finished(
        self, parameters: dict[str, Any], progress: dict[str, Any], error: str | None
    ) -> dict[str, Any]:
        return {"formula": parameters["formula"]}


def _glm_command(
    fed: Asker,
    *,
    formula: Annotated[str, typer.Option(help='e.g. "lung_cancer ~ age + sex + smoker".')],
    cohort: CohortOption,
    family: Annotated[str, typer.Option(help="gaussian, binomial or poisson.")] = "gaussian",
    offset: Annotated[str | None, typer.Option(help="Poisson offset variable.")] = None,
    weights: Annotated[str | None, typer.Option(help="Variance weights variable.")] = None,
    project: str | None,
    nodes: list[str] | None,
    timeout: int,
) -> GLMResult:
    """Fit a GLM across the nodes: statsmodels' fit on the pooled rows, from sums only."""
    return glm(
        fed,
        formula,
        cohort=cohort,
        family=family,
        offset=offset,
        weights=weights,
        project=project,
        nodes=nodes,
        timeout=timeout,
    )


class GLM(Analysis):
    name = "glm"
    title = "Generalised linear model"
    parameters = GLMParameters
    output = ModelRoundOutput
    combined = GLMCombined
    result = GLMResult
    fits_a_model = True
    rounds = IRLSRounds()
    client = {"glm": glm}
    exports = (GLMResult,)
    commands = {"glm": Command(_glm_command, timeout=300, finish=not_ok, waits_for="the whole fit")}

    def compute(self, parameters: GLMParameters, context: NodeContext) -> Computed:
        return model_round(
            context,
            lambda: glm_share(context.db, parameters),
            lambda share, step: round_sums(share, parameters, step),
            round_evidence,
        )

    def judge(self, computed: Computed, profile: Profile) -> Judged:
        step, sums, missing, evidence = computed.found

        def build(judgement: Judgement) -> dict[str, Any]:
            return ModelRoundOutput(
                round=step.round,
                step=step.step,
                n=sums.n,
                missing=missing,
                sum_y=sums.sum_y,
                deviance=sums.deviance,
                xtwx=sums.xtwx.tolist(),
                xtwz=sums.xtwz.tolist(),
                pearson=sums.pearson,
                loglike=sums.loglike,
                gate=judgement.record(),
            ).model_dump(mode="json")

        return by_evidence(evidence, profile, build, model=True)

    def show(self, view: TaskView, page: Shown) -> None:
        glm = self.read(view)
        words = (
            f"Federated GLM ({glm.family}) over {', '.join(glm.nodes_contributing)}: "
            f"{number(glm.nobs)} observations, deviance {number(glm.deviance)}, "
            f"AIC {number(glm.aic)}, {glm.iterations} iterations"
        )
        ratio = {"binomial": "odds ratio", "poisson": "rate ratio"}.get(glm.family or "")
        show_fit(glm, page, words, "coefficient (95 % CI)", ratio=ratio)
