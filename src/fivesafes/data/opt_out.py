"""A node's opt-out list: persons whose records are used in no cohort and no analysis.

The list is the table ``fivesafes_opt_out`` (one ``person_id`` per row) next to the node's CDM,
on whatever engine holds it, so the view layer (``fivesafes.data.views``) can remove those
persons inside the engine before anything else reads a row. Replacing the list is an
administrator's act with write access to the data source, like loading the CDM
(``fivesafes node opt-out load``); the running node only reads it.

A list file holds one person_id per line (a ``person_id`` header line is allowed; blank lines
are skipped). A line that is not a whole number refuses the whole file, naming the line number
and never its text. The node maps a national identifier (an NHS number) to its own person_id
before this step; that mapping is outside this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fivesafes.data.source import DuckDBSource, PostgresSource, Source, SparkSource, libpq_url
from fivesafes.data.views import OPT_OUT_TABLE


class OptOutFileError(ValueError):
    """The opt-out file cannot be read as a list of person ids."""


@dataclass(frozen=True)
class OptOutList:
    person_ids: npt.NDArray[np.int64]  # distinct, sorted

    def __len__(self) -> int:
        return len(self.person_ids)


def read_opt_out_file(path: Path) -> OptOutList:
    """The distinct person ids in ``path``; raises ``OptOutFileError`` naming a bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise OptOutFileError(f"cannot read {path}: {type(exc).__name__}") from None
    ids: list[int] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip().strip(",")
        if not text or (number == 1 and text.lower() == "person_id"):
            continue
        try:
            value = int(text)
        except ValueError:
            raise OptOutFileError(
                f"line {number} of {path.name} is not a person_id (a whole number)"
            ) from None
        if value < 0:
            raise OptOutFileError(f"line {number} of {path.name} is a negative person_id")
        ids.append(value)
    return OptOutList(np.unique(np.asarray(ids, dtype=np.int64)))


def replace_opt_outs(source: Source, opt_outs: OptOutList) -> int:
    """Replace the source's opt-out table with ``opt_outs`` in one transaction (readers see
    the old list or the new one, never a mix); returns how many persons it holds."""
    if isinstance(source, DuckDBSource):
        _replace_duckdb(source, opt_outs)
    elif isinstance(source, SparkSource):
        _replace_parquet(source, opt_outs)
    else:
        _replace_postgres(source, opt_outs)
    return len(opt_outs)


def count_opt_outs(source: Source) -> int | None:
    """How many persons the source's opt-out list holds (None: the source has no list)."""
    from fivesafes.data.engines import open_omop

    with open_omop(source) as db:
        opted_out = db.opted_out()
        return None if opted_out is None else int(opted_out.count().execute())


def _replace_duckdb(source: DuckDBSource, opt_outs: OptOutList) -> None:
    import duckdb
    import pyarrow as pa

    if not source.path.is_file():
        raise FileNotFoundError(f"no DuckDB file at {source.path}")
    table = _qualified(source.schema_name)
    rows = pa.table({"person_id": pa.array(opt_outs.person_ids, type=pa.int64())})
    with duckdb.connect(str(source.path)) as con:
        con.register("fivesafes_new_opt_outs", rows)
        con.execute("BEGIN")
        try:
            con.execute(
                f"CREATE OR REPLACE TABLE {table} AS "  # noqa: S608 - a validated identifier
                "SELECT person_id FROM fivesafes_new_opt_outs"
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise


def _replace_parquet(source: SparkSource, opt_outs: OptOutList) -> None:
    """Write the list next to the Parquet tables, then rename it into place (atomic)."""
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    if not source.path.is_dir():
        raise FileNotFoundError(f"no Parquet folder at {source.path}")
    target = source.path / f"{OPT_OUT_TABLE}.parquet"
    staging = source.path / f".{OPT_OUT_TABLE}.parquet.new"
    pq.write_table(pa.table({"person_id": pa.array(opt_outs.person_ids, type=pa.int64())}), staging)
    os.replace(staging, target)


def _replace_postgres(source: PostgresSource, opt_outs: OptOutList) -> None:
    import psycopg
    from psycopg import sql

    name = sql.Identifier(source.schema_name, OPT_OUT_TABLE)
    with psycopg.connect(libpq_url(source.url)) as connection, connection.transaction():
        connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(name))
        connection.execute(sql.SQL("CREATE TABLE {} (person_id BIGINT PRIMARY KEY)").format(name))
        with connection.cursor().copy(
            sql.SQL("COPY {} (person_id) FROM STDIN").format(name)
        ) as copy:
            for person_id in opt_outs.person_ids.tolist():
                copy.write_row((person_id,))


def _qualified(schema: str | None) -> str:
    """The opt-out table's name in a DuckDB file: schema names are validated identifiers."""
    return f'"{schema}"."{OPT_OUT_TABLE}"' if schema else f'"{OPT_OUT_TABLE}"'
