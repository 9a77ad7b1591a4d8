"""The researcher's Python client: ``from fivesafes.client import Federation``; each
analysis's result classes are found here by name too (``from fivesafes.client import
CountResult``, ``fivesafes.client.results``)."""

from typing import Any

from fivesafes.client.federation import Federation, FederationError
from fivesafes.client.results import exported

__all__ = ["Federation", "FederationError"]


def __getattr__(name: str) -> Any:
    return exported(name)
