"""Rejection: the images never de-identified at all, decided from the header before anything is
copied, by rules an operator can read and edit (SMI's rejectors, as data).

The rules live in a TOML file: the one shipped beside this module (``rejectors.toml``, whose
top says how a rejector decides and why each shipped one is there), or an operator's own.
Loading checks it whole and raises :class:`RejectorsError` (a ``ConfigError``) in words naming
the line and what is wrong. The file is operator input, so it is bounded: at most
:data:`MAX_BYTES` bytes, :data:`MAX_REJECTORS` rejectors, :data:`MAX_PATTERNS` patterns of
:data:`MAX_PATTERN` characters each.

A rejection says why in a code and in words of the file's own (``said``); neither quotes a value
of the image's header.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from fivesafes.protocol.errors import ConfigError

SHIPPED = "rejectors.toml"
MAX_BYTES = 65_536
MAX_REJECTORS = 200
MAX_PATTERNS = 50
MAX_PATTERN = 500
MAX_SAID = 500
LIFTED_BY = ("pixel_cleaning", "cleanable_pixels")
_KEYS = {"reason", "said", "field", "match", "unless", "values", "missing", "images_only"}
_KEYS |= {"lifted_by"}
_REASON = re.compile(r"[a-z][a-z0-9_]{0,62}")
_IMAGE_TAGS = (0x00280010, 0x7FE00010, 0x7FE00008, 0x7FE00009)  # Rows, the Pixel Data kinds
UNREADABLE = "unreadable_header"


class RejectorsError(ConfigError):
    """A rejectors file that cannot be used, said in words."""


@dataclass(frozen=True)
class Rejection:
    reason: str  # the code, e.g. "not_original_primary"
    said: str  # in words, no values from the file


@dataclass(frozen=True)
class Rejector:
    reason: str
    said: str
    field: str  # a DICOM keyword
    patterns: tuple[re.Pattern[str], ...]
    rejects_on_match: bool  # True for ``match``, False for ``unless``
    values: int | None  # only the first N values
    missing_rejects: bool
    images_only: bool
    lifted_by: Literal["pixel_cleaning", "cleanable_pixels"] | None

    def rejects(self, dataset: Dataset) -> bool:
        """Whether this rule alone rejects ``dataset`` (before any lifting)."""
        if self.images_only and not any(tag in dataset for tag in _IMAGE_TAGS):
            return False
        text = _text(dataset.get(self.field), self.values)
        if not text:
            return self.missing_rejects
        found = any(pattern.search(text) is not None for pattern in self.patterns)
        return found == self.rejects_on_match


@dataclass(frozen=True)
class Rejectors:
    """A loaded rejectors file."""

    name: str
    version: str
    sha256: str  # of the file's bytes
    rules: tuple[Rejector, ...]

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


def rejection(
    dataset: Dataset,
    rejectors: Rejectors,
    *,
    clean_pixel_data: bool,
    cleanable: Callable[[Dataset], bool],
) -> Rejection | None:
    """Why ``dataset`` must not be de-identified (the first rejector, in file order, that
    rejects it and is not lifted), or None. ``cleanable`` says whether the engine's pixel
    region rules cover this image; it is asked only when pixel cleaning is on. A header whose
    element cannot be read is rejected (``unreadable_header``)."""
    for rule in rejectors.rules:
        try:
            rejects = rule.rejects(dataset)
        except Exception:  # noqa: BLE001 - a value pydicom cannot read: fail closed
            return Rejection(UNREADABLE, "An element the rejectors read could not be read.")
        if not rejects:
            continue
        if rule.lifted_by == "pixel_cleaning" and clean_pixel_data:
            continue
        if rule.lifted_by == "cleanable_pixels" and clean_pixel_data and cleanable(dataset):
            continue
        return Rejection(rule.reason, rule.said)
    return None


def _text(value: Any, first: int | None) -> str:
    if value is None:
        return ""
    values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    texts = [str(one).strip() for one in values if one is not None]
    return "\\".join(texts[:first] if first else texts).strip("\\")


def load_rejectors(path: Path | None = None) -> Rejectors:
    """The rejectors in ``path``, or the shipped ones; :class:`RejectorsError` in words if
    the file cannot be used."""
    if path is None:
        data = resources.files("fivesafes.imaging.deid").joinpath(SHIPPED).read_bytes()
        where = f"the shipped rejectors ({SHIPPED})"
    else:
        where = f"the rejectors file {path}"
        try:
            size = path.stat().st_size
            if size > MAX_BYTES:
                raise RejectorsError(f"In {where}: it is {size} bytes, over {MAX_BYTES}.")
            data = path.read_bytes()
        except OSError as exc:
            raise RejectorsError(f"Cannot read {where} ({type(exc).__name__}).") from None
    if len(data) > MAX_BYTES:
        raise RejectorsError(f"In {where}: it is {len(data)} bytes, over {MAX_BYTES}.")
    try:
        text = data.decode("utf-8")
        raw = tomllib.loads(text)
    except UnicodeDecodeError:
        raise RejectorsError(f"In {where}: it is not UTF-8 text.") from None
    except tomllib.TOMLDecodeError as exc:
        raise RejectorsError(f"In {where}: it is not TOML: {exc}.") from None
    except RecursionError:
        raise RejectorsError(f"In {where}: it nests too deeply.") from None
    return parse_rejectors(raw, text=text, sha256=hashlib.sha256(data).hexdigest(), where=where)


def parse_rejectors(
    raw: Mapping[str, Any], *, text: str = "", sha256: str = "", where: str = "rejectors"
) -> Rejectors:
    """Rejectors from a parsed TOML document (``text``, its source, gives the line numbers of
    what is wrong)."""
    headers = [n for n, line in enumerate(text.splitlines(), 1) if _HEADER.match(line)]

    def fail(message: str, number: int | None = None, key: str | None = None) -> RejectorsError:
        line = _line(text, key) if number is None else _nth(headers, number)
        place = f" (line {line})" if line else ""
        return RejectorsError(f"In {where}{place}: {message}.")

    name, version = raw.get("name"), raw.get("version")
    if not isinstance(name, str) or not name or len(name) > 100:
        raise fail("`name` must be given, as text of 1 to 100 characters", key="name")
    if not isinstance(version, str) or not version or len(version) > 100:
        raise fail("`version` must be given, as text of 1 to 100 characters", key="version")
    for key in sorted(set(raw) - {"name", "version", "rejector"}):
        raise fail(f"`{key}` is not a setting of a rejectors file", key=key)
    listed = raw.get("rejector", [])
    if not isinstance(listed, list) or not listed:
        raise fail("there must be at least one [[rejector]]", key="rejector")
    if len(listed) > MAX_REJECTORS:
        raise fail(f"there are {len(listed)} rejectors, over {MAX_REJECTORS}")
    rules = tuple(_rejector(entry, number, fail) for number, entry in enumerate(listed, 1))
    return Rejectors(name, version, sha256, rules)


_HEADER = re.compile(r"\s*\[\[\s*rejector\s*\]\]")


def _nth(headers: list[int], number: int) -> int | None:
    return headers[number - 1] if number <= len(headers) else None


def _line(text: str, key: str | None) -> int | None:
    if key is None:
        return None
    pattern = re.compile(rf"\s*(\[+\s*)?{re.escape(key)}\b")
    return next((n for n, line in enumerate(text.splitlines(), 1) if pattern.match(line)), None)


def _rejector(entry: Any, number: int, fail: Callable[..., RejectorsError]) -> Rejector:
    def bad(message: str) -> RejectorsError:
        return fail(f"rejector {number}: {message}", number)

    if not isinstance(entry, dict):
        raise bad("it must be a table")
    for key in sorted(set(entry) - _KEYS):
        raise bad(f"`{key}` is not a setting of a rejector")
    reason, said, field = entry.get("reason"), entry.get("said"), entry.get("field")
    if not isinstance(reason, str) or not _REASON.fullmatch(reason):
        raise bad("`reason` must be a code of lower case letters, digits and _")
    if not isinstance(said, str) or not said.strip() or len(said) > MAX_SAID:
        raise bad(f"`said` must be words of 1 to {MAX_SAID} characters")
    if not isinstance(field, str) or tag_for_keyword(field) is None:
        raise bad("`field` must be the keyword of a DICOM element (ImageType, Modality…)")
    if ("match" in entry) == ("unless" in entry):
        raise bad("it must have one of `match` and `unless`")
    kind = "match" if "match" in entry else "unless"
    values = entry.get("values")
    if values is not None and (not isinstance(values, int) or isinstance(values, bool)):
        raise bad("`values` must be a whole number")
    if values is not None and not 1 <= values <= 100:
        raise bad("`values` must be from 1 to 100")
    missing = entry.get("missing", "pass")
    if missing not in ("pass", "reject"):
        raise bad('`missing` must be "pass" or "reject"')
    images_only = entry.get("images_only", False)
    if not isinstance(images_only, bool):
        raise bad("`images_only` must be true or false")
    lifted_by = entry.get("lifted_by")
    if lifted_by is not None and lifted_by not in LIFTED_BY:
        raise bad(f"`lifted_by` must be one of {', '.join(LIFTED_BY)}")
    return Rejector(
        reason=reason,
        said=said.strip(),
        field=field,
        patterns=_compile(entry[kind], kind, bad),
        rejects_on_match=kind == "match",
        values=values,
        missing_rejects=missing == "reject",
        images_only=images_only,
        lifted_by=lifted_by,
    )


def _compile(
    patterns: Any, kind: str, bad: Callable[[str], RejectorsError]
) -> tuple[re.Pattern[str], ...]:
    if not isinstance(patterns, list) or not 1 <= len(patterns) <= MAX_PATTERNS:
        raise bad(f"`{kind}` must be a list of 1 to {MAX_PATTERNS} patterns")
    compiled = []
    for number, pattern in enumerate(patterns, 1):
        if not isinstance(pattern, str) or not 1 <= len(pattern) <= MAX_PATTERN:
            raise bad(f"`{kind}` pattern {number} must be text of 1 to {MAX_PATTERN} characters")
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise bad(f"`{kind}` pattern {number} is not a regular expression ({exc})") from None
    return tuple(compiled)
