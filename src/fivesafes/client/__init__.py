"""The researcher's Python client: ``from fivesafes.client import Federation``."""

from fivesafes.client.federation import Federation, FederationError
from fivesafes.client.results import (
    AttritionResult,
    CharacterisationResult,
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
    "AttritionResult",
    "CharacterisationResult",
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
