"""The table checker a researcher or output checker uses on its own, like ACRO.

    checker = Checker(profile="default")
    out = checker.crosstab(df, index="region", columns="sex", person="person_id")
    out.verdict, out.table, out.reasons, out.report()

The checker holds only its frozen profile: two checkers with different profiles in one process
never interfere. It fails closed: an exception inside any check gives a ``fail`` output whose
table is all NA, named in the report by rule and exception type (never by message, which could
carry values). ``hist``, ``survival_table`` and ``regression`` live in their own modules
(histogram.py, survival.py, regression.py); the methods here are thin. Every output returned is
recorded (``outputs``) under a name, and ``finalise(path)`` writes them all for an output checker.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fivesafes.sdc.aggfuncs import Aggfunc, aggfunc_names, combine
from fivesafes.sdc.histogram import check_histogram
from fivesafes.sdc.output import CellFinding, Output
from fivesafes.sdc.profiles import Profile, get_profile
from fivesafes.sdc.regression import check_regression
from fivesafes.sdc.rules import TABLE_RULES, Finding, Outcome
from fivesafes.sdc.rules.proportions import Normalize, shares
from fivesafes.sdc.rules.rounding import released_values, with_margins
from fivesafes.sdc.rules.suppression import secondary_suppression
from fivesafes.sdc.survival import check_survival
from fivesafes.sdc.tables import Table, TableSpecError, build_table

logger = logging.getLogger(__name__)

SECONDARY = Finding(
    "secondary", Outcome.SUPPRESS, "suppressed so no suppressed cell can be recovered from margins"
)


class Checker:
    """Disclosure control for tables under one profile."""

    def __init__(self, profile: str | Profile = "default") -> None:
        self._profile = get_profile(profile)
        self._outputs: list[tuple[str, Output]] = []

    @property
    def profile(self) -> Profile:
        return self._profile

    @property
    def outputs(self) -> tuple[tuple[str, Output], ...]:
        """Every output this checker returned, in order, with its name (read-only)."""
        return tuple(self._outputs)

    def finalise(self, path: str | Path) -> Path:
        """Write every recorded output to the folder ``path`` (ACRO's results.json layout)."""
        from fivesafes.sdc.results import write_results  # lazy: written alongside this module

        return write_results(self.outputs, Path(path))

    def _record(self, name: str | None, output: Output) -> Output:
        name = name or f"output_{len(self._outputs)}"
        if any(name == seen for seen, _ in self._outputs):
            raise TableSpecError(f"an output named {name!r} was already recorded")
        self._outputs.append((name, output))
        return output

    def crosstab(
        self,
        df: pd.DataFrame,
        index: str | Sequence[str],
        columns: str | Sequence[str],
        values: str | None = None,
        aggfunc: Aggfunc | None = None,
        person: str | None = "person_id",
        margins: bool = False,
        normalize: bool | Normalize = False,
        name: str | None = None,
    ) -> Output:
        """A checked crosstab: counts of records, or ``aggfunc`` of ``values``, per cell
        (``aggfunc`` a name or a list of names: see ``fivesafes.sdc.aggfuncs``)."""
        norm: Normalize | None = "all" if normalize is True else (normalize or None)
        out = self._table("crosstab", df, index, columns, values, aggfunc, person, margins, norm)
        return self._record(name, out)

    def pivot_table(
        self,
        df: pd.DataFrame,
        index: str | Sequence[str],
        columns: str | Sequence[str] | None = None,
        values: str | None = None,
        aggfunc: Aggfunc = "mean",
        person: str | None = "person_id",
        margins: bool = False,
        name: str | None = None,
    ) -> Output:
        """A checked pivot table of ``aggfunc`` of ``values`` (counts when values is None);
        ``aggfunc`` a name or a list of names (see ``fivesafes.sdc.aggfuncs``)."""
        func = aggfunc if values else None
        out = self._table("pivot_table", df, index, columns, values, func, person, margins, None)
        return self._record(name, out)

    def hist(
        self,
        df: pd.DataFrame,
        column: str,
        bins: int | Sequence[float] = 10,
        person: str | None = "person_id",
        name: str | None = None,
    ) -> Output:
        """A checked histogram of ``column`` (see ``fivesafes.sdc.histogram`` for the edges)."""
        return self._record(name, check_histogram(self, df, column, bins, person))

    def survival_table(
        self,
        df: pd.DataFrame,
        time: str,
        event: str,
        person: str | None = "person_id",
        name: str | None = None,
    ) -> Output:
        """A Kaplan-Meier table coarsened so each shown step hides ``threshold`` persons."""
        return self._record(name, check_survival(df, time, event, person, self._profile))

    def regression(self, model_or_counts: Any, name: str | None = None) -> Output:
        """A fitted-model-like object or a counts dict, judged on dof, saturation, separation."""
        return self._record(name, check_regression(model_or_counts, self._profile))

    def _table(
        self,
        kind: str,
        df: pd.DataFrame,
        index: str | Sequence[str],
        columns: str | Sequence[str] | None,
        values: str | None,
        aggfunc: Aggfunc | None,
        person: str | None,
        margins: bool,
        normalize: Normalize | None,
    ) -> Output:
        """One statistic's checked table, or several side by side (``aggfunc`` a list)."""
        names = aggfunc_names(aggfunc)
        if names is None:
            single = aggfunc if isinstance(aggfunc, str) else None
            return self._one(kind, df, index, columns, values, single, person, margins, normalize)
        parts = [
            (func, self._one(kind, df, index, columns, values, func, person, margins, normalize))
            for func in names
        ]
        return combine(kind, parts, values, has_columns=bool(columns))

    def _one(
        self,
        kind: str,
        df: pd.DataFrame,
        index: str | Sequence[str],
        columns: str | Sequence[str] | None,
        values: str | None,
        aggfunc: str | None,
        person: str | None,
        margins: bool,
        normalize: Normalize | None,
    ) -> Output:
        table = self._build(kind, df, index, columns, values, aggfunc, person)
        if isinstance(table, Output):
            return table
        if normalize is not None and table.kind != "count":
            raise TableSpecError("normalize= applies to count tables only")
        return self.evaluate(table, kind, margins=margins, normalize=normalize)

    def _build(
        self,
        kind: str,
        df: pd.DataFrame,
        index: str | Sequence[str],
        columns: str | Sequence[str] | None,
        values: str | None,
        aggfunc: str | None,
        person: str | None,
    ) -> Table | Output:
        """The built table; a usage error raises, any other error is a failed output."""
        try:
            return build_table(df, index, columns, values, aggfunc, person)
        except TableSpecError:
            raise
        except Exception as exc:  # noqa: BLE001 - fail closed: nothing of this table leaves
            logger.error("sdc table building raised %s", type(exc).__name__)
            unit = f"distinct persons in {person!r}" if person else "records"
            return Output(
                kind,
                f"{aggfunc} of {values}" if values else "records",
                self._profile,
                unit,
                pd.DataFrame(),
                pd.DataFrame(),
                errors=(f"check-error: table raised {type(exc).__name__}",),
            )

    def evaluate(
        self,
        table: Table,
        kind: str,
        *,
        margins: bool = False,
        normalize: Normalize | None = None,
    ) -> Output:
        """Run every rule on every cell, suppress, round and build the output; fail closed.

        The rules are always ``TABLE_RULES``: a caller cannot switch a check off."""
        if margins and table.kind != "count":
            raise TableSpecError("margins= applies to count tables only")
        unit = f"distinct persons in {table.person!r}" if table.person else "records"
        statistic = f"{table.aggfunc} of {table.values}" if table.values else "records"
        stage = "table"
        try:
            findings: list[CellFinding] = []
            primary = np.zeros(table.shape, dtype=bool)
            for i, row in enumerate(table.cells):
                for j, cell in enumerate(row):
                    for rule in TABLE_RULES:
                        stage = rule.name
                        found = rule.check(cell, table.kind, table.aggfunc, self._profile)
                        if found is not None:
                            findings.append(CellFinding(cell.row, cell.column, found))
                            primary[i, j] |= found.outcome is Outcome.SUPPRESS
            stage = "secondary"
            secondary = secondary_suppression(primary, table.grid("units").astype(float))
            for i, j in np.argwhere(secondary):
                cell = table.cells[i][j]
                findings.append(CellFinding(cell.row, cell.column, SECONDARY))
            stage = "release"
            released = self._release(table, primary | secondary, margins, normalize)
            reasons = self._reasons(table, findings)
        except Exception as exc:  # noqa: BLE001 - fail closed: any check error is a fail
            logger.error("sdc check %s raised %s", stage, type(exc).__name__)
            error = f"check-error: {stage} raised {type(exc).__name__}"
            empty = table.frame(np.full(table.shape, pd.NA, dtype=object))
            return Output(
                kind,
                statistic,
                self._profile,
                unit,
                empty,
                table.frame(np.full(table.shape, "check-error", dtype=object)),
                errors=(error,),
            )
        rounded = self._profile.rounding_base if table.kind == "count" else 1
        return Output(
            kind,
            statistic,
            self._profile,
            unit,
            released,
            reasons,
            tuple(findings),
            rounding_base=rounded,
        )

    def _release(
        self, table: Table, suppressed: np.ndarray, margins: bool, normalize: Normalize | None
    ) -> pd.DataFrame:
        raw = released_values(table.grid("statistic"), suppressed, table.kind, self._profile)
        frame = table.frame(raw.to_numpy())
        frame = frame.astype(raw.dtypes.iloc[0]) if len(raw.columns) else frame
        if normalize is not None:
            frame = shares(frame, normalize)
        return with_margins(frame) if margins else frame

    @staticmethod
    def _reasons(table: Table, findings: list[CellFinding]) -> pd.DataFrame:
        codes = np.full(table.shape, "", dtype=object)
        position = {
            (cell.row, cell.column): (i, j)
            for i, row in enumerate(table.cells)
            for j, cell in enumerate(row)
        }
        for f in findings:
            i, j = position[(f.row, f.column)]
            codes[i, j] = f.finding.rule if not codes[i, j] else f"{codes[i, j]}; {f.finding.rule}"
        return table.frame(codes)
