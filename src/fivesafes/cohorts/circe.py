"""OHDSI Circe cohort definitions (ATLAS exports, PhenotypeLibrary JSON) run at the node.

A researcher's existing definition travels unchanged in the task (``CirceCohort``: a name and
the Circe JSON). Each node parses it with ``ohdsi-circepy`` and compiles it with circepy's own
Ibis executor, *compile-only*: every table it reads comes through the node's view layer
(``OmopDatabase.table``: lower-case columns, CDM 5.3 as 5.4, opt-outs removed), and every
"table" circepy would write (its codeset table, its staging tables) is kept as a *named* Ibis
expression in memory instead, so nothing is written to the CDM and a read-only source works
on every engine. A named expression compiles to one common table expression however often
later stages read it, so the SQL reads each CDM table once per stage that needs it rather than
once per use (docs/benchmarks.md, "cohort-scale"). Its concept sets are typed as the CDM types
its concept ids (``CODESETS``). The cohort's persons are its subjects; a person's index date is
the start of their first cohort era.

Constructs this platform does not run are refused with a message naming them, never silently
ignored: at the hub when the task is submitted (a 422 naming the construct), and at the node if
circepy itself cannot run a definition (``unsupported_cohort``; the node's log names it).

| construct                                | where refused | why                                  |
| ---------------------------------------- | ------------- | ------------------------------------ |
| ``LocationRegion`` (location history)    | hub and node  | ``location_history`` is not among    |
|                                          |               | the CDM tables a node reads          |
| a definition beyond a bound of           | hub and node  | its cost at the node (the refusal    |
| ``cohorts.bounds`` (inclusion rules,     |               | names the bound)                     |
| criteria, nesting, concept sets, ...)    |               |                                      |
| anything circepy 0.3 cannot compile      | node          | named in the node's log              |

Everything else circepy 0.3 runs is accepted: the clinical-event criteria of every CDM domain
(conditions, drugs, procedures, measurements, observations, devices, specimens, visits, visit
details, deaths, observation and payer plan periods, condition/drug/dose eras), correlated and
demographic criteria, inclusion rules, end strategies (date offset, custom drug era),
censoring and era collapse.
"""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from fivesafes.cohorts.bounds import check_circe_size
from fivesafes.data.names import CDM_TABLES
from fivesafes.protocol.validation import problems, sentence

if TYPE_CHECKING:
    import ibis

    from fivesafes.data.source import OmopDatabase

MAX_JSON_BYTES = 256_000
UNSUPPORTED_TABLES = frozenset({"location_history"})
UNSUPPORTED_CONSTRUCTS = {
    "LocationRegion": "criteria on location history (LocationRegion)",
}
"""Circe keys this node refuses, with the name the refusal gives them."""
CODESETS = "__codesets"
"""How circepy's table of concept sets ends its name (``build_single_codeset_table``). Its
``concept_id`` is BIGINT, where the CDM's DDL makes concept columns INTEGER (the synthetic
generator's are), so every match of an event against a set compared
``CAST(condition_concept_id AS BIGINT)``: a cast of the event table's column, whose statistics
the planner then cannot use and through which DuckDB cannot filter the table's scan by the
set. The node types the set as the CDM types its concept ids, so only the few ids of the set
are cast (docs/benchmarks.md, cohort-scale: the typical phenotype's SQL about 8 % faster on
DuckDB at 10,000,000 persons; the build side of its joins, set by DuckDB's estimates, is
unchanged)."""


class UnsupportedCirce(ValueError):
    """A Circe construct this node cannot run; the message names it."""


class CirceCohort(BaseModel):
    """A cohort given as OHDSI Circe JSON (an ATLAS cohort definition's expression)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    circe: dict[str, Any] = Field(description="the cohort definition's Circe expression")

    def concept_ids(self) -> frozenset[int]:
        """Every concept id the definition's concept sets name (not their descendants)."""
        ids: set[int] = set()
        for concept_set in self.circe.get("ConceptSets") or self.circe.get("conceptSets") or []:
            items = (concept_set.get("expression") or {}).get("items") or []
            for item in items:
                concept = item.get("concept") or {}
                value = concept.get("CONCEPT_ID", concept.get("conceptId"))
                if isinstance(value, int):
                    ids.add(value)
        return frozenset(ids)

    def data_domains(self) -> frozenset[str]:
        """The data domains the cohort reads: a Circe definition reads the OMOP CDM only."""
        return frozenset({"omop"})

    def calendar_dates(self) -> list[str]:
        """Where the definition names a calendar date, in words (as ``Cohort.calendar_dates``;
        the definition is size-bounded before anything walks it)."""
        return sorted(_calendar_dates(self.circe))

    @model_validator(mode="after")
    def _a_circe_expression(self) -> CirceCohort:
        check_circe_size(self.circe)  # before anything walks it recursively
        text = json.dumps(self.circe)
        if len(text.encode()) > MAX_JSON_BYTES:
            raise ValueError(f"a Circe definition is at most {MAX_JSON_BYTES} bytes")
        expression(self)  # parses, or raises ValueError naming what is wrong
        found = sorted(_keys(self.circe) & UNSUPPORTED_CONSTRUCTS.keys())
        if found:
            names = ", ".join(UNSUPPORTED_CONSTRUCTS[k] for k in found)
            raise UnsupportedCirce(f"the definition uses what this platform does not run: {names}")
        return self


CALENDAR_KEYS = {
    "occurrencestartdate": "an occurrence's start date",
    "occurrenceenddate": "an occurrence's end date",
    "periodstartdate": "an observation period's start date",
    "periodenddate": "an observation period's end date",
    "userdefinedperiod": "a user-defined period",
    "censorwindow": "the censor window",
}
"""Circe's constructs that name calendar dates (a ``DateRange``, a period, the censor window)."""


def _calendar_dates(value: Any) -> set[str]:
    """The calendar constructs set (not null, not empty) anywhere in a JSON value."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            named = CALENDAR_KEYS.get(str(key).lower())
            if (
                named
                and isinstance(inner, dict)
                and any(v not in (None, "") for v in inner.values())
            ):
                found.add(named)
            found |= _calendar_dates(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _calendar_dates(inner)
    return found


def _keys(value: Any) -> set[str]:
    """Every key anywhere in a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def expression(cohort: CirceCohort) -> Any:
    """The definition as circepy's ``CohortExpression``; raises ``ValueError``
    (``UnsupportedCirce`` for a construct the node does not run)."""
    from circe.api import cohort_expression_from_json

    try:
        parsed = cohort_expression_from_json(json.dumps(cohort.circe))
    except ValueError as exc:
        raise ValueError(f"not a Circe cohort definition: {_what_is_wrong(exc)}") from None
    if parsed.primary_criteria is None or not parsed.primary_criteria.criteria_list:
        raise ValueError("a Circe cohort definition needs PrimaryCriteria with a CriteriaList")
    return parsed


def _what_is_wrong(exc: BaseException) -> str:
    """circepy's refusal in words: its model's problems (field and what was expected, never a
    value), else the first line of its message."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ValidationError):
            return sentence(problems(seen.errors(), limit=5))
        seen = seen.__cause__ or seen.__context__
    return str(exc).splitlines()[0][:200]


class _CompileOnly:
    """What circepy's executor sees as its Ibis backend: tables read through the node's view
    layer, and tables it would create kept as expressions (nothing is written)."""

    def __init__(self, db: OmopDatabase) -> None:
        self._db = db
        self._virtual: dict[str, ibis.Table] = {}
        self._numbers = itertools.count()
        self.name = db.backend.name

    def table(self, name: str, database: str | None = None) -> ibis.Table:
        if name in self._virtual:
            return self._virtual[name]
        lower = name.lower()
        if lower in UNSUPPORTED_TABLES:
            raise UnsupportedCirce(f"criteria on {lower} are not supported at this node")
        if lower not in CDM_TABLES:
            raise UnsupportedCirce(f"the definition reads {name!r}, not an OMOP CDM table")
        return self._db.table(lower)

    def create_table(
        self, name: str, obj: Any = None, *, database: str | None = None, **_: Any
    ) -> ibis.Table:
        if name.endswith(CODESETS) and "concept_id" in obj.columns:
            obj = obj.mutate(concept_id=obj.concept_id.cast(self._concept_type()))
        named = obj.alias(f"{name.lower()}_{next(self._numbers)}")  # one CTE however often read
        self._virtual[name] = named
        return named

    def _concept_type(self) -> Any:
        """The type of the CDM's concept ids (``concept.concept_id``; INTEGER in the CDM's
        DDL, where circepy's codesets are BIGINT)."""
        return self._db.table("concept").concept_id.type()

    def drop_table(self, name: str, *, database: str | None = None, force: bool = False) -> None:
        self._virtual.pop(name, None)

    def list_tables(self, *, database: str | None = None, like: str | None = None) -> list[str]:
        return [*self._virtual, *sorted(CDM_TABLES)]


def circe_events(cohort: CirceCohort, db: OmopDatabase) -> ibis.Table:
    """The cohort's eras: ``person_id``, ``start_date``, ``end_date``."""
    from circe.execution.api import build_cohort

    try:
        return build_cohort(
            expression(cohort),
            backend=_CompileOnly(db),
            cdm_schema="cdm",
            materialize=True,  # every stage passes through create_table, so it is named
            session_prefix="fivesafes_",
        )
    except (UnsupportedCirce, ValueError):
        raise
    except NotImplementedError as exc:
        raise UnsupportedCirce(
            f"circepy cannot run this definition: {_what_is_wrong(exc)}"
        ) from None


def circe_persons(cohort: CirceCohort, db: OmopDatabase) -> ibis.Table:
    """One row per person of the cohort: ``person_id`` and ``index_date`` (the start of the
    person's first era)."""
    events = circe_events(cohort, db)
    return events.group_by("person_id").aggregate(index_date=events.start_date.min())
