"""Table E.1-1 of DICOM PS3.15, edition 2024b, as the engine applies it: one action per
attribute, for the options a custodian chose.

Where the table comes from. The Basic Profile's column is read at run time, as data, from
dicom-anonymizer 2.1.0 (``dicomanonymizer.dicom_anonymization_databases.dicomfields_2024b``,
BSD licence): lists of (group, element) per action code, and three masks (group, element,
group mask, element mask) for the repeating groups of curves (50xx,xxxx) and overlays
(60xx,3000), (60xx,4000). The options' columns are ours, in ``table_options.toml`` beside
this module. ``tests/unit/test_deid_table.py`` checks both against a second copy of the table.

The action codes are the standard's: X remove, Z empty, D dummy (a value valid for the VR), U a
new UID (the project's keyed one), K keep, C clean. A combined code lets the remover choose,
as long as the object stays valid (PS3.15 E.1.1): X/Z means remove unless the attribute is
Type 2 (then empty), X/D and Z/D remove or empty unless it is Type 1 (then a dummy). The
engine cannot know an attribute's type in every IOD it meets, so it follows one rule: the
last code of the combination, the one that is valid in the strictest case (:data:`RESOLVED`).
Only attributes present are acted on, so this never adds an attribute; it keeps each one,
emptied or dummied, where removing it could make a Type 1 or 2 attribute disappear. X/Z/U*
(Referenced Image Sequence, Source Image Sequence) keeps the sequence and gives the UIDs in
its items new ones.

Options. An option on replaces the Basic Profile's action by its own for the attributes its
column lists. K keeps; C cleans: free text emptied (or a dummy where the Basic Profile's code
says a value is required, "CD"), codes kept (what cleaning does is written in
:mod:`fivesafes.imaging.deid.engine`). Two rules decide where columns meet:

- dates are decided by the dates option alone: an attribute the Rtn. Long. Modif. Dates column
  lists keeps the Basic Profile's action unless that option is on, whatever another option
  says (Retain Device Identity would otherwise keep real calibration dates). With the option,
  a DA or DT is shifted ("S"), a TM kept, and anything else (an OB timestamp) keeps the Basic
  Profile's action, since it cannot be shifted;
- otherwise, where two options on list one attribute, C wins over K.

Beyond the table, kept here so one place says what is removed: whole overlay planes (every
element of an even group 60xx), since an Overlay Plane without its Overlay Data is invalid.
Private attributes (odd groups) are the engine's: removed, or kept from the allow-list
:func:`safe_private` with Retain Safe Private.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword

from fivesafes.imaging.deid.options import EDITION, Options

DATA = "table_options.toml"
BASIC = "dicomanonymizer.dicom_anonymization_databases.dicomfields_2024b"
"""dicom-anonymizer 2.1.0's module of Table E.1-1, 2024b: imported as data, never run as code
of the engine (it holds lists of tags and nothing else)."""
BASIC_LISTS = {
    "X_TAGS": "X",
    "Z_TAGS": "Z",
    "D_TAGS": "D",
    "U_TAGS": "U",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "Z_D_TAGS": "Z/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}
"""dicom-anonymizer's list of each Basic Profile code."""

RESOLVED = {
    "X": "X",
    "Z": "Z",
    "D": "D",
    "U": "U",
    "X/Z": "Z",
    "X/D": "D",
    "Z/D": "D",
    "X/Z/D": "D",
    "X/Z/U*": "U",
}
"""Each code of the Basic Profile and the action the engine takes for it."""

COLUMNS = (  # the options whose columns keep (K) or clean (C) attributes
    "retain_patient_characteristics",
    "retain_device_identity",
    "clean_descriptors",
    "clean_structured_content",
)
DATES = "retain_modified_dates"
OVERLAY_PLANES = (0xFF01, 0x6000, 0x0000, 0x0000, "X")

# What the engine writes, by VR, for a dummy (D) and for cleaning (C).
TEXT = frozenset(("AE", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"))
KEPT = frozenset(("CS", "AT"))
BINARY = {"OB": 2, "OW": 2, "UN": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}  # zero bytes of dummy
DUMMIES: dict[str, Any] = {
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "AS": "000Y",
    "DS": "0",
    "IS": "0",
    **dict.fromkeys(("FL", "FD"), 0.0),
    **dict.fromkeys(("SS", "US", "SL", "UL", "SV", "UV"), 0),
    **{vr: b"\0" * size for vr, size in BINARY.items()},
}
DUMMY_TEXT = "ANONYMOUS"
CODE_MACRO = frozenset(  # a code: kept where free text is cleaned
    tag_for_keyword(k)
    for k in (
        "CodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "CodingSchemeUID",
        "CodeMeaning",
        "LongCodeValue",
        "URNCodeValue",
        "MappingResource",
        "MappingResourceName",
        "MappingResourceUID",
        "ContextIdentifier",
        "ContextUID",
        "ContextGroupExtensionFlag",
        "ContextGroupExtensionCreatorUID",
        "EquivalentCodeSequence",
    )
)

Mask = tuple[int, int, int, int, str]
"""(group mask, group, element mask, element, action): for a tag whose group and element,
masked, equal the values."""


@dataclass(frozen=True)
class SafePrivate:
    """One private attribute the Retain Safe Private option keeps: (group, xx ``element``) in
    the block of ``creator``, with ``vr`` where the file says a VR."""

    creator: str
    group: int
    element: int  # the last two hex digits of the element: (gggg,xxEE)
    vr: str
    name: str
    source: str


@dataclass(frozen=True)
class Table:
    """The action for each attribute the table lists, the options applied; masks for the
    repeating groups; the private attributes that may be kept."""

    options: Options
    actions: Mapping[int, str]  # tag (as an int) -> X Z D U K C CD S
    masks: tuple[Mask, ...]
    safe_private: Mapping[tuple[str, int, int], str]  # (creator, group, element) -> VR

    def masked(self, tag: int) -> str | None:
        """The action of the mask ``tag`` falls under, if any (curves and overlays)."""
        group, element = tag >> 16, tag & 0xFFFF
        for group_mask, group_value, element_mask, element_value, action in self.masks:
            if group & group_mask == group_value and element & element_mask == element_value:
                return action
        return None


@cache
def basic_profile() -> tuple[Mapping[int, str], tuple[Mask, ...]]:
    """The Basic Profile's codes as the standard writes them (``X/Z`` and the like), by tag,
    and the masks of the repeating groups, from dicom-anonymizer's 2024b lists."""
    data = importlib.import_module(BASIC)
    codes: dict[int, str] = {}
    masks: list[Mask] = []
    for name, code in BASIC_LISTS.items():
        for entry in getattr(data, name):
            if len(entry) == 2:
                codes[entry[0] << 16 | entry[1]] = code
            else:
                group, element, group_mask, element_mask = entry
                masks.append((group_mask, group, element_mask, element, code))
    return MappingProxyType(codes), tuple(masks)


@cache
def _data() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(DATA).read_text(encoding="utf-8")
    data = tomllib.loads(text)
    if data.get("edition") != EDITION:
        raise ValueError(f"{DATA} is not of edition {EDITION}")
    return data


def parse_tag(text: str) -> int:
    """``(gggg,eeee)`` as an int."""
    group, element = text.strip("()").split(",")
    return int(group, 16) << 16 | int(element, 16)


@cache
def option_columns() -> Mapping[str, Mapping[int, str]]:
    """Each option's column: the action (K or C) for each attribute it lists, by tag."""
    columns: dict[str, Mapping[int, str]] = {}
    for name in (DATES, *COLUMNS):
        section = _data()[name]
        rows = {parse_tag(r["tag"]): "K" for r in section.get("keep", ())}
        rows.update({parse_tag(r["tag"]): "C" for r in section.get("clean", ())})
        columns[name] = MappingProxyType(rows)
    return MappingProxyType(columns)


@cache
def safe_private() -> tuple[SafePrivate, ...]:
    """Our allow-list of private attributes (Retain Safe Private), in the order written."""
    found = []
    for row in _data()["retain_safe_private"]["attribute"]:
        group, element = row["tag"].strip("()").split(",")  # (gggg,xxee)
        number = int(group, 16), int(element.lower().removeprefix("xx"), 16)
        found.append(SafePrivate(row["creator"], *number, row["vr"], row["name"], row["source"]))
    return tuple(found)


@cache
def table_for(options: Options) -> Table:
    """The table as the engine applies it for ``options`` (computed once per choice)."""
    codes, masks = basic_profile()
    actions = {tag: RESOLVED[code] for tag, code in codes.items()}
    columns = option_columns()
    dates = columns[DATES]
    chosen: dict[int, str] = {}
    for name in COLUMNS:
        if getattr(options, name):
            for tag, code in columns[name].items():
                if tag not in dates:
                    chosen[tag] = "C" if "C" in (code, chosen.get(tag)) else "K"
    for tag, code in chosen.items():
        actions[tag] = "K" if code == "K" else ("CD" if actions.get(tag) == "D" else "C")
    if options.retain_modified_dates:
        for tag in dates:
            vr = dictionary_VR(tag)
            if vr in ("DA", "DT"):
                actions[tag] = "S"
            elif vr == "TM":
                actions[tag] = "K"
    allowed = (
        {(s.creator, s.group, s.element): s.vr for s in safe_private()}
        if options.retain_safe_private
        else {}
    )
    return Table(
        options=options,
        actions=MappingProxyType(actions),
        masks=(*masks, OVERLAY_PLANES),
        safe_private=MappingProxyType(allowed),
    )
