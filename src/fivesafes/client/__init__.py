"""The researcher's Python client: ``from fivesafes.client import Federation``."""

from fivesafes.client.federation import Federation, FederationError
from fivesafes.client.results import (
    CountResult,
    CoxResult,
    CrosstabResult,
    GLMResult,
    GroupedSummaryResult,
    KaplanMeierResult,
    MetaResult,
    NodeCount,
    NodeSummary,
    SummaryResult,
    SummaryTable,
)

__all__ = [
    "CountResult",
    "CoxResult",
    "CrosstabResult",
    "Federation",
    "FederationError",
    "GLMResult",
    "GroupedSummaryResult",
    "KaplanMeierResult",
    "MetaResult",
    "NodeCount",
    "NodeSummary",
    "SummaryResult",
    "SummaryTable",
]
