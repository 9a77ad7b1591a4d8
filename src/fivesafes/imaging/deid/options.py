"""The custodian's choices of DICOM PS3.15 Annex E: the Basic Application Level Confidentiality
Profile always, and the options of it a project's data custodian turns on, one by one.

Each option is one column of Table E.1-1 (our copy of the columns: ``table_options.toml``) and
one code of CID 7050 "De-identification Method" (scheme DCM, PS3.16), which the de-identified
file carries in its De-identification Method Code Sequence (0012,0064) so a reader can tell
what was done. All options off is the Basic Profile alone, the most protective setting.

Options this engine does not offer: Retain UIDs (113110: it would link extracts of different
projects), Retain Longitudinal Temporal Information with Full Dates (113106: real dates never
leave), Retain Institution Identity (113112), Clean Graphics (113103) and Clean Recognizable
Visual Features (113102). An option name on the command line or in a configuration file is
one of :data:`OPTION_NAMES`; anything else is refused in words that list the known names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fivesafes.protocol.errors import InvalidRequest

EDITION = "2024b"
"""The edition of DICOM PS3.15 whose Table E.1-1 the engine applies."""

BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
"""CID 7050's code and meaning for the profile every de-identified file follows."""


@dataclass(frozen=True)
class Options:
    """The options of the Basic Profile in use; all off is the Basic Profile only."""

    retain_modified_dates: bool = False  # dates shifted per person (113107)
    retain_patient_characteristics: bool = False  # age, sex, size, weight... (113108)
    retain_device_identity: bool = False  # serial numbers, station names (113109)
    clean_descriptors: bool = False  # descriptions: codes kept, free text emptied (113105)
    clean_structured_content: bool = False  # SR content: codes kept, free text emptied (113104)
    retain_safe_private: bool = False  # our allow-list of private attributes (113111)
    clean_pixel_data: bool = False  # known burned-in regions blanked (113101)

    def names(self) -> tuple[str, ...]:
        """The options on, as field names, in the order of :data:`CODES`."""
        return tuple(name for name in CODES if getattr(self, name))

    def method_codes(self) -> tuple[tuple[str, str], ...]:
        """(code, meaning) of CID 7050 for the profile and each option on, in a fixed order."""
        return (BASIC_PROFILE, *(CODES[name] for name in self.names()))

    def method_text(self) -> tuple[str, ...]:
        """De-identification Method (0012,0063), one value a line (LO: 64 characters each):
        the edition and profile, then each option's meaning."""
        first = f"DICOM PS3.15 {EDITION} {BASIC_PROFILE[1]}"
        return (first, *(CODES[name][1] for name in self.names()))


CODES: dict[str, tuple[str, str]] = {
    "retain_modified_dates": (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    "retain_patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "retain_device_identity": ("113109", "Retain Device Identity Option"),
    "clean_descriptors": ("113105", "Clean Descriptors Option"),
    "clean_structured_content": ("113104", "Clean Structured Content Option"),
    "retain_safe_private": ("113111", "Retain Safe Private Option"),
    "clean_pixel_data": ("113101", "Clean Pixel Data Option"),
}
"""Each option's code and code meaning in CID 7050 (scheme DCM)."""

OPTION_NAMES: dict[str, str] = {name.replace("_", "-"): name for name in CODES}
"""The names a person writes (``retain-modified-dates``) and the option each one turns on."""


def options_of(names: Iterable[str]) -> Options:
    """The options named (command-line or configuration names, :data:`OPTION_NAMES`);
    :class:`InvalidRequest` if a name is not one of them. The message lists the known names
    and never repeats what was given."""
    chosen: dict[str, bool] = {}
    for name in names:
        field = OPTION_NAMES.get(name.strip().lower())
        if field is None:
            known = ", ".join(sorted(OPTION_NAMES))
            raise InvalidRequest(f"Unknown de-identification option. The options are: {known}.")
        chosen[field] = True
    return Options(**chosen)
