"""Model formulas over named variables, and the design matrix every node builds the same way.

``"lung_cancer ~ age + sex + smoker + bmi"``: an outcome, ``~``, and terms joined by ``+``; each
term is a variable of the catalogue (``fivesafes.analyses.catalogue``). The design has an
``Intercept`` column, then one column per numeric, binary or count term, and for a categorical
term one 0/1 column per level but the first (treatment coding, the catalogue's reference level
first), named as statsmodels' formula interface names them: ``sex[T.male]``. Levels come from
the catalogue, not from the data, so every node codes them identically and no node has to
reveal which levels it holds.

| formula                        | refused because                                  |
| ------------------------------ | ------------------------------------------------ |
| ``y ~ age``                    | ``y`` is not a variable of the catalogue         |
| ``lung_cancer ~ age + age``    | a term appears twice                             |
| ``lung_cancer ~ lung_cancer``  | the outcome is also a term                       |
| ``lung_cancer ~ age * sex``    | only ``+`` is supported (no interactions yet)    |
| ``sex ~ age``                  | the outcome must be numeric, binary or a count   |
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fivesafes.analyses.catalogue import VARIABLES

MAX_TERMS = 20
_NAME = re.compile(r"[a-z][a-z0-9_]{0,40}")


class FormulaError(ValueError):
    """The formula cannot be used; the message names the problem, never data."""


@dataclass(frozen=True)
class Formula:
    outcome: str
    terms: tuple[str, ...]

    @property
    def variables(self) -> list[str]:
        return [self.outcome, *self.terms]

    @property
    def columns(self) -> tuple[str, ...]:
        """The design's column names, in order."""
        names = ["Intercept"]
        for term in self.terms:
            variable = VARIABLES[term]
            if variable.kind == "categorical":
                names += [f"{term}[T.{level}]" for level in variable.levels[1:]]
            else:
                names.append(term)
        return tuple(names)

    def __str__(self) -> str:
        return f"{self.outcome} ~ {' + '.join(self.terms)}"


def parse_formula(text: str) -> Formula:
    """Parse ``outcome ~ term + term ...``; raises FormulaError with a clear message."""
    if text.count("~") != 1:
        raise FormulaError("a formula is 'outcome ~ term + term ...' with exactly one '~'")
    left, right = (part.strip() for part in text.split("~"))
    terms = tuple(t.strip() for t in right.split("+"))
    for n, name in enumerate((left, *terms)):
        # messages never quote the formula (errors do not echo what was submitted): they say
        # where the problem is, and offer the catalogue's nearest names
        place = "the outcome (left of '~')" if n == 0 else f"term {n} (right of '~')"
        if not _NAME.fullmatch(name):
            raise FormulaError(
                f"{place} is not a variable name; terms are variable names joined by '+' "
                "(no interactions or transformations yet)"
            )
        if name not in VARIABLES:
            near = difflib.get_close_matches(name, sorted(VARIABLES), n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(near)}? " if near else ""
            known = ", ".join(sorted(VARIABLES))
            raise FormulaError(f"{place} is not a known variable; {hint}known: {known}")
    if len(set(terms)) != len(terms):
        raise FormulaError("a term appears twice")
    if left in terms:
        raise FormulaError("the outcome cannot also be a term")
    if len(terms) > MAX_TERMS:
        raise FormulaError(f"at most {MAX_TERMS} terms")
    if VARIABLES[left].kind == "categorical":
        raise FormulaError("the outcome must be numeric, binary or a count")
    return Formula(left, terms)


@dataclass(frozen=True)
class Design:
    """The rows a model uses (complete cases) as numbers, and how many were left out."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    columns: tuple[str, ...]
    used: npt.NDArray[np.bool_]  # per frame row: a complete case
    missing: int


def design(columns: dict[str, npt.NDArray[np.float64]], formula: Formula) -> Design:
    """The design matrix and outcome from a frame's columns (see the module doc)."""
    complete = np.ones(len(columns[formula.outcome]), dtype=bool)
    for name in formula.variables:
        values = columns[name]
        if VARIABLES[name].kind == "categorical":
            complete &= values >= 0
        else:
            complete &= ~np.isnan(values)
    parts = [np.ones(int(complete.sum()))]
    for term in formula.terms:
        values = columns[term][complete]
        variable = VARIABLES[term]
        if variable.kind == "categorical":
            parts += [(values == code).astype(float) for code in range(1, len(variable.levels))]
        else:
            parts.append(values.astype(float))
    return Design(
        x=np.column_stack(parts),
        y=columns[formula.outcome][complete].astype(float),
        columns=formula.columns,
        used=complete,
        missing=int((~complete).sum()),
    )
