"""What a person is told about a request, form or file that is not valid: each of pydantic's
problems as a field in words and what was expected, never what was typed (security property 1)
and never pydantic's internals (``function-after[...]``, union members, "Input tag ...").

The hub's API, both portals' forms and the command line read a :class:`pydantic.ValidationError`
(or FastAPI's list of the same) through :func:`problems`, so one refusal reads the same in all
three. A problem is said from its type and its schema context (the bounds and the values
expected, which come from the model, not the input); a type this table does not know is "is not
valid", rather than pydantic's message, which may quote the input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fivesafes.protocol.errors import ErrorDetail

MAX_PROBLEMS = 20

_INTERNAL = re.compile(
    r"^(function-(after|before|wrap|plain)|tagged-union|union|chain|lax-or-strict"
    r"|json-or-python|nullable|model|default|is-instance)\b|[\[\]()]"
)
_PLURAL = {"list": "items", "tuple": "items", "set": "items", "dict": "entries"}


def _internal(part: int | str) -> bool:
    return isinstance(part, str) and bool(
        _INTERNAL.search(part) or (part[:1].isupper() and part.isidentifier())
    )


def where(loc: Sequence[int | str]) -> str:
    """A field's place in words: ``cohort / criteria 1 / concepts 2`` (list positions counted
    from 1), leaving out where the request came in (body, query, form) and pydantic's own
    steps (validators, union members and tags, which name classes, not fields)."""
    words: list[str] = []
    for part in loc:
        if isinstance(part, int):
            if words:
                words[-1] = f"{words[-1]} {part + 1}"
            else:
                words.append(f"item {part + 1}")
            continue
        if part in ("body", "query", "path", "form") and not words:
            continue
        if _internal(part):
            continue  # a validator's or a union member's name, or a tag's class
        words.append(part.replace("_", " "))
    return " / ".join(words)


def _expected(values: Any) -> str:
    text = str(values)
    return text if len(text) <= 200 else text[:200] + "…"


def problem(error: Mapping[str, Any]) -> str:
    """What was expected, from the error's type and the schema's context."""
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field this accepts"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "should be a whole number"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return "should be a number" + (" (not infinite or NaN)" if kind == "finite_number" else "")
    if kind in ("bool_type", "bool_parsing"):
        return "should be true or false"
    if kind in ("string_type", "string_unicode"):
        return "should be text"
    if kind in ("list_type", "tuple_type", "set_type"):
        return "should be a list"
    if kind in ("dict_type", "model_type", "model_attributes_type", "dataclass_type"):
        return "should be an object with fields"
    if kind in ("date_type", "date_parsing", "date_from_datetime_parsing"):
        return "should be a date (YYYY-MM-DD)"
    if kind in ("datetime_type", "datetime_parsing"):
        return "should be a date and time (ISO 8601)"
    if kind == "string_pattern_mismatch":
        return "does not have the expected form"
    if kind == "string_too_short":
        return f"should have at least {ctx.get('min_length')} characters"
    if kind == "string_too_long":
        return f"should have at most {ctx.get('max_length')} characters"
    if kind in ("too_short", "too_long"):
        noun = _PLURAL.get(str(ctx.get("field_type", "list")).lower(), "items")
        size = ctx.get("min_length" if kind == "too_short" else "max_length")
        if size == 1:
            noun = noun.removesuffix("s") if noun != "entries" else "entry"
        return f"should have at {'least' if kind == 'too_short' else 'most'} {size} {noun}"
    bounds = {"greater_than": "more than", "greater_than_equal": "at least",
              "less_than": "less than", "less_than_equal": "at most"}  # fmt: skip
    if kind in bounds:
        limit = next((v for k, v in ctx.items() if k in ("gt", "ge", "lt", "le")), None)
        return f"should be {bounds[kind]} {limit}"
    if kind in ("literal_error", "enum"):
        return f"should be one of: {_expected(ctx.get('expected', ''))}"
    if kind == "union_tag_invalid":
        return f"should be one of: {_expected(ctx.get('expected_tags', ''))}"
    if kind == "union_tag_not_found":
        return f"needs its '{ctx.get('discriminator', 'kind')}'"
    if kind == "value_error":  # our own validators' messages: written for people, no values
        return str(error.get("msg", "")).removeprefix("Value error, ") or "is not valid"
    if kind == "assertion_error":
        return "is not valid"
    if kind == "json_invalid":
        return "is not valid JSON"
    if kind == "recursion_loop":
        return "is nested too deeply"
    return "is not valid"


def problems(
    errors: Iterable[Mapping[str, Any]], *, limit: int = MAX_PROBLEMS
) -> list[ErrorDetail]:
    """Each problem as an :class:`ErrorDetail` (field in words, what was expected), the same
    problem at the same field said once, at most ``limit``."""
    said: list[ErrorDetail] = []
    for error in best_matches(list(errors)):
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "union_tag_invalid":  # the tag's own field, by its name
            loc += (str((error.get("ctx") or {}).get("discriminator", "")).strip("'\""),)
        detail = ErrorDetail(field=where(loc) or "(parameters)", problem=problem(error))
        if detail not in said:
            said.append(detail)
        if len(said) == limit:
            break
    return said


def best_matches(errors: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Where a value could be one of several kinds (a cohort is the platform's model or a Circe
    definition), only the problems of the kind it most looks like: the one with the fewest
    fields missing or not accepted. Told of every kind, a person reads "circe: is required"
    about a cohort they wrote in the other form."""
    members: dict[tuple[Any, ...], dict[str, int]] = {}
    for error in errors:
        loc = tuple(error.get("loc", ()))
        for n, part in enumerate(loc):
            if _internal(part):
                shape = int(error.get("type") in ("missing", "extra_forbidden"))
                scores = members.setdefault(loc[:n], {})
                scores[str(part)] = scores.get(str(part), 0) + shape
                break
    kept = {
        prefix: {m for m, score in scores.items() if score == min(scores.values())}
        for prefix, scores in members.items()
        if len(scores) > 1
    }

    def wanted(error: Mapping[str, Any]) -> bool:
        loc = tuple(error.get("loc", ()))
        for n, part in enumerate(loc):
            if _internal(part):
                return str(part) in kept.get(loc[:n], {str(part)})
        return True

    kept_errors = [error for error in errors if wanted(error)]
    places = [tuple(e.get("loc", ())) for e in kept_errors]
    return [  # a list too short only because an item of it failed: the item says why
        error
        for error, loc in zip(kept_errors, places, strict=True)
        if not (
            error.get("type") == "too_short"
            and any(p[: len(loc)] == loc and p != loc for p in places)
        )
    ]


def sentence(details: Sequence[ErrorDetail]) -> str:
    """The problems as one line for a terminal or a page: ``age / min: should be at least 0;
    ...``."""
    return "; ".join(f"{d.field}: {d.problem}" for d in details)
