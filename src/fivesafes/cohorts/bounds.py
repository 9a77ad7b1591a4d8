"""How big a Circe cohort definition may be: every dimension that drives what a node spends
compiling and running it, bounded, and checked wherever a definition is parsed — at the hub
when a task is submitted and again at each node before anything is compiled.

A definition of 850 identical inclusion rules (239 KB, under the byte limit) once made every
node's agent grow by 300 MB and spin for minutes: its size in bytes says little about its
cost. The bounds below are well above what published phenotypes use (the OHDSI Phenotype
Library's definitions have at most a few dozen inclusion rules and concept sets) and well
below what makes a node's compiler struggle; each refusal names the bound, never a value of
the definition. A node's run deadline (``node.worker``) stops what gets through anyway.

| bound              | at most | what is counted                                                 |
| ------------------ | ------- | --------------------------------------------------------------- |
| nesting            | 40      | levels of JSON objects and lists                                 |
| inclusion rules    | 50      | entries of ``InclusionRules``                                    |
| criteria           | 200     | entries of every ``CriteriaList`` and ``DemographicCriteriaList``|
|                    |         | anywhere (primary, additional, inclusion, correlated, censoring) |
| criteria groups    | 6       | groups nested in groups (``Groups``, ``CorrelatedCriteria``)     |
| windows            | 400     | ``StartWindow`` and ``EndWindow`` anywhere                       |
| concept sets       | 100     | entries of ``ConceptSets``                                       |
| concept set items  | 20,000  | concepts named by all concept sets together                      |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_NESTING = 40
MAX_INCLUSION_RULES = 50
MAX_CRITERIA = 200
MAX_GROUP_DEPTH = 6
MAX_WINDOWS = 400
MAX_CONCEPT_SETS = 100
MAX_CONCEPT_SET_ITEMS = 20_000

_CRITERIA_LISTS = frozenset({"criterialist", "demographiccriterialist", "censoringcriteria"})
_GROUPS = frozenset({"groups", "correlatedcriteria", "additionalcriteria", "expression"})
_WINDOWS = frozenset({"startwindow", "endwindow"})


class TooComplex(ValueError):
    """A definition beyond one of the bounds; the message names the bound."""


@dataclass
class Size:
    """What a definition holds, by the dimensions that are bounded."""

    nesting: int = 0
    inclusion_rules: int = 0
    criteria: int = 0
    group_depth: int = 0
    windows: int = 0
    concept_sets: int = 0
    concept_set_items: int = 0
    _seen: int = field(default=0, repr=False)


def measure(circe: dict[str, Any]) -> Size:
    """The definition's size; stops early (raising :class:`TooComplex`) once it is nested too
    deeply to walk safely. Iterative, so a deep definition cannot exhaust the stack."""
    size = Size()
    top = {k.lower(): v for k, v in circe.items()}
    rules = top.get("inclusionrules")
    size.inclusion_rules = len(rules) if isinstance(rules, list) else 0
    sets = top.get("conceptsets")
    if isinstance(sets, list):
        size.concept_sets = len(sets)
        for each in sets:
            expression = each.get("expression") if isinstance(each, dict) else None
            items = expression.get("items") if isinstance(expression, dict) else None
            size.concept_set_items += len(items) if isinstance(items, list) else 0
    # (value, JSON depth, group depth, whether the value is a criteria group)
    stack: list[tuple[Any, int, int, bool]] = [(circe, 1, 0, False)]
    while stack:
        value, depth, groups, is_group = stack.pop()
        size.nesting = max(size.nesting, depth)
        if depth > MAX_NESTING:
            raise TooComplex(f"a Circe definition is nested at most {MAX_NESTING} levels deep")
        if isinstance(value, list):
            stack.extend((v, depth + 1, groups, is_group) for v in value)
            continue
        if not isinstance(value, dict):
            continue
        if is_group:
            groups += 1
            size.group_depth = max(size.group_depth, groups)
        for key, child in value.items():
            name = key.lower()
            if name in _CRITERIA_LISTS and isinstance(child, list):
                size.criteria += len(child)
            if name in _WINDOWS:
                size.windows += 1
            stack.append((child, depth + 1, groups, name in _GROUPS))
    return size


def check_circe_size(circe: dict[str, Any]) -> None:
    """Raises :class:`TooComplex`, naming the bound, for a definition beyond any of them."""
    size = measure(circe)
    for count, limit, words in (
        (size.inclusion_rules, MAX_INCLUSION_RULES, "inclusion rules"),
        (size.criteria, MAX_CRITERIA, "criteria in all"),
        (size.group_depth, MAX_GROUP_DEPTH, "levels of nested criteria groups"),
        (size.windows, MAX_WINDOWS, "time windows in all"),
        (size.concept_sets, MAX_CONCEPT_SETS, "concept sets"),
        (size.concept_set_items, MAX_CONCEPT_SET_ITEMS, "concepts in its concept sets"),
    ):
        if count > limit:
            raise TooComplex(
                f"a Circe definition has at most {limit:,} {words} (this one has {count:,}); "
                "split the question into smaller definitions"
            )
