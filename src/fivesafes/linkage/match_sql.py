"""Matching two nodes' linkage tokens in DuckDB: :mod:`fivesafes.linkage.match`'s rule, for
tens of millions of records in a background job, spilling to disk beyond a memory limit.

The rule is ``match_tokens``'s, exactly (tests/unit/test_linkage_match_sql.py holds the two
to the same pairs): two records are the same person when their primary tokens (``nhs_dob``)
are equal, or when at least ``agreeing`` of their secondary tokens are; a pair's score is the
number of its equal secondary tokens, plus ``PRIMARY_WEIGHT`` (more than every secondary token
together) when its primary tokens are equal. A pair is linked when it is the left record's
single best (no other of its pairs scores as high) and the right record's single best too. A
record whose best score is shared by two of its pairs is linked to nothing, even where it has
a lower pair (a tie links neither: linking the wrong person is worse than missing one); and
nothing falls back to a second best.

Each side is a relation (a table, a view, or ``parquet(path)``) of **one row per record**: a
``ref`` column (unique in its side) and one column per kind of token, NULL where the record has
no token of that kind. The columns may be of any type DuckDB compares (32-byte BLOBs are the
fastest; 64 hex digits as text work too); :func:`records_from_rows` turns rows of (ref, kind,
token), as the hub keeps an upload, into that shape. One row per record (rather than a row per
token) lets each kind be matched by a join of its own, on one column: measured at 2,000,000 x
2,000,000, 1.0 s against 2.4 s for one join of rows of (ref, kind, token) on (kind, token).

:func:`match_relations` runs in steps, each one statement, so that DuckDB holds one hash table
at a time and spills what does not fit under ``Spill.memory_limit`` to
``Spill.temp_directory``:

1. *candidates*: for each kind, the pairs whose tokens of that kind are equal (a hash join on
   that column; NULL never equals anything): (left ref, right ref, whether it is the primary);
2. *scored*: the candidates grouped by pair, kept when the primary agrees or at least
   ``agreeing`` secondary tokens do, with their score;
3. *linked*: the pairs whose score is the highest of their left record's pairs and of their
   right record's, and the only one that high in each (window functions, which spill, rather
   than DuckDB's ``max(score, 2)``, whose aggregate state does not: measured), into the
   table ``into``.

A limit far below what the matching needs spills (tested: 1,000,000 records a side under
50 MB; benchmarks/bench_linkage_scale.py measures 10,000,000); but DuckDB may fail with an
``OutOfMemoryException`` rather than spill when a join's table only just exceeds the limit
(seen: 600,000 records of 32-byte tokens a side under 100 to 150 MB). Give it a few hundred
megabytes at least.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from fivesafes.linkage.calibrate import SAMPLE
from fivesafes.linkage.kinds import KINDS, PRIMARY, SECONDARY
from fivesafes.linkage.match import Matched, encodings_of_the_rest

PRIMARY_WEIGHT = len(SECONDARY) + 1  # match.py's: a primary match outranks any secondary count

L = TypeVar("L", bound=Hashable)
R = TypeVar("R", bound=Hashable)


@dataclass(frozen=True)
class Spill:
    """Where and when DuckDB spills: its memory limit (DuckDB's syntax, ``"4GB"``), a folder of
    its temporary files (made if absent, emptied by DuckDB when it is done), and threads (all
    of the machine's when None)."""

    temp_directory: Path
    memory_limit: str = "4GB"
    threads: int | None = None


__all__ = ["Matched", "Spill", "connect", "match_records_sql", "match_relations", "parquet"]


def connect(spill: Spill) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that keeps within ``spill.memory_limit`` and spills to disk."""
    spill.temp_directory.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = false")  # no order to keep: less memory
    con.execute(f"SET temp_directory = {_literal(str(spill.temp_directory))}")
    con.execute(f"SET memory_limit = {_literal(spill.memory_limit)}")
    if spill.threads is not None:
        con.execute(f"SET threads = {int(spill.threads)}")
    return con


def parquet(path: Path) -> str:
    """The relation of a Parquet file (or a glob of them), for :func:`match_relations`."""
    return f"read_parquet({_literal(str(path))})"


def records_from_rows(rows: str, kinds: Sequence[str] = KINDS) -> str:
    """A relation of one row per record (``ref`` and a column per kind) from a relation of one
    row per token (``ref``, ``kind``, ``token``). A kind not in ``kinds`` is left out."""
    columns = ", ".join(f"max(token) FILTER (WHERE kind = {_literal(k)}) AS {_name(k)}"
                        for k in kinds)  # fmt: skip
    return f"(SELECT ref, {columns} FROM {rows} GROUP BY ref)"  # noqa: S608 - the caller's relation


def match_relations(
    con: duckdb.DuckDBPyConnection,
    left: str,
    right: str,
    *,
    kinds: Sequence[str] = KINDS,
    agreeing: int = 2,
    into: str = "linked",
) -> Matched:
    """Match ``left`` with ``right`` (relations of one row per record, see the module's text)
    into the temporary table ``into`` (``left_ref``, ``right_ref``), replacing it."""
    done = Matched()
    started = time.perf_counter()
    cand, scored, target = "linkage_candidates", "linkage_scored", _name(into)
    for i, kind in enumerate(kinds):
        column = _name(kind)
        primary = "TRUE" if kind == PRIMARY else "FALSE"
        pairs = f"FROM {left} AS l JOIN {right} AS r ON l.{column} = r.{column}"
        select = f"SELECT l.ref AS lref, r.ref AS rref, {primary} AS is_primary {pairs}"
        if i == 0:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {cand} AS {select}")
        else:
            con.execute(f"INSERT INTO {cand} {select}")
    done.candidates = _count(con, cand)
    done.seconds["candidates"] = _lap(started)

    started = time.perf_counter()
    votes = "count(*) FILTER (WHERE NOT is_primary)"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {scored} AS
        SELECT lref, rref, {votes} + {PRIMARY_WEIGHT} * bool_or(is_primary)::INTEGER AS score
        FROM {cand} GROUP BY lref, rref
        HAVING bool_or(is_primary) OR {votes} >= {int(agreeing)}""")  # noqa: S608 - constants
    con.execute(f"DROP TABLE {cand}")
    done.scored = _count(con, scored)
    done.seconds["scored"] = _lap(started)

    started = time.perf_counter()
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {target} AS
        SELECT lref AS left_ref, rref AS right_ref FROM (
            SELECT lref, rref, score,
                max(score) OVER (PARTITION BY lref) AS left_top,
                count(*) OVER (PARTITION BY lref, score) AS left_at_score,
                max(score) OVER (PARTITION BY rref) AS right_top,
                count(*) OVER (PARTITION BY rref, score) AS right_at_score
            FROM {scored})
        WHERE score = left_top AND left_at_score = 1
            AND score = right_top AND right_at_score = 1""")  # noqa: S608 - constants
    con.execute(f"DROP TABLE {scored}")
    done.linked = _count(con, target)
    done.seconds["linked"] = _lap(started)
    return done


def match_records_sql(
    con: duckdb.DuckDBPyConnection,
    left: str,
    right: str,
    *,
    agreeing: int = 2,
    threshold: float | None = None,
    sample: int = SAMPLE,
    done: Matched | None = None,
) -> tuple[list[tuple[Any, Any]], list[tuple[Any, Any]]]:
    """``match.match_records`` (the linkage unit's rule) on relations of one row per record:
    ``ref``, a column per kind of ``KINDS`` and ``encoding`` (the hardened encoding's bytes,
    NULL where none was sent). Tokens are matched by :func:`match_relations`; the encodings
    of the records they left unlinked on both sides are then read into memory and compared by
    ``encodings.match_encodings``, every pair (no blocking: docs/linkage.md says what that
    costs), at ``threshold`` if given, else at the run's (``linkage.calibrate``, from
    ``sample`` records of each side, the first by ref). Returns (by tokens, by encodings);
    ``done``, if given, gets the steps' rows and times (``rest`` is the pairs of encodings
    compared) and the threshold."""
    done = done if done is not None else Matched()
    started = time.perf_counter()
    tokens = match_relations(con, left, right, kinds=KINDS, agreeing=agreeing, into="linked")
    done.candidates, done.scored, done.seconds = tokens.candidates, tokens.scored, tokens.seconds
    by_tokens: list[tuple[Any, Any]] = con.execute(
        "SELECT left_ref, right_ref FROM linked"
    ).fetchall()
    done.seconds["tokens"] = _lap(started)

    def encodings(side: str, where: str) -> dict[Any, bytes]:
        rows = con.execute(
            f"SELECT ref, encoding FROM {side} WHERE encoding IS NOT NULL {where}"  # noqa: S608 - the caller's
        ).fetchall()
        return {ref: bytes(bits) for ref, bits in rows}

    started = time.perf_counter()
    left_rest = encodings(left, "AND ref NOT IN (SELECT left_ref FROM linked)")
    right_rest = encodings(right, "AND ref NOT IN (SELECT right_ref FROM linked)")
    first = f"ORDER BY ref LIMIT {int(sample)}"
    left_all = encodings(left, first) if threshold is None else {}
    right_all = encodings(right, first) if threshold is None else {}
    matched = encodings_of_the_rest(
        left_rest, right_rest, left_all, right_all, len(by_tokens), threshold, done
    )
    con.execute("DROP TABLE linked")
    done.rest = len(left_rest) * len(right_rest)
    done.linked = len(by_tokens) + len(matched)
    done.seconds["encodings"] = _lap(started)
    return by_tokens, [(a, b) for a, b, _ in matched]


def match_tokens_sql(
    left: Mapping[L, Mapping[str, str]],
    right: Mapping[R, Mapping[str, str]],
    spill: Spill,
    *,
    agreeing: int = 2,
) -> list[tuple[L, R]]:
    """``match.match_tokens`` done by :func:`match_relations`: the same pairs (ordered by the
    left record's id). Each side's ids must be of one type (all whole numbers, or all text)."""
    if not left or not right:
        return []
    present = {k for side in (left, right) for made in side.values() for k in made}
    kinds = [k for k in KINDS if k in present] + sorted(present - set(KINDS))
    con = connect(spill)
    try:
        con.register("left_records", _arrow(left, kinds))
        con.register("right_records", _arrow(right, kinds))
        match_relations(con, "left_records", "right_records", kinds=kinds, agreeing=agreeing)
        found: list[tuple[Any, Any]] = con.execute(
            "SELECT left_ref, right_ref FROM linked ORDER BY left_ref"
        ).fetchall()
    finally:
        con.close()
    return found


def _arrow(side: Mapping[Any, Mapping[str, str]], kinds: Sequence[str]) -> pa.Table:
    columns = {"ref": pa.array(list(side))}
    for kind in kinds:
        columns[kind] = pa.array([made.get(kind) for made in side.values()], type=pa.string())
    return pa.table(columns)


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - constants
    return int(row[0]) if row else 0


def _lap(started: float) -> float:
    return time.perf_counter() - started


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _name(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'
