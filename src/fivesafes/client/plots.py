"""Pictures of released results: each analysis exports its own figures (``Analysis.exports``),
found here by name: ``from fivesafes.client.plots import forest_plot``."""

from __future__ import annotations

from typing import Any

from fivesafes.client.results import exported


def __getattr__(name: str) -> Any:
    return exported(name)
