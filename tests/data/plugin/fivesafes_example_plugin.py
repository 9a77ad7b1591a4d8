"""A third-party analysis as an installed package would ship it (``tests/unit/test_registry.py``
puts this folder on the path and declares it through an entry point): the number of persons of
a cohort, gated as a count, under another name."""

from __future__ import annotations

from typing import Any

from fivesafes.analyses.count import Count


class Headcount(Count):
    name = "headcount"
    title = "Headcount (an example plug-in)"
    client: dict[str, Any] = {}
    commands: dict[str, Any] = {}


class NotAnAnalysis:
    name = "impostor"
