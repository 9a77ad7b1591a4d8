"""A review study's structured form: coded items a reader answers for a case, and for each AI
prediction, as a versioned JSON Schema.

A form is data, not code: a list of items, each one of a few kinds.

| kind | answer | agreement (``agreement``) |
| --- | --- | --- |
| ``choice`` | one code of its options | nominal: Cohen's / Fleiss' kappa, alpha |
| ``ordinal`` | one code of its options, in their order | quadratic-weighted kappa, ordinal alpha |
| ``integer`` | a whole number within ``minimum``..``maximum`` | interval alpha |
| ``boolean`` | true or false | nominal |
| ``text`` | free text, at most ``max_length`` characters | none (read, not scored) |
| ``region`` | a polygon in the slide's level-0 pixels | none (drawn on the slide) |

An item is *core* (required before a read can be locked or submitted) or not; an item may
apply only when another item has a given code (``when``): e.g. the predominant pattern only
for an adenocarcinoma. Items ``for`` the case are answered once per read; items ``for`` a
prediction are answered once per AI prediction shown (agree or not, a corrected region, how
sure, why).

A form's identity is its ``form_id`` and ``version``; a study pins one version, and a stored
version never changes (its ``digest`` is the SHA-256 of its canonical JSON). Answers are
checked against the JSON Schema the form compiles to (Draft 2020-12, with ``jsonschema``) and
then against what a schema cannot say (a polygon's vertices inside the slide). Both the form
and the answers come from people and are bounded: the sizes below, and
``protocol.bounded_json``'s depth. An error names the item and the rule it broke, never the
value typed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cached_property
from importlib import resources
from typing import Annotated, Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fivesafes.protocol import bounded_json
from fivesafes.protocol.errors import ErrorDetail, InvalidRequest

MAX_ITEMS = 60
MAX_OPTIONS = 40
MAX_TEXT = 4000
MAX_VERTICES = 2000
MAX_PREDICTIONS = 50  # prediction feedback blocks in one read
MAX_ANSWER_BYTES = 256 * 1024
MAX_SLIDE_SIDE = 1_000_000  # pixels: any slide's level-0 side is smaller

Code = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,39}$")]
Label = Annotated[str, Field(min_length=1, max_length=200)]
ItemId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Kind = Literal["choice", "ordinal", "integer", "boolean", "text", "region"]
Target = Literal["case", "prediction"]
CODED: frozenset[str] = frozenset({"choice", "ordinal"})


class FormError(InvalidRequest):
    """A form, or answers to one, that break its rules: each detail names an item and a rule."""


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: Code
    label: Label


class When(BaseModel):
    """The item applies only when ``item`` (a coded item of the same target) is ``equals``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    item: ItemId
    equals: Code


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    id: ItemId
    label: Label
    kind: Kind
    target: Target = Field("case", alias="for")
    core: bool = False
    help: Annotated[str, Field(max_length=1000)] = ""
    options: Annotated[tuple[Option, ...], Field(max_length=MAX_OPTIONS)] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: Annotated[int, Field(ge=1, le=MAX_TEXT)] = 1000
    when: When | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Item:
        if self.kind in CODED:
            if len(self.options) < 2:
                raise ValueError(f"{self.id}: a {self.kind} item needs at least two options")
            codes = [o.code for o in self.options]
            if len(set(codes)) != len(codes):
                raise ValueError(f"{self.id}: its options' codes repeat")
        elif self.options:
            raise ValueError(f"{self.id}: only choice and ordinal items have options")
        if self.kind == "integer":
            if self.minimum is None or self.maximum is None or self.minimum > self.maximum:
                raise ValueError(f"{self.id}: an integer item needs minimum <= maximum")
        elif self.minimum is not None or self.maximum is not None:
            raise ValueError(f"{self.id}: only integer items have a minimum and maximum")
        return self

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(o.code for o in self.options)


class Form(BaseModel):
    """One version of a study form."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    form_id: ItemId
    version: Annotated[int, Field(ge=1, le=10_000)]
    title: Label
    items: Annotated[tuple[Item, ...], Field(min_length=1, max_length=MAX_ITEMS)]

    @model_validator(mode="after")
    def _items_agree(self) -> Form:
        ids = [i.id for i in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError("two items have the same id")
        by_id = {i.id: i for i in self.items}
        for item in self.items:
            if item.when is None:
                continue
            other = by_id.get(item.when.item)
            if other is None or other.kind not in CODED or other.target != item.target:
                raise ValueError(f"{item.id}: 'when' must name a coded item of the same target")
            if item.when.equals not in other.codes:
                raise ValueError(f"{item.id}: 'when' names a code its item does not have")
            if other.when is not None:
                raise ValueError(f"{item.id}: 'when' may not depend on a conditional item")
        return self

    def items_for(self, target: Target) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.target == target)

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the canonical JSON: what a study pins and an approval names."""
        canonical = json.dumps(
            self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def json_schema(self, target: Target = "case", *, complete: bool = True) -> dict[str, Any]:
        """The JSON Schema (Draft 2020-12) of one read's answers for ``target``; with
        ``complete`` false (a draft, autosaved) the core items may still be missing."""
        return _schema(self, target, complete)


def _item_schema(item: Item) -> dict[str, Any]:
    base: dict[str, Any] = {"title": item.label}
    if item.kind in CODED:
        base["enum"] = list(item.codes)
    elif item.kind == "integer":
        base |= {"type": "integer", "minimum": item.minimum, "maximum": item.maximum}
    elif item.kind == "boolean":
        base["type"] = "boolean"
    elif item.kind == "text":
        base |= {"type": "string", "maxLength": item.max_length}
    else:  # region: a closed polygon, [x, y] vertices in level-0 pixels
        vertex = {
            "type": "array",
            "prefixItems": [{"type": "number", "minimum": 0, "maximum": MAX_SLIDE_SIDE}] * 2,
            "minItems": 2,
            "maxItems": 2,
        }
        base |= {"type": "array", "items": vertex, "minItems": 3, "maxItems": MAX_VERTICES}
    return base


def _schema(form: Form, target: Target, complete: bool) -> dict[str, Any]:
    items = form.items_for(target)
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:fivesafes:form:{form.form_id}:{form.version}:{target}",
        "title": form.title,
        "type": "object",
        "properties": {i.id: _item_schema(i) for i in items},
        "additionalProperties": False,
    }
    if complete:
        schema["required"] = [i.id for i in items if i.core and i.when is None]
    rules = []
    for item in items:
        if item.when is None:
            continue
        condition = {
            "properties": {item.when.item: {"const": item.when.equals}},
            "required": [item.when.item],
        }
        then: dict[str, Any] = {"required": [item.id]} if complete and item.core else {}
        rules.append({"if": condition, "then": then, "else": {"not": {"required": [item.id]}}})
    if rules:
        schema["allOf"] = rules
    return schema


_PROBLEMS = {
    "enum": "is not one of the item's codes",
    "const": "is not one of the item's codes",
    "type": "has the wrong type of answer",
    "minimum": "is below the item's minimum",
    "maximum": "is above the item's maximum",
    "maxLength": "is longer than the item allows",
    "minItems": "has too few points",
    "maxItems": "has too many points",
    "prefixItems": "has a point that is not two coordinates",
    "additionalProperties": "is not an item of this form",
    "required": "is a core item and must be answered",
    "not": "applies only when another answer has a given code",
}


def _detail(error: SchemaError, target: Target) -> ErrorDetail:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.validator_value, list):
        present = error.instance if isinstance(error.instance, Mapping) else {}
        missing = [k for k in error.validator_value if k not in present]
        field = missing[0] if missing else "answers"
        return ErrorDetail(field=_field(target, [*path, field]), problem=_PROBLEMS["required"])
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        allowed = set(schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        # an unknown key is the reader's typing, not patient data, but keep it short
        field = extra[0][:40] if extra else "answers"
        return ErrorDetail(field=_field(target, [*path, field]), problem=_PROBLEMS[error.validator])
    if error.validator == "not" and error.validator_value == {"required": []}:
        return ErrorDetail(field=_field(target, path), problem=_PROBLEMS["not"])
    problem = _PROBLEMS.get(str(error.validator), "does not follow the form")
    if error.validator == "not":
        value = error.validator_value if isinstance(error.validator_value, Mapping) else {}
        required = value.get("required", ["answers"])
        return ErrorDetail(field=_field(target, [*path, required[0]]), problem=problem)
    return ErrorDetail(field=_field(target, path), problem=problem)


def _field(target: Target, path: list[str]) -> str:
    prefix = "" if target == "case" else "prediction."
    return prefix + (".".join(path[:2]) if path else "answers")


def check_answers(
    form: Form, answers: Any, *, target: Target = "case", complete: bool
) -> dict[str, Any]:
    """``answers`` if they follow ``form`` (all core items when ``complete``); otherwise a
    :class:`FormError` listing each item and the rule it broke (never the value)."""
    if not isinstance(answers, dict):
        raise FormError("The answers must be a JSON object of item ids and answers.")
    size = len(json.dumps(answers, separators=(",", ":"), default=str).encode())
    if size > MAX_ANSWER_BYTES:
        raise FormError(f"The answers are larger than {MAX_ANSWER_BYTES // 1024} KiB.")
    validator = Draft202012Validator(form.json_schema(target, complete=complete))
    errors = sorted(validator.iter_errors(answers), key=lambda e: list(e.absolute_path))
    if errors:
        details = list({d.field: d for d in (_detail(e, target) for e in errors)}.values())
        raise FormError("The answers do not follow the study's form.", details[:20])
    return answers


def check_region(
    polygon: list[list[float]], width: int, height: int, *, field: str = "region"
) -> None:
    """A drawn region must lie on its slide (level-0 pixels)."""
    if any(not (0 <= x <= width and 0 <= y <= height) for x, y in polygon):
        raise FormError(
            "A region was drawn outside its slide.",
            [ErrorDetail(field=field, problem="has a point outside the slide")],
        )


def read_form(text: str | bytes) -> Form:
    """A form from its JSON (as a study team writes it), checked and bounded."""
    if len(text) > MAX_ANSWER_BYTES:
        raise FormError(f"A form is at most {MAX_ANSWER_BYTES // 1024} KiB of JSON.")
    try:
        data = bounded_json.loads(text, max_depth=12)
    except ValueError:
        raise FormError("The form is not valid JSON, or is nested too deeply.") from None
    try:
        return Form.model_validate(data)
    except ValidationError as exc:
        details = [
            ErrorDetail(
                field=".".join(str(p) for p in e["loc"][:4]) or "form",
                problem=_plain(e["msg"]),
            )
            for e in exc.errors(include_input=False)[:20]
        ]
        raise FormError("The form does not follow the rules of study forms.", details) from None


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ")[:200]


def shipped_form(name: str = "lung_biopsy") -> Form:
    """A form shipped with the platform (``forms/{name}.json``): the example study's."""
    text = resources.files("fivesafes.pathology.study").joinpath(f"forms/{name}.json").read_text()
    return read_form(text)
