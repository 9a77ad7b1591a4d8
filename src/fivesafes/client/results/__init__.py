"""What a researcher gets back: per-node released values, the combined (gated) result, and
who did not answer and why (in words that reveal no data). One module per kind of analysis."""

from fivesafes.client.results.cohorts import AttritionResult, CharacterisationResult
from fivesafes.client.results.common import fitted_model, not_included, why_not
from fivesafes.client.results.counts import CountResult, NodeCount
from fivesafes.client.results.models import CoxResult, GLMResult, MetaResult
from fivesafes.client.results.summaries import (
    GroupedSummaryResult,
    NodeSummary,
    SummaryResult,
    SummaryTable,
)
from fivesafes.client.results.survival import KaplanMeierResult
from fivesafes.client.results.tables import CrosstabResult

__all__ = [
    "AttritionResult",
    "CharacterisationResult",
    "CountResult",
    "CoxResult",
    "CrosstabResult",
    "GLMResult",
    "GroupedSummaryResult",
    "KaplanMeierResult",
    "MetaResult",
    "NodeCount",
    "NodeSummary",
    "SummaryResult",
    "SummaryTable",
    "fitted_model",
    "not_included",
    "why_not",
]
