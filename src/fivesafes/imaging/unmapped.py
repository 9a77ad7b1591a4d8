"""The texts the rules leave unmapped, commonest first: what an operator would write the next
rule for (``fivesafes node imaging unmapped``).

For each distinct set of texts in the index, the rules (the node's, or a file being tried) are
applied afresh; where a set decides no body part, each text the rules looked at is counted
once for every series that carries it; likewise for contrast. A text that an ``ignore``
pattern says nothing about is not listed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fivesafes.imaging.rules import Rules
from fivesafes.imaging.store import IndexStore


@dataclass(frozen=True)
class Unmapped:
    rules: str
    series: int  # in the index
    body_part_unknown: int  # series whose texts decide no body part
    contrast_unknown: int
    body_part: list[tuple[str, str, int]] = field(default_factory=list)  # field, text, series
    contrast: list[tuple[str, str, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def rows(found: list[tuple[str, str, int]]) -> list[dict[str, Any]]:
            return [{"field": f, "text": t, "series": n} for f, t, n in found]

        return {
            "rules": self.rules,
            "series": self.series,
            "body_part_unknown": self.body_part_unknown,
            "contrast_unknown": self.contrast_unknown,
            "body_part": rows(self.body_part),
            "contrast": rows(self.contrast),
        }


def unmapped(store: IndexStore, rules: Rules, limit: int = 20) -> Unmapped:
    """The ``limit`` commonest unmapped texts for body part and for contrast."""
    body_part: Counter[tuple[str, str]] = Counter()
    contrast: Counter[tuple[str, str]] = Counter()
    no_part = no_contrast = 0
    for texts, series in store.combos():
        given = {keyword: text or None for keyword, text in texts.items()}
        part, agent = rules.classify(given)
        if part.value is None:
            no_part += series
            for pair in rules.body_part.considered(given):
                body_part[pair] += series
        if agent.value == "unknown":
            no_contrast += series
            for pair in rules.contrast.considered(given):
                contrast[pair] += series
    total = int(store.scalar("SELECT count(DISTINCT series_instance_uid) FROM imaging_instance"))
    return Unmapped(
        rules=rules.label,
        series=total,
        body_part_unknown=no_part,
        contrast_unknown=no_contrast,
        body_part=_top(body_part, limit),
        contrast=_top(contrast, limit),
    )


def _top(counts: Counter[tuple[str, str]], limit: int) -> list[tuple[str, str, int]]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [(keyword, text, n) for (keyword, text), n in ranked[:limit]]
