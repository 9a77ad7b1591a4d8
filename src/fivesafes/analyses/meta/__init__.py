"""Meta-analysis: each node fits the model on its own rows (a GLM's parameters) and releases its
coefficients and standard errors; the hub combines them term by term, fixed effect and
DerSimonian-Laird random effects, with tau² and I² (``pooling.py``).

| part    | what it does                                                                   |
| ------- | ------------------------------------------------------------------------------ |
| node    | the GLM's complete cases, fitted alone (``glm.irls.fit_local``)                |
| gate    | the model traps on the node's fit: a failing fit is refused, never sent        |
| hub     | term by term, the fixed and random-effects combinations                        |
| reading | ``MetaResult``: the combinations, each node's fit, a forest plot per term      |
"""

from __future__ import annotations

import functools
from typing import Any

from fivesafes.analyses.gating import by_evidence
from fivesafes.analyses.glm.irls import fit_local
from fivesafes.analyses.glm.models import GLMParameters
from fivesafes.analyses.glm.node import glm_share
from fivesafes.analyses.meta.models import MetaCombined, NodeModelOutput
from fivesafes.analyses.meta.plot import forest_figure, forest_plot
from fivesafes.analyses.meta.pooling import Z975, Combined, combine
from fivesafes.analyses.meta.result import MetaResult
from fivesafes.analyses.model_node import GLMError, model_share
from fivesafes.analyses.parameters import CohortLike, cohort_json
from fivesafes.analyses.plugin import (
    Analysis,
    Asker,
    Computed,
    Judged,
    NodeContext,
    Refused,
)
from fivesafes.analyses.results import svg
from fivesafes.analyses.results.common import not_included
from fivesafes.analyses.results.page import Plot, Shown, table
from fivesafes.protocol.models import TaskView
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.gate import Judgement, ModelEvidence
from fivesafes.sdc.profiles import Profile

__all__ = [
    "Z975",
    "Combined",
    "Meta",
    "MetaCombined",
    "MetaResult",
    "NodeModelOutput",
    "combine",
    "forest_figure",
    "forest_plot",
]


def meta_analysis(
    fed: Asker,
    formula: str,
    *,
    cohort: CohortLike,
    family: str = "gaussian",
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = 300,
) -> MetaResult:
    """Fit ``formula`` at each node on its own rows and meta-analyse the estimates
    (fixed effect and DerSimonian-Laird random effects, tau², I²)."""
    parameters = {"cohort": cohort_json(cohort), "formula": formula, "family": family}
    view = fed.submit("meta", parameters, project=project, nodes=nodes, timeout=timeout)
    return MetaResult.from_view(fed.wait(view.task_id, timeout))


def combine_models(outputs: dict[str, dict[str, Any]], missing: list[str]) -> dict[str, Any]:
    """Meta-analyse the nodes' own fits, term by term (``fivesafes.analyses.meta``)."""
    fits = {node: NodeModelOutput.model_validate(raw) for node, raw in sorted(outputs.items())}
    result: dict[str, Any] = {
        "analysis": "meta",
        "nodes": {node: {"params": f.params, "bse": f.bse, "n": f.n} for node, f in fits.items()},
        "nodes_contributing": sorted(fits),
        "nodes_missing": sorted(missing),
        "terms": [],
        "error": None,
    }
    if not fits:
        result["error"] = "no node fitted the model"
        return result
    names = next(iter(fits.values())).names
    if any(f.names != names for f in fits.values()):
        result["error"] = "the nodes' models do not have the same terms"
        return result
    result["names"] = names
    result["terms"] = [
        combine(
            name, [f.params[j] for f in fits.values()], [f.bse[j] for f in fits.values()]
        ).as_dict()
        for j, name in enumerate(names)
    ]
    return result


class Meta(Analysis):
    name = "meta"
    title = "Meta-analysis"
    parameters = GLMParameters  # each node fits the model alone; the hub meta-analyses
    output = NodeModelOutput
    combined = MetaCombined
    result = MetaResult
    fits_a_model = True
    client = {"meta_analysis": meta_analysis}
    exports = (MetaResult, forest_plot, forest_figure)

    def compute(self, parameters: GLMParameters, context: NodeContext) -> Computed:
        try:
            share = model_share(context.cache_key, lambda: glm_share(context.db, parameters))
            fit = fit_local([share.rows], parameters.family, share.columns)
        except GLMError:
            raise Refused(ReasonCode.MODEL_REFUSED) from None
        evidence = ModelEvidence(len(share.rows.y), len(share.columns), share.level_counts)
        return Computed(share.persons, (fit, share.missing, evidence))

    def judge(self, computed: Computed, profile: Profile) -> Judged:
        fit, missing, evidence = computed.found

        def build(judgement: Judgement) -> dict[str, Any]:
            return NodeModelOutput(
                names=list(fit.names),
                params=fit.params.tolist(),
                bse=fit.bse.tolist(),
                n=fit.nobs,
                missing=missing,
                gate=judgement.record(),
            ).model_dump(mode="json")

        return by_evidence(evidence, profile, build, model=True)

    def combine(
        self, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
    ) -> dict[str, Any]:
        return combine_models(outputs, missing)

    def show(self, view: TaskView, page: Shown) -> None:
        import pandas as pd

        meta = self.read(view)
        if not meta.ok:
            page.lines.append(f"No result: {meta.error}")
            return
        page.lines.append(
            f"Meta-analysis of {len(meta.nodes)} nodes' own fits: fixed effect and "
            "DerSimonian-Laird random effects per term"
        )
        page.tables.append(table("Combined per term", meta.to_frame(), index=True))
        fits = pd.DataFrame(
            {
                f"{node} {what}": fit[key]
                for node, fit in sorted(meta.nodes.items())
                for what, key in (("coef", "params"), ("se", "bse"))
            },
            index=meta.names,
        )
        page.tables.append(table("Each node's own fit", fits, index=True))
        for term in meta.names:
            if term != "Intercept":
                picture = svg.drawn(functools.partial(forest_figure, meta, term))
                page.plots.append(Plot(f"Forest plot of {term}", picture))
        page.lines.extend(not_included(meta.nodes_missing))
