"""Compiled SQL of a node's queries, kept so that a query asked again is not compiled again.

Building an Ibis expression and compiling it to SQL costs a node more than running it on a
small CDM: a count on 2,000 persons spends about two thirds of its time there, and circepy's
plan of a typical Circe phenotype takes longer to compile than DuckDB takes to run it on
1,000,000 persons (docs/benchmarks.md). A query run through :func:`fetch` is compiled once per

| part of the key        | what it is                                                         |
| ---------------------- | ------------------------------------------------------------------ |
| the query              | its builder (a module-level function) and the inputs it is given,  |
|                        | as canonical JSON: a cohort's whole definition, every parameter     |
| the data source        | engine, location and schema (``OmopDatabase.identity``)            |
| the opt-out version    | the node's opt-out list as this connection reads it (presence,     |
|                        | size and a fingerprint of its ids: ``OmopDatabase.opt_out_version``)|

and its SQL kept in a bounded cache (:class:`CompiledSql`: least recently used first out, at
most ``max_entries`` queries and ``max_chars`` characters of SQL). The SQL itself reads the
opt-out list by name when it runs; the version is in the key so that SQL compiled while the
list was absent, or different, is never reused for a list that is there now, whatever the
view layer does with it in future.

On DuckDB the SQL is also *prepared* once per connection (:class:`Prepared`): DuckDB parses,
binds and plans a statement again each time it is given as text, which on a small CDM is
about 40% of a query's CPU (a count's cohort on 2,000 persons: 5.4 ms as text, 3.2 ms
prepared). A prepared statement is a plan, not a result: it reads the tables (the opt-out
list among them) as they are each time it runs.

The SQL is a pure function of its key: the builder receives exactly the inputs that make the
key (a closure, which could hide other inputs, is refused), and reads the CDM only through the
view layer of the connection it is given. Nothing in the key or the cache is patient data:
definitions, parameters and the SQL compiled from them. A query holding in-memory tables or
parameters is run through Ibis as usual and not kept.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    import ibis
    import pyarrow as pa

    from fivesafes.data.source import OmopDatabase

MAX_ENTRIES = 256
MAX_CHARS = 16_000_000  # a typical Circe phenotype compiles to about 20,000 characters
MAX_PREPARED = 64  # a plan holds more memory than its SQL: fewer are kept per connection


@dataclass(frozen=True)
class Compiled:
    """One query's SQL for one engine, and the schema Ibis gives its result."""

    sql: str
    schema: Any  # ibis.Schema


class CompiledSql:
    """A bounded cache of compiled SQL, least recently used first out. Thread-safe; its
    counters say how often it was asked (``hits``, ``misses``) and what it holds."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_chars: int = MAX_CHARS) -> None:
        if max_entries < 1 or max_chars < 1:
            raise ValueError("a cache of compiled SQL holds at least one query")
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._entries: OrderedDict[str, Compiled] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Compiled | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: str, compiled: Compiled) -> None:
        """Keep ``compiled`` (a query larger than the whole cache is not kept)."""
        size = len(compiled.sql)
        if size > self.max_chars:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._chars -= len(old.sql)
            self._entries[key] = compiled
            self._chars += size
            while len(self._entries) > self.max_entries or self._chars > self.max_chars:
                _, dropped = self._entries.popitem(last=False)
                self._chars -= len(dropped.sql)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def chars(self) -> int:
        """Characters of SQL held."""
        return self._chars


class Prepared:
    """The statements prepared on one DuckDB connection, by their SQL: least recently used
    first out, each deallocated as it goes (at most ``max_entries``). Thread-safe."""

    def __init__(self, max_entries: int = MAX_PREPARED) -> None:
        if max_entries < 1:
            raise ValueError("a connection keeps at least one prepared statement")
        self.max_entries = max_entries
        self._names: OrderedDict[str, str] = OrderedDict()
        self._made = 0
        self._lock = threading.Lock()

    def run(self, con: Any, sql: str) -> pa.Table:
        """``sql``'s result on ``con`` (a DuckDB connection), prepared the first time."""
        with self._lock:
            name = self._names.get(sql)
            if name is None:
                self._made += 1
                name = f"fivesafes_q{self._made}"
                con.execute(f"PREPARE {name} AS {sql}")
                self._names[sql] = name
                while len(self._names) > self.max_entries:
                    _, dropped = self._names.popitem(last=False)
                    con.execute(f"DEALLOCATE {dropped}")
            else:
                self._names.move_to_end(sql)
            result: pa.Table = con.execute(f"EXECUTE {name}").to_arrow_table()
        return result

    def __len__(self) -> int:
        return len(self._names)


Builder = Callable[..., "ibis.Table"]


def query_key(db: OmopDatabase, build: Builder, inputs: Mapping[str, Any]) -> str:
    """The cache key of ``build(db, **inputs)`` on ``db``: a SHA-256 of canonical JSON."""
    if getattr(build, "__closure__", None) or "<locals>" in build.__qualname__:
        raise TypeError("a cached query's builder is a module-level function, not a closure")
    whole = {
        "query": f"{build.__module__}:{build.__qualname__}",
        "inputs": {name: _json(value) for name, value in inputs.items()},
        "source": db.identity,
        "opt_outs": db.opt_out_version(),
    }
    canonical = json.dumps(whole, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def fetch(db: OmopDatabase, build: Builder, /, **inputs: Any) -> pa.Table:
    """The result of ``build(db, **inputs)`` (an Ibis table expression) as an Arrow table,
    with its SQL compiled once per key (see the module's table) and kept in ``db.compiled``."""
    key = query_key(db, build, inputs)
    compiled = db.compiled.get(key)
    if compiled is None:
        expr = build(db, **inputs)
        if not _cacheable(expr):
            result: pa.Table = expr.to_pyarrow()
            return result
        compiled = Compiled(str(db.backend.compile(expr)), expr.schema())
        db.compiled.put(key, compiled)
    return run(db, compiled)


def run(db: OmopDatabase, compiled: Compiled) -> pa.Table:
    """Run compiled SQL on ``db``'s engine as Ibis runs a table expression there: the same
    cursor handling and the same conversion of the result to the expression's schema."""
    backend = db.backend
    schema = compiled.schema
    if backend.name == "duckdb":
        from ibis.backends.duckdb.converter import DuckDBPyArrowData

        table = db.prepared.run(backend.con, compiled.sql)
        converted: pa.Table = DuckDBPyArrowData.convert_table(table, schema)
        return converted
    from ibis.formats.pyarrow import PyArrowData

    if backend.name == "postgres":
        import pyarrow as pa

        con = backend.con
        with con.cursor() as cursor, con.transaction():
            rows = cursor.execute(compiled.sql).fetchall()
        arrow = schema.to_pyarrow()
        struct = pa.array(rows, type=schema.as_struct().to_pyarrow())
        table = pa.Table.from_struct_array(struct).rename_columns(list(schema.names)).cast(arrow)
        converted = PyArrowData.convert_table(table, schema)
        return converted
    if backend.name == "pyspark":
        import pyarrow as pa
        from ibis.backends.pyspark.converter import PySparkPandasData

        frame = PySparkPandasData.convert_table(backend.raw_sql(compiled.sql).toPandas(), schema)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        converted = PyArrowData.convert_table(table, schema)
        return converted
    raise ValueError(f"compiled SQL is not run on the {backend.name} engine")


def _cacheable(expr: ibis.Table) -> bool:
    """Whether the SQL alone runs ``expr``: it holds no in-memory table (registered with the
    connection only while the expression lives) and no parameter (bound when it runs)."""
    import ibis.expr.operations as ops

    return not expr.op().find((ops.InMemoryTable, ops.ScalarParameter))


def _json(value: Any) -> Any:
    """``value`` as JSON for a key: models as their JSON form, tuples and sets as lists."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_json(v) for v in value)
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("a cached query's input mapping has string keys")
        return {k: _json(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a cached query's input is JSON, not {type(value).__name__}")
