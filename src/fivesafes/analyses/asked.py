"""What a task asked, in one line for a list or a page: the cohort's name and the analysis's
own choices (formula, variables, rows and columns, time and event), from its parameters. Only
what the researcher chose (names from the catalogue and their cohort's name), never data."""

from __future__ import annotations

from typing import Any

MAX_LINE = 300
_CHOICES = ("formula", "variable", "variables", "rows", "columns", "value", "statistic", "by",
            "time", "event", "edges", "top", "domains")  # fmt: skip


def asked_line(analysis: str, parameters: dict[str, Any]) -> str:
    """``count of "Lung cancer"``, ``glm of "Adults": lung_cancer ~ age + smoker``."""
    cohort = parameters.get("cohort")
    name = cohort.get("name") if isinstance(cohort, dict) else None
    line = f'{analysis} of "{name}"' if name else analysis
    parts = parameters.get("parts")
    if isinstance(parts, list):  # a cohort at each node (a linked count)
        named = [
            f'"{part["cohort"].get("name", "cohort")}" at {part.get("node")}'
            for part in parts
            if isinstance(part, dict) and isinstance(part.get("cohort"), dict)
        ]
        line = f"{analysis} of {' and '.join(named)}" if named else analysis
    chosen = []
    for key in _CHOICES:
        value = parameters.get(key)
        if value is None or value == []:
            continue
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        chosen.append(shown if key == "formula" else f"{key} {shown}")
    if chosen:
        line += ": " + "; ".join(chosen)
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"
