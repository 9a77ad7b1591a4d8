"""What a researcher gets back: per-node released values, the combined (gated) result, and
who did not answer and why (in words that reveal no data). Each result class lives with its
analysis (``Analysis.exports``) and is found here by name:
``from fivesafes.client.results import GLMResult``."""

from __future__ import annotations

from typing import Any

from fivesafes.analyses.registry import REGISTRY
from fivesafes.analyses.results.common import fitted_model, not_included, why_not

__all__ = ["exported", "fitted_model", "not_included", "why_not"]


def exported(name: str) -> Any:
    """The object an analysis exports under ``name`` (a result class, a figure)."""
    for analysis in REGISTRY.every():
        for each in analysis.exports:
            if getattr(each, "__name__", None) == name:
                return each
    raise AttributeError(f"no analysis exports {name!r}")


def __getattr__(name: str) -> Any:
    return exported(name)


def __dir__() -> list[str]:
    names = [each.__name__ for a in REGISTRY.every() for each in a.exports]
    return sorted({*__all__, *names})
