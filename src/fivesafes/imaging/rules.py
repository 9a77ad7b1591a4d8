"""The mapping rules: free text in DICOM headers (BodyPartExamined, StudyDescription,
SeriesDescription, ProtocolName, ContrastBolusAgent, ContrastBolusRoute) to a controlled
vocabulary, a body part (``CHEST``, ``HEAD``, …) and contrast (``yes``, ``no``, ``unknown``).

The rules live in a versioned TOML file: the one shipped beside this module (``rules.toml``),
or an operator's own. Its format, and how a value is decided, are written at the top of the
shipped file and in docs/imaging.md. Each decision names the rule and the field that made it
(``chest@BodyPartExamined``), so a value in the index can always be explained.

Loading a rules file checks it whole (every rule's value in the vocabulary, every pattern a
regular expression, ids unique) and raises :class:`RulesError` in words naming the place.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from fivesafes.protocol.errors import ConfigError

FIELDS = (
    "BodyPartExamined",
    "StudyDescription",
    "SeriesDescription",
    "ProtocolName",
    "ContrastBolusAgent",
    "ContrastBolusRoute",
)
"""The header fields a rule may read (DICOM keywords)."""

Contrast = Literal["yes", "no", "unknown"]
CONTRAST_VALUES = ("yes", "no")
SHIPPED = "rules.toml"
MAX_PATTERN = 500
_SPACES = re.compile(r"\s+")


class RulesError(ConfigError):
    """A rules file that cannot be used, said in words."""


def normal(text: str | None) -> str:
    """The form every rule is compared with: NFKC, upper case, ``_`` and ``^`` as spaces,
    runs of spaces as one, none at either end ("" for no text)."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", text).upper().replace("_", " ").replace("^", " ")
    return _SPACES.sub(" ", folded).strip()


@dataclass(frozen=True)
class Rule:
    id: str
    value: str
    fields: frozenset[str]
    patterns: re.Pattern[str]  # the rule's patterns as one alternation

    def matches(self, text: str) -> bool:
        return self.patterns.search(text) is not None


@dataclass(frozen=True)
class Decision:
    """A decided value and what decided it: ``rule@Field`` (None when nothing did)."""

    value: str | None
    rule: str | None
    field: str | None = None


@dataclass(frozen=True)
class Section:
    """One thing to decide (the body part, or contrast): fields in order, texts that say
    nothing, and the rules in file order."""

    fields: tuple[str, ...]
    ignore: re.Pattern[str] | None
    rules: tuple[Rule, ...]

    def decide(self, texts: Mapping[str, str | None]) -> Decision:
        """The first field (in order) whose normal text a rule matches, and that rule."""
        for field in self.fields:
            text = normal(texts.get(field))
            if not text or (self.ignore is not None and self.ignore.search(text)):
                continue
            for rule in self.rules:
                if field in rule.fields and rule.matches(text):
                    return Decision(rule.value, f"{rule.id}@{field}", field)
        return Decision(None, None)

    def considered(self, texts: Mapping[str, str | None]) -> list[tuple[str, str]]:
        """The (field, normal text) pairs :meth:`decide` looked at and no rule matched: what
        an operator would add a rule for."""
        return [
            (field, text)
            for field in self.fields
            if (text := normal(texts.get(field)))
            and not (self.ignore is not None and self.ignore.search(text))
        ]


@dataclass(frozen=True)
class Rules:
    """A loaded rules file."""

    name: str
    version: str
    sha256: str  # of the file's bytes: which rules exactly
    vocabulary: Mapping[str, tuple[str, ...]]  # body part term -> the terms it includes
    body_part: Section
    contrast: Section

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    def classify(self, texts: Mapping[str, str | None]) -> tuple[Decision, Decision]:
        """The body part and contrast of one image's texts (contrast ``unknown`` when no rule
        decides)."""
        contrast = self.contrast.decide(texts)
        if contrast.value is None:
            contrast = Decision("unknown", None)
        return self.body_part.decide(texts), contrast

    def includes(self, term: str) -> frozenset[str]:
        """``term`` and every term whose region includes it (CHEST: CHEST, CHESTABDOMEN,
        CHESTABDPELVIS): what a query for ``term`` should find."""
        return frozenset({term} | {t for t, parts in self.vocabulary.items() if term in parts})


def load_rules(path: Path | None = None) -> Rules:
    """The rules in ``path``, or the shipped ones; :class:`RulesError` in words if unusable."""
    if path is None:
        data = resources.files("fivesafes.imaging").joinpath(SHIPPED).read_bytes()
        where = f"the shipped rules ({SHIPPED})"
    else:
        where = str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RulesError(
                f"Cannot read the rules file {where} ({type(exc).__name__})."
            ) from None
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"The rules file {where} is not TOML: {exc}") from None
    return parse_rules(raw, sha256=hashlib.sha256(data).hexdigest(), where=where)


def parse_rules(raw: Mapping[str, Any], *, sha256: str = "", where: str = "rules") -> Rules:
    """Rules from a parsed TOML document (see the shipped ``rules.toml``)."""

    def fail(message: str) -> RulesError:
        return RulesError(f"The rules file {where}: {message}.")

    name, version = raw.get("name"), raw.get("version")
    if not isinstance(name, str) or not name or not isinstance(version, str) or not version:
        raise fail("`name` and `version` must be given, as text")
    extra = set(raw) - {"name", "version", "body_part", "contrast"}
    if extra:
        raise fail(f"unknown keys {', '.join(sorted(extra))}")
    body = _table(raw, "body_part", fail)
    vocabulary_raw = _table(body, "vocabulary", fail, where="body_part.vocabulary")
    vocabulary: dict[str, tuple[str, ...]] = {}
    for term, parts in vocabulary_raw.items():
        if not isinstance(parts, list) or not all(p in vocabulary_raw for p in parts):
            raise fail(f"body_part.vocabulary.{term} must list terms of the vocabulary")
        vocabulary[term] = tuple(parts)
    body_part = _section(body, "body_part", set(vocabulary), fail)
    contrast = _section(_table(raw, "contrast", fail), "contrast", set(CONTRAST_VALUES), fail)
    return Rules(name, version, sha256, vocabulary, body_part, contrast)


def _table(raw: Mapping[str, Any], key: str, fail: Any, where: str | None = None) -> Any:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise fail(f"[{where or key}] is missing or not a table")
    return value


def _compile(patterns: Any, place: str, fail: Any) -> re.Pattern[str]:
    if not isinstance(patterns, list) or not patterns:
        raise fail(f"{place} must be a list of patterns")
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN:
            raise fail(f"{place} holds a pattern that is not 1 to {MAX_PATTERN} characters")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise fail(f"{place}: {pattern!r} is not a regular expression ({exc})") from None
    return re.compile("|".join(f"(?:{p})" for p in patterns))


def _section(raw: Mapping[str, Any], name: str, values: set[str], fail: Any) -> Section:
    extra = set(raw) - {"fields", "ignore", "rules", "vocabulary"}
    if extra:
        raise fail(f"[{name}] has unknown keys {', '.join(sorted(extra))}")
    fields = raw.get("fields")
    if not isinstance(fields, list) or not fields or not set(fields) <= set(FIELDS):
        raise fail(f"{name}.fields must list header fields among {', '.join(FIELDS)}")
    ignore = raw.get("ignore", [])
    rules: list[Rule] = []
    for number, rule in enumerate(raw.get("rules", []), start=1):
        place = f"{name}.rules {number}"
        if not isinstance(rule, dict) or set(rule) - {"id", "value", "fields", "match"}:
            raise fail(f"{place} must have id, value, match and optionally fields")
        rule_id, value = rule.get("id"), rule.get("value")
        if not isinstance(rule_id, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", rule_id):
            raise fail(f"{place}: id must be lower case letters, digits and hyphens")
        if any(r.id == rule_id for r in rules):
            raise fail(f"{place}: id {rule_id!r} is used twice")
        if value not in values:
            raise fail(f"{place} ({rule_id}): value must be one of {', '.join(sorted(values))}")
        own = rule.get("fields", fields)
        if not isinstance(own, list) or not set(own) <= set(fields):
            raise fail(f"{place} ({rule_id}): fields must be among {name}.fields")
        patterns = _compile(rule.get("match"), f"{place} ({rule_id}).match", fail)
        rules.append(Rule(rule_id, value, frozenset(own), patterns))
    if not rules:
        raise fail(f"{name} has no rules")
    return Section(
        tuple(fields), _compile(ignore, f"{name}.ignore", fail) if ignore else None, tuple(rules)
    )
