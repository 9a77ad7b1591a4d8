"""Writing generated rows into OMOP tables in a DuckDB database, through Arrow."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from fivesafes.data.omop import OMOP_TABLES, Column, create_table_ddl
from fivesafes.data.synth import concepts as c
from fivesafes.data.synth.effects import day_number
from fivesafes.data.synth.sampling import Rows

# Tables whose first column (their id) the writer numbers 1, 2, ... across chunks,
# after sorting the rows by person and date.
NUMBERED = {
    "condition_occurrence": "condition_start_date",
    "drug_exposure": "drug_exposure_start_date",
    "procedure_occurrence": "procedure_date",
    "measurement": "measurement_date",
    "observation": "observation_date",
}
VALID_START = date(1970, 1, 1)
VALID_END = date(2099, 12, 31)


def _arrow_column(column: Column, values: NDArray[Any]) -> pa.Array:
    """Convert one generated column; negative ids and concept ids become NULL."""
    if column.type == "DATE":
        return pa.array(values.astype(np.int32), type=pa.int32()).cast(pa.date32())
    if column.type == "INTEGER":
        mask = values < 0 if column.nullable else None
        if mask is not None and not mask.any():
            mask = None
        return pa.array(values.astype(np.int32), type=pa.int32(), mask=mask)
    if column.type == "DOUBLE":
        return pa.array(values.astype(np.float64), type=pa.float64())
    return pa.array(values.tolist(), type=pa.string())


class OmopWriter:
    """Creates the OMOP tables and appends chunks of rows to them.

    ``connection`` is an open DuckDB connection (injected; the writer opens nothing).
    """

    def __init__(self, connection: Any) -> None:
        self._con = connection
        self.counts: dict[str, int] = dict.fromkeys(OMOP_TABLES, 0)

    def create_tables(self) -> None:
        """Create every table of :data:`OMOP_TABLES`."""
        for table in OMOP_TABLES:
            self._con.execute(create_table_ddl(table))

    def append(self, table: str, rows: Rows) -> int:
        """Append rows (column name -> array) to ``table``; return how many."""
        columns = {col.name: col for col in OMOP_TABLES[table]}
        n = len(next(iter(rows.values())))
        if table in NUMBERED:
            key = rows["person_id"].astype(np.int64) * 65536 + rows[NUMBERED[table]]
            order = np.argsort(key, kind="stable")
            rows = {name: values[order] for name, values in rows.items()}
            id_column = OMOP_TABLES[table][0].name
            rows = {id_column: self.counts[table] + 1 + np.arange(n), **rows}
        arrow = pa.table({name: _arrow_column(columns[name], v) for name, v in rows.items()})
        self._con.register("synth_rows", arrow)
        try:
            self._con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM synth_rows")  # noqa: S608
        finally:
            self._con.unregister("synth_rows")
        self.counts[table] += n
        return n

    def append_vocabulary(self, *, background: bool = False) -> None:
        """Write the ``concept`` and ``concept_ancestor`` rows of every concept used; with
        ``background``, also those of the background conditions."""
        concepts = c.CONCEPTS + (c.BACKGROUND_CONCEPTS if background else ())
        n = len(concepts)
        self.append(
            "concept",
            {
                "concept_id": np.array([x.concept_id for x in concepts]),
                "concept_name": np.array([x.concept_name for x in concepts], dtype=object),
                "domain_id": np.array([x.domain_id for x in concepts], dtype=object),
                "vocabulary_id": np.array([x.vocabulary_id for x in concepts], dtype=object),
                "concept_class_id": np.array([x.concept_class_id for x in concepts], dtype=object),
                "standard_concept": np.array([x.standard_concept for x in concepts], dtype=object),
                "concept_code": np.array([x.concept_code for x in concepts], dtype=object),
                "valid_start_date": np.full(n, day_number(VALID_START)),
                "valid_end_date": np.full(n, day_number(VALID_END)),
            },
        )
        rows = list(c.ancestor_rows())
        if background:
            rows += c.ancestor_rows(c.BACKGROUND_CONCEPTS, c.BACKGROUND_PARENTS)
        ancestors = np.array(rows, dtype=np.int64)
        names = [col.name for col in OMOP_TABLES["concept_ancestor"]]
        self.append("concept_ancestor", dict(zip(names, ancestors.T, strict=True)))
