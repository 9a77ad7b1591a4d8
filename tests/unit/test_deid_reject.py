"""Rejection before de-identification (fivesafes.imaging.deid.reject): the shipped rejectors
as a table of tiny headers and their verdicts, pixel cleaning lifting only what it may, and a
rejectors file that cannot be used refused in words naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from fivesafes.imaging.deid.reject import (
    MAX_BYTES,
    MAX_REJECTORS,
    Rejection,
    load_rejectors,
    rejection,
)
from fivesafes.protocol.errors import ConfigError

REJECTORS = load_rejectors()
CT = "1.2.840.10008.5.1.4.1.1.2"
SC = "1.2.840.10008.5.1.4.1.1.7"


def header(**values: object) -> Dataset:
    """An original primary CT image, changed by ``values`` (None removes an element)."""
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.Rows = ds.Columns = 512
    for keyword, value in values.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def never(_: Dataset) -> bool:
    raise AssertionError("cleanable asked while pixel cleaning is off")


def reason(ds: Dataset, *, clean: bool = False, cleanable: object = never) -> str | None:
    found = rejection(ds, REJECTORS, clean_pixel_data=clean, cleanable=cleanable)  # type: ignore[arg-type]
    return found.reason if found else None


SPEC = [
    # what the header says -> the reason, pixel cleaning off
    ({}, None),
    ({"ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"]}, None),
    ({"ImageType": ["DERIVED", "PRIMARY", "MPR"]}, "not_original_primary"),
    ({"ImageType": ["ORIGINAL", "SECONDARY"]}, "not_original_primary"),
    ({"ImageType": "ORIGINAL"}, "not_original_primary"),  # one value only
    ({"ImageType": None}, "not_original_primary"),  # an image must say
    ({"SOPClassUID": SC}, "secondary_capture"),
    ({"SOPClassUID": SC + ".4"}, "secondary_capture"),  # multi-frame true colour
    ({"SOPClassUID": SC + "4"}, None),  # no such class: not the family
    ({"ConversionType": "WSD"}, "converted_or_captured"),
    ({"ConversionType": "SYN"}, "converted_or_captured"),
    ({"ConversionType": "SD"}, "converted_or_captured"),
    ({"ImageType": ["ORIGINAL", "PRIMARY", "SCREEN SAVE"]}, "screen_save"),
    ({"SeriesDescription": "Dose Report"}, "report_series"),
    ({"SeriesDescription": "PATIENT PROTOCOL"}, "report_series"),
    ({"SeriesDescription": "Thorax 1.0 B31f"}, None),
    ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.104.1"}, "encapsulated_document"),
    ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.77.1.4"}, "photograph"),
    ({"RecognizableVisualFeatures": "YES"}, "recognizable_visual_features"),
    ({"Modality": "US"}, "burned_in_text_modality"),
    ({"Modality": "OT"}, "burned_in_text_modality"),
    ({"Modality": "ES"}, "burned_in_text_modality"),
    ({"Modality": "MR"}, None),
    ({"BurnedInAnnotation": "YES"}, "burned_in_annotation"),
    ({"BurnedInAnnotation": "NO"}, None),
]


@pytest.mark.parametrize(("values", "expected"), SPEC)
def test_shipped_rejectors(values: dict[str, object], expected: str | None) -> None:
    assert reason(header(**values)) == expected


def test_no_pixel_data_is_no_reason_by_itself() -> None:
    report = Dataset()
    report.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR: no ImageType
    report.Modality = "SR"
    assert reason(report) is None
    assert reason(header(Rows=None, Columns=None, ImageType=None)) is None


def test_pixel_cleaning_lifts_only_what_it_can_clean() -> None:
    yes = header(BurnedInAnnotation="YES")
    assert reason(yes, clean=True, cleanable=lambda _: True) is None
    assert reason(yes, clean=True, cleanable=lambda _: False) == "burned_in_annotation"
    assert reason(yes, clean=False) == "burned_in_annotation"  # cleanable never asked
    assert reason(header(Modality="US"), clean=True, cleanable=lambda _: False) is None
    screenshot = header(SOPClassUID=SC, Modality="SC")
    assert reason(screenshot, clean=True, cleanable=lambda _: True) == "secondary_capture"


def test_a_rejection_never_quotes_the_header() -> None:
    ds = header(SeriesDescription="Dose Report for SMITH^JOHN 943 476 5919")
    found = rejection(ds, REJECTORS, clean_pixel_data=False, cleanable=never)
    assert found == Rejection("report_series", found.said if found else "")
    assert found is not None and "SMITH" not in found.said and "943" not in found.said
    for rule in REJECTORS.rules:
        assert rule.said and rule.reason.islower()


class Unreadable(Dataset):
    def get(self, *_: object, **__: object) -> object:
        raise ValueError("a value pydicom cannot read")


def test_an_unreadable_value_rejects() -> None:
    assert reason(Unreadable()) == "unreadable_header"


# --- an operator's own file ---------------------------------------------------------------------

GOOD = """
name = "site rejectors"
version = "2"

[[rejector]]
reason = "derived"
said = "Derived images are not released."
field = "ImageType"
values = 1
unless = ['^ORIGINAL$']
images_only = true

[[rejector]]
reason = "angiography"
said = "Angiography here burns text in."
field = "Modality"
match = ['^(XA|RF)$']
lifted_by = "pixel_cleaning"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rejectors.toml"
    path.write_text(text)
    return path


def test_an_operators_own_rejectors(tmp_path: Path) -> None:
    own = load_rejectors(write(tmp_path, GOOD))
    assert own.label == "site rejectors 2" and len(own.sha256) == 64
    cleaning = {"clean_pixel_data": True, "cleanable": lambda _: False}
    assert rejection(header(Modality="XA"), own, clean_pixel_data=False, cleanable=never)
    assert rejection(header(Modality="XA"), own, **cleaning) is None  # type: ignore[arg-type]
    derived = header(ImageType=["DERIVED", "PRIMARY"])
    assert rejection(derived, own, clean_pixel_data=False, cleanable=never) == Rejection(
        "derived", "Derived images are not released."
    )
    assert rejection(header(Modality="US"), own, clean_pixel_data=False, cleanable=never) is None


BAD = [
    # (what is changed in GOOD, words the error must say)
    (('reason = "derived"', 'reason = "Derived!"'), ["line 5", "rejector 1", "`reason`"]),
    (('field = "Modality"', 'field = "Modalitty"'), ["line 13", "rejector 2", "`field`"]),
    (("match = ['^(XA|RF)$']", "match = ['^(XA|RF$']"), ["line 13", "not a regular expression"]),
    (("values = 1", "values = 0"), ["line 5", "`values`"]),
    (('lifted_by = "pixel_cleaning"', 'lifted_by = "always"'), ["line 13", "`lifted_by`"]),
    (("images_only = true", 'images_only = true\nmissing = "maybe"'), ["line 5", "`missing`"]),
    (("match = ['^(XA|RF)$']", "match = []"), ["line 13", "1 to 50 patterns"]),
    (("match = ['^(XA|RF)$']", "colour = 'red'"), ["line 13", "`colour`"]),
    (("match = ['^(XA|RF)$']", ""), ["line 13", "one of `match` and `unless`"]),
    (('version = "2"', "version = 2"), ["line 3", "`version`"]),
    (('version = "2"', 'version = "2"\nrules = 3'), ["line 4", "`rules`"]),
    (('said = "Angiography here burns text in."', "said = 'x'\nsaid = 'y'"), ["line 16"]),
]


@pytest.mark.parametrize(("change", "words"), BAD)
def test_a_bad_rejectors_file_is_refused_in_words(
    tmp_path: Path, change: tuple[str, str], words: list[str]
) -> None:
    old, new = change
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as raised:
        load_rejectors(path)
    message = str(raised.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_the_rejectors_file_is_bounded(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bytes, over"):
        load_rejectors(write(tmp_path, GOOD + "#" * MAX_BYTES))
    many = GOOD + GOOD[GOOD.index("[[rejector]]") :] * (MAX_REJECTORS // 2 + 1)
    with pytest.raises(ConfigError, match=f"over {MAX_REJECTORS}"):
        load_rejectors(write(tmp_path, many))
    with pytest.raises(ConfigError, match=r"nests too deeply|not TOML"):
        load_rejectors(write(tmp_path, "x = " + "[" * 5000 + "]" * 5000))
    with pytest.raises(ConfigError, match="Cannot read"):
        load_rejectors(tmp_path / "missing.toml")
    (tmp_path / "latin.toml").write_bytes(b'name = "\xe9"')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_rejectors(tmp_path / "latin.toml")
