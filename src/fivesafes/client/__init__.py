"""The researcher's Python client: ``from fivesafes.client import Federation``."""

from fivesafes.client.federation import Federation, FederationError
from fivesafes.client.results import CountResult, NodeCount, NodeSummary, SummaryResult

__all__ = [
    "CountResult",
    "Federation",
    "FederationError",
    "NodeCount",
    "NodeSummary",
    "SummaryResult",
]
