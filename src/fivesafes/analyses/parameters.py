"""What analyses' parameters share: the cohort they describe (and how a client writes one),
and agreed bin edges."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field

from fivesafes.cohorts.circe import CirceCohort
from fivesafes.cohorts.criteria import Cohort
from fivesafes.protocol import bounded_json
from fivesafes.protocol.errors import InvalidRequest
from fivesafes.protocol.models import FiniteFloat

CohortDefinition = Cohort | CirceCohort
"""A cohort in the platform's own criteria model, or an OHDSI Circe (ATLAS) definition."""

CohortLike = Cohort | CirceCohort | dict[str, Any] | str | Path
"""A cohort as a researcher hands it to the client: a model, a dict, or a JSON file's path."""

Edges = Annotated[list[FiniteFloat], Field(min_length=2, max_length=51)]
"""Bin edges agreed in a task: the same at every node, never taken from any node's data."""


def cohorts_in(parameters: Any, depth: int = 0) -> list[CohortDefinition]:
    """Every cohort in an analysis's parameters, however nested (a linked count's parts)."""
    if isinstance(parameters, Cohort | CirceCohort):
        return [parameters]
    if depth > 8:  # parameters are validated models a few levels deep
        return []
    if isinstance(parameters, BaseModel):
        values: Any = [getattr(parameters, name) for name in type(parameters).model_fields]
    elif isinstance(parameters, dict):
        values = list(parameters.values())
    elif isinstance(parameters, list | tuple):
        values = parameters
    else:
        return []
    return [c for value in values for c in cohorts_in(value, depth + 1)]


def increasing(edges: list[float]) -> None:
    """Raise ``ValueError`` (a 422 in words) unless ``edges`` increase."""
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise ValueError("bin edges must increase")


CIRCE_KEYS = frozenset({"PrimaryCriteria", "ConceptSets", "primaryCriteria", "conceptSets"})


def cohort_json(cohort: CohortLike) -> dict[str, Any]:
    """A cohort as the task carries it. A bare OHDSI Circe expression (an ATLAS export or a
    PhenotypeLibrary file: ``ConceptSets``, ``PrimaryCriteria``, ...) is wrapped as
    ``{"name", "circe"}``, named after its file or its own ``title``."""
    if isinstance(cohort, Cohort | CirceCohort):
        return cohort.model_dump(mode="json", exclude_none=True)
    name = "Circe cohort"
    if isinstance(cohort, dict):
        data = cohort
    else:
        data = read_cohort_file(Path(cohort))
        name = Path(cohort).stem
    if CIRCE_KEYS & data.keys():
        title = data.get("title") or data.get("name")
        return {"name": str(title or name)[:200], "circe": data}
    return data


MAX_COHORT_FILE_BYTES = 1_000_000


def read_cohort_file(path: Path) -> dict[str, Any]:
    """A cohort file's JSON object, or ``InvalidRequest`` saying in words what is wrong with
    the file (never its contents)."""
    try:
        if path.stat().st_size > MAX_COHORT_FILE_BYTES:
            raise InvalidRequest(
                f"The cohort file {path.name} is larger than {MAX_COHORT_FILE_BYTES:,} bytes."
            )
        data = bounded_json.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidRequest(
            f"Cannot read the cohort file {path.name}: {exc.strerror or 'unreadable'}."
        ) from None
    except bounded_json.TooDeep:
        raise InvalidRequest(
            f"The cohort file {path.name} is nested more than {bounded_json.MAX_DEPTH} levels deep."
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"The cohort file {path.name} is not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno})."
        ) from None
    except ValueError:
        raise InvalidRequest(f"The cohort file {path.name} is not UTF-8 JSON text.") from None
    if not isinstance(data, dict):
        raise InvalidRequest(
            f"The cohort file {path.name} holds a JSON {type(data).__name__}, not an object "
            "(a cohort definition or an ATLAS export)."
        )
    return data
