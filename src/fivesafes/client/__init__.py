"""The researcher's Python client: ``from fivesafes.client import Federation``."""

from fivesafes.client.federation import Federation, FederationError
from fivesafes.client.results import (
    CountResult,
    GLMResult,
    NodeCount,
    NodeSummary,
    SummaryResult,
)

__all__ = [
    "CountResult",
    "Federation",
    "FederationError",
    "GLMResult",
    "NodeCount",
    "NodeSummary",
    "SummaryResult",
]
