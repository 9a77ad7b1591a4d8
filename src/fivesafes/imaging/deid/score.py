"""Scoring a de-identification tool's output against an answer key
(:mod:`fivesafes.imaging.deid.phi_key`), in the manner of the MIDI-B challenge: one check per
required action, the score the share of checks passed, overall and per kind of check.

An output file is matched to its original by its path relative to the output folder, the same
as the original's relative to the archive: a tool writes one output per input at the same
relative path (the benchmark's adapters do), so nothing in the output, its UIDs least of all,
has to be trusted to find it. The checks, as the key's kinds say:

- ``removed``: none of the check's needles (the planted value's normalised words) appears in
  any element of the output file at any depth: sequences, private elements, SR text, file meta
  (pixel data excluded; a digit needle must not touch another digit). When the value was an
  element's whole value, that element must also be absent, empty, or different (a dummy);
- ``retained``: the element is present with the original value (numbers compared as numbers);
- ``date_shifted``: the output date is a valid date other than the original; the shift is the
  one more than half of that person's dates have, and it is seen on at least two different
  original dates of the person when the person has more than one (so the intervals between
  studies are kept: one dummy date for everything fails);
- ``uid_changed_consistent``: a valid UID (digits and dots, no leading zeros, at most 64
  characters) other than the original; the new UID that more than half of the occurrences of
  its original (references included) became, and no other original's;
- ``patient_id_consistent``: a non-empty PatientID other than the original, the one more than
  half of the person's files have, and no other person's;
- ``pixels_hidden``: at least 95% of the text's pixels in the rectangle no longer hold their
  original values and at least 90% of them hold one value (blanked, not blurred or noised);
- ``pixels_retained``: the pixel values equal the original's.

A file the tool did not release (no output at its path) leaks nothing: its ``removed`` and
``pixels_hidden`` checks pass. It keeps nothing either: every other check of it fails, so a
tool that refuses what it cannot clean pays for it in the checks of what must stay. A file
released but unreadable fails every check but ``removed``, which is judged on its bytes: a
needle found anywhere in them fails it.

"PHI left" counts the planted values (the checks with needles, PatientID's original included)
found in the output; the tool's output is PHI-free when it is 0. The score says where and how
often a check failed, by element path and the value's role, and never the values themselves.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from fivesafes.imaging.deid.phi_key import (
    DATE_SHIFTED,
    HIDDEN,
    KINDS,
    PATIENT_ID,
    PIXELS_KEPT,
    REMOVED,
    RETAINED,
    UID_CHANGED,
    AnswerKey,
    Check,
    FileKey,
    load_key,
    normalise,
)

HIDDEN_CHANGED = 0.95  # share of the text's pixels that must have changed
HIDDEN_UNIFORM = 0.90  # share of them that must hold one value
_BULK = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
_STEP = re.compile(r"\(([0-9A-F]{4}),([0-9A-F]{4})\)(?:\[(\d+)\])?", re.IGNORECASE)
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_ITEM = re.compile(r"\[\d+\]")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")


@dataclass
class Tally:
    passed: int = 0
    total: int = 0

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 1.0


@dataclass
class Score:
    """A tool's output judged against the key: counts only, never a planted value."""

    kinds: dict[str, Tally] = field(default_factory=lambda: {k: Tally() for k in KINDS})
    files: int = 0
    released: int = 0
    absent: int = 0
    unreadable: int = 0
    phi_values: int = 0  # planted PHI values (checks with needles)
    phi_left: int = 0  # of them, found in an output file
    files_with_phi: int = 0
    private_kept: int = 0  # released files still holding a private element
    burned_in: Counter[str] = field(default_factory=Counter)  # files, absent, hidden, flag_yes
    failures: Counter[str] = field(default_factory=Counter)  # "kind role path: reason"

    @property
    def passed(self) -> int:
        return sum(t.passed for t in self.kinds.values())

    @property
    def total(self) -> int:
        return sum(t.total for t in self.kinds.values())

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 1.0

    @property
    def phi_free(self) -> bool:
        return self.phi_left == 0

    def lines(self, failures: int = 10) -> list[str]:
        """The score in words: overall, per kind, PHI left, the commonest failures."""
        out = [
            f"score {self.rate:.1%} ({self.passed:,} of {self.total:,} checks); "
            f"{self.released:,} of {self.files:,} files released, {self.unreadable} unreadable",
            *(f"  {k}: {t.rate:.1%} ({t.passed:,}/{t.total:,})" for k, t in self.kinds.items()),
            f"PHI left: {self.phi_left:,} of {self.phi_values:,} planted values, in "
            f"{self.files_with_phi:,} files",
        ]
        out += [f"  {n:,} x {what}" for what, n in self.failures.most_common(failures)]
        return out


@dataclass
class _Seen:
    """A consistency check's output value, judged once all files are read."""

    check: Check
    person: str
    new: str | None


def score(original_dir: Path, output_dir: Path, key: AnswerKey | Path) -> Score:
    """Judge the files under ``output_dir`` against ``key`` and the originals under
    ``original_dir`` (the key's ``archive/``)."""
    if isinstance(key, Path):
        key = load_key(key)
    result, seen = Score(), defaultdict[str, list[_Seen]](list)
    for file_key in key.files:
        _score_file(original_dir, output_dir, file_key, result, seen)
    _dates(seen[DATE_SHIFTED], result)
    _uids(seen[UID_CHANGED], result)
    _patient_ids(seen[PATIENT_ID], result)
    return result


def _score_file(
    original_dir: Path, output_dir: Path, fk: FileKey, result: Score, seen: dict[str, list[_Seen]]
) -> None:
    result.files += 1
    path = output_dir / fk.file
    out: Dataset | None = None
    text = ""
    if path.is_file():
        result.released += 1
        try:
            out = pydicom.dcmread(path, force=True)
            text = "|".join(_texts(out))
        except Exception:  # noqa: BLE001 - any unreadable output is judged on its bytes
            result.unreadable += 1
            text = normalise(path.read_bytes().decode("latin-1"))
    else:
        result.absent += 1
    released = path.is_file()
    original: Dataset | None = None
    found = 0
    for check in fk.checks:
        leaked = released and any(_pattern(n).search(text) for n in check.needles)
        if check.needles:
            result.phi_values += 1
            found += leaked
        if check.kind in (DATE_SHIFTED, UID_CHANGED, PATIENT_ID):
            new = _value(out, check.path) if out is not None else None
            seen[check.kind].append(_Seen(check, fk.person, new))
            continue
        if check.kind == REMOVED:
            reason = _where(out, check) if leaked else _still_there(out, check)
        elif out is None:
            reason = None if check.kind == HIDDEN and not released else "not released or unreadable"
        elif check.kind == RETAINED:
            reason = _retained(out, check)
        else:
            if original is None:
                original = pydicom.dcmread(original_dir / fk.file, force=True)
            reason = _pixels_reason(original, out, check)
        _tally(result, check, reason)
        if check.kind == HIDDEN:
            outcome = "absent" if not released else "visible" if reason else "hidden"
            result.burned_in.update(("files", outcome))
    result.phi_left += found
    result.files_with_phi += found > 0
    if out is not None:
        _observe(out, fk, result)


def _tally(result: Score, check: Check, reason: str | None) -> None:
    tally = result.kinds[check.kind]
    tally.total += 1
    if reason is None:
        tally.passed += 1
    else:
        result.failures[f"{check.kind} {check.role} {_ITEM.sub('[*]', check.path)}: {reason}"] += 1


def _observe(out: Dataset, fk: FileKey, result: Score) -> None:
    """What the tool did with burned-in annotation and private elements, from its output."""
    if any(_is_private(e) for e in _walk(out)):
        result.private_kept += 1
    if any(c.kind == HIDDEN for c in fk.checks) and str(out.get("BurnedInAnnotation", "")) == "YES":
        result.burned_in["flag_yes"] += 1


# ---- reading an output ----------------------------------------------------------------------


def _walk(ds: Dataset) -> Iterator[Any]:
    """Every element at every depth: a DataElement, or the raw element (its value bytes) when
    pydicom cannot convert the value."""
    for tag in list(ds.keys()):
        try:
            elem: Any = ds[tag]
        except Exception:  # noqa: BLE001 - a value pydicom cannot convert: its raw bytes
            yield ds.get_item(tag)
            continue
        yield elem
        if elem.VR == "SQ":
            for item in elem.value or ():
                yield from _walk(item)


def _texts(ds: Dataset) -> Iterator[str]:
    """Every element's value at every depth, file meta included, pixel data not, normalised."""
    meta = getattr(ds, "file_meta", None)
    for elem in [*(_walk(meta) if meta is not None else ()), *_walk(ds)]:
        if elem.tag in _BULK or elem.VR == "SQ":
            continue
        yield normalise(_text(elem.value))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        return "\\".join(_text(v) for v in value)
    return str(value)


def _is_private(elem: Any) -> bool:
    return bool(elem.tag.group % 2)


def element_at(ds: Dataset, path: str) -> DataElement | None:
    """The element at a key's path (``(0040,0275)[0].(0032,1032)``), or None."""
    current, elem = ds, None
    for step in path.split("."):
        match = _STEP.fullmatch(step)
        if match is None:
            raise ValueError(f"{path!r} is not an element path of an answer key")
        tag = int(match[1] + match[2], 16)
        if tag >> 16 == 2:
            current = getattr(current, "file_meta", Dataset())
        if tag not in current:
            return None
        elem = current[tag]
        if match[3] is not None:
            items = elem.value if elem.VR == "SQ" else None
            if not items or int(match[3]) >= len(items):
                return None
            current = items[int(match[3])]
    return elem


def _value(ds: Dataset, path: str) -> str | None:
    elem = element_at(ds, path)
    if elem is None or _empty(elem):
        return None
    return _text(elem.value).strip()


def _empty(elem: DataElement) -> bool:
    return elem.value is None or _text(elem.value).strip(" \0\\") == ""


def _canon(value: Any) -> Any:
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        return [_canon(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = _text(value).strip(" \0")
    return float(text) if _NUMBER.fullmatch(text) else text


@cache
def _pattern(needle: str) -> re.Pattern[str]:
    left = r"(?<![0-9])" if needle[:1].isdigit() else ""
    right = r"(?![0-9])" if needle[-1:].isdigit() else ""
    return re.compile(left + re.escape(needle) + right)


# ---- the checks -----------------------------------------------------------------------------


def _still_there(out: Dataset | None, check: Check) -> str | None:
    if out is None or not check.whole:
        return None
    elem = element_at(out, check.path)
    if elem is None or _empty(elem) or _canon(elem.value) != _canon(check.value):
        return None
    return "kept"


def _where(out: Dataset | None, check: Check) -> str:
    """Where a planted value was found: in its own element, or (only) in others."""
    elem = element_at(out, check.path) if out is not None else None
    own = normalise(_text(elem.value)) if elem is not None and elem.VR != "SQ" else ""
    if any(_pattern(n).search(own) for n in check.needles):
        return "planted value left in place"
    return "planted value found in another element"


def _retained(out: Dataset, check: Check) -> str | None:
    elem = element_at(out, check.path)
    if elem is None or _empty(elem):
        return "absent"
    return None if _canon(elem.value) == _canon(check.value) else "changed"


def _pixels(ds: Dataset) -> np.ndarray[Any, Any] | None:
    try:
        return np.asarray(ds.pixel_array)
    except Exception:  # noqa: BLE001 - absent, compressed beyond our decoders, or broken
        return None


def _pixels_reason(original: Dataset, out: Dataset, check: Check) -> str | None:
    if check.kind == HIDDEN and "PixelData" not in out:
        return None  # the image was not released
    after, before = _pixels(out), _pixels(original)
    if after is None or before is None:
        return "pixel data absent or unreadable"
    if after.shape != before.shape:
        return "image size changed"
    if check.kind == PIXELS_KEPT:
        return None if np.array_equal(after, before) else "changed"
    assert check.rect is not None
    x0, y0, x1, y1 = check.rect
    was, now = before[y0:y1, x0:x1], after[y0:y1, x0:x1]
    values, counts = np.unique(was, return_counts=True)
    text = was != values[counts.argmax()]
    if not text.any():
        return None
    changed = float(np.mean(now[text] != was[text]))
    _, held = np.unique(now[text], return_counts=True)
    uniform = held.max() / text.sum()
    if changed >= HIDDEN_CHANGED and uniform >= HIDDEN_UNIFORM:
        return None
    return "text still visible" if changed < HIDDEN_CHANGED else "text changed but not blanked"


def _majority(counts: Counter[Any]) -> Any:
    """The value most occurrences hold, if more than half hold it; else None (no consensus:
    every occurrence is inconsistent)."""
    value, n = counts.most_common(1)[0]
    return value if 2 * n > sum(counts.values()) else None


def _as_date(text: str) -> date | None:
    try:
        return datetime.strptime(text[:8], "%Y%m%d").date() if len(text) >= 8 else None
    except ValueError:
        return None


def _dates(seen: list[_Seen], result: Score) -> None:
    shifts: dict[str, Counter[int]] = defaultdict(Counter)
    originals: dict[str, set[str]] = defaultdict(set)
    on: dict[tuple[str, int], set[str]] = defaultdict(set)
    judged: list[tuple[_Seen, int | str]] = []
    for s in seen:
        old = str(s.check.value)
        originals[s.person].add(old)
        new = _as_date(s.new) if s.new else None
        if s.new is None:
            judged.append((s, "absent"))
        elif new is None or (before := _as_date(old)) is None:
            judged.append((s, "not a date"))
        elif (shift := (new - before).days) == 0:
            judged.append((s, "unchanged"))
        else:
            shifts[s.person][shift] += 1
            on[s.person, shift].add(old)
            judged.append((s, shift))
    for s, outcome in judged:
        reason = outcome if isinstance(outcome, str) else None
        if reason is None:
            mode = _majority(shifts[s.person])
            if outcome != mode:
                reason = "shift differs from the person's"
            elif len(originals[s.person]) > 1 and len(on[s.person, mode]) < 2:
                reason = "intervals not kept"
        _tally(result, s.check, reason)


def _uids(seen: list[_Seen], result: Score) -> None:
    news: dict[str, Counter[str]] = defaultdict(Counter)
    for s in seen:
        if s.new:
            news[str(s.check.value)][s.new] += 1
    mode = {old: _majority(c) for old, c in news.items()}
    owners = Counter(v for v in mode.values() if v is not None)
    for s in seen:
        old = str(s.check.value)
        if not s.new:
            reason: str | None = "absent"
        elif len(s.new) > 64 or not _UID.fullmatch(s.new):
            reason = "not a valid UID"
        elif s.new == old:
            reason = "unchanged"
        elif s.new != mode[old]:
            reason = "inconsistent"
        elif owners[s.new] > 1:
            reason = "two originals made one"
        else:
            reason = None
        _tally(result, s.check, reason)


def _patient_ids(seen: list[_Seen], result: Score) -> None:
    news: dict[str, Counter[str]] = defaultdict(Counter)
    for s in seen:
        if s.new:
            news[s.person][s.new] += 1
    mode = {person: _majority(c) for person, c in news.items()}
    owners = Counter(v for v in mode.values() if v is not None)
    for s in seen:
        if not s.new:
            reason: str | None = "absent"
        elif normalise(s.new) == normalise(str(s.check.value)):
            reason = "unchanged"
        elif s.new != mode[s.person]:
            reason = "differs between the person's files"
        elif owners[s.new] > 1:
            reason = "shared by two persons"
        else:
            reason = None
        _tally(result, s.check, reason)
