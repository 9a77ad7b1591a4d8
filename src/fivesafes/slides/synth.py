"""Synthetic whole-slide images consistent with a synthetic OMOP CDM (``fivesafes synth omop``):
small pyramidal slides with identifiers planted where real slide files carry them, tumour
regions planted in the tissue, and the ground truth of both written beside them.

Who has slides and what each is: :mod:`.synth_plan` (persons with a cancer condition, one
specimen each, an H&E slide and often an IHC slide). Their pixels: :mod:`.synth_pixels`.
What is written into ``out`` (docs/slides.md):

| path | format | read by |
| --- | --- | --- |
| ``slides/<name>.svs`` | ``svs``: Aperio SVS-like | OpenSlide (``aperio``), tifffile, opentile |
| ``slides/<name>.ome.tif`` | ``ome-tiff``: the first slide again | tifffile, Bio-Formats, QuPath |
| ``slides/<name>.ndpi`` | ``ndpi``: each slide, if asked | OpenSlide (``hamamatsu``), tifffile |
| ``dicom/<name>/*.dcm`` | ``dicom``: each slide, if asked | wsidicom |
| ``ground-truth/slides.csv`` | one row per file or folder above | |
| ``ground-truth/tumour_regions.geojson`` | the tumour polygons | QuPath |
| ``ground-truth/planted_identifiers.csv`` | slide, where, kind, value | |

The SVS, as Aperio writes it: level 0 in JPEG tiles of 256 x 256; the thumbnail, stripped, as
the second IFD (OpenSlide names it ``thumbnail`` by its place); the lower levels, downsampled
by 4, tiled; the ``label`` (LZW) and the ``macro`` (JPEG), stripped, named by the second line
of their ImageDescription. The first ImageDescription is ``Aperio Image Library ...``, then
``|``-separated ``key = value`` pairs: AppMag, ScanScope ID, Filename, Date, Time, MPP, Stain,
Comment (OpenSlide's ``aperio.*`` properties; ``openslide.objective-power`` and
``openslide.mpp-x`` come from AppMag and MPP). The OME-TIFF holds the same level 0, the lower
levels as its SubIFDs and the label as a second image; OpenSlide 4.0 opens it as
``generic-tiff`` with level 0 only (it does not read SubIFDs).

Where the identifiers are planted, each row of ``planted_identifiers.csv``:

| where | what |
| --- | --- |
| ``label_pixels`` | name, hospital number, NHS number (and the OME-TIFF's label, the DICOM LABEL) |
| ``macro_pixels`` | the same, in the label seen on the whole glass (and the DICOM OVERVIEW) |
| ``metadata:Filename`` | hospital number, family name |
| ``metadata:Comment`` | name, NHS number, hospital number (free text) |
| ``metadata:label_description`` | name, hospital number |

An NDPI's are its own (the macro, the reference, the property map, the scanner's serial number
and the scan's date and time: :mod:`.synth_ndpi`).

``slides.csv`` has one row per written file (``format`` svs, ome-tiff, ndpi or dicom; ``copy_of``
the SVS a copy was made from), with the CDM's person_id and person_source_value, the specimen,
its date and anatomic site (the concept id), stain, objective power, MPP, size (an NDPI's
widened to whole JPEG blocks), levels stored, number of tumour regions and a sha256 (a DICOM
folder's over its files' names and bytes). ``tumour_regions.geojson`` is a FeatureCollection
of QuPath annotations: a Polygon in level-0 pixels of the SVS (and of its copies: the same
grid) with properties ``classification`` ``{"name": "Tumor"}`` and ``slide``.

The specimens go into the CDM's ``specimen`` table, each with its anatomic site; a site the
CDM's vocabulary lacks is added to it (:func:`.synth_plan.record_specimens`).

What wsidicomizer keeps by default (``WsiDicomizer.convert`` with its defaults): the label, the
macro (an OVERVIEW instance) and the thumbnail, so the planted pixels; the scan's date and time
(Aperio's Date and Time as AcquisitionDateTime, as ``include_confidential`` is true). It does
not carry Filename, Comment or the scanner's serial (DeviceSerialNumber is ``Unknown``) into
the header. UIDs come from the seed, but
each instance's ContentDate and ContentTime are when it was written, so a DICOM copy's sha256
differs from run to run; the SVS, OME-TIFF and NDPI are the same bytes for the same seed.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image

from fivesafes.imaging.synth import hospital_number, uid
from fivesafes.slides import synth_ndpi
from fivesafes.slides.synth_pixels import (
    TILE,
    level0,
    lower_levels,
    reduced_buffer,
    render_label,
    render_macro,
)
from fivesafes.slides.synth_plan import (
    CANCER,
    DOWNSAMPLE,
    Slide,
    check_plan,
    plan_slides,
    read_persons,
    record_specimens,
)

LIBRARY = "Aperio Image Library v12.0.15"
QUALITY = 80  # JPEG quality of tiles, thumbnail and macro
THUMBNAIL = 768  # the thumbnail's longer side at most
SLIDE_COLUMNS = (
    "slide", "format", "copy_of", "person_id", "person_source_value", "specimen_id",
    "specimen_date", "anatomic_site_concept_id", "stain", "app_mag", "mpp", "width", "height",
    "levels", "tumour_regions", "sha256",
)  # fmt: skip
PLANTED_COLUMNS = ("slide", "where", "kind", "value")

Progress = Callable[[int, int], None]
"""``progress(slides_done, slides_total)``."""


@dataclass
class SlidesReport:
    """What :func:`write_slides` wrote."""

    slides_dir: Path
    truth: Path
    persons: int = 0
    slides: int = 0  # SVS files
    ome_tiff: int = 0
    dicom: int = 0  # slides copied as DICOM-WSI
    ndpi: int = 0  # slides copied as Hamamatsu NDPI
    specimens: int = 0  # rows added to the CDM's specimen table
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)


# ---- files ------------------------------------------------------------------------------


def aperio_description(slide: Slide) -> str:
    """The first IFD's ImageDescription as Aperio writes it: a header line, then
    ``|``-separated ``key = value`` pairs (OpenSlide's ``aperio.*`` properties)."""
    w, h = slide.width, slide.height
    fields: dict[str, object] = {
        "AppMag": slide.app_mag,
        "StripeWidth": 2040,
        "ScanScope ID": slide.scanner,
        "Filename": slide.filename_field,
        "Date": f"{slide.scanned:%m/%d/%y}",
        "Time": f"{slide.scanned:%H:%M:%S}",
        "Time Zone": "GMT+0000",
        "MPP": f"{slide.mpp:.4f}",
        "Left": "25.691574",
        "Top": "23.449873",
        "Stain": slide.stain,
        "Comment": slide.comment,
    }
    head = f"{LIBRARY} \r\n{w}x{h} [0,0 {w}x{h}] ({TILE}x{TILE}) JPEG/RGB Q={QUALITY}"
    return "|".join([head, *(f"{key} = {value}" for key, value in fields.items())])


def label_description(slide: Slide, label: Image.Image) -> str:
    """The label IFD's ImageDescription: OpenSlide names the image by the second line's first
    word; the barcode reader's fields follow, as some scanners write them."""
    who = slide.identity
    return (
        f"{LIBRARY}\r\nlabel {label.width}x{label.height}|Barcode = {slide.specimen_id}"
        f" {slide.block}|Patient = {who.name}|MRN = {who.hospital_number}"
    )


def write_svs(slide: Slide, path: Path) -> None:
    """Write the slide as an Aperio SVS-like TIFF: level 0, thumbnail, lower levels, label,
    macro, in Aperio's order."""
    reduced = reduced_buffer(slide)
    jpeg: dict[str, Any] = {
        "photometric": "rgb", "compression": "jpeg", "compressionargs": {"level": QUALITY},
        "metadata": None,
    }  # fmt: skip
    w, h = slide.width, slide.height
    head = f"{LIBRARY} \r\n{w}x{h} [0,0 {w}x{h}] ({TILE}x{TILE})"
    with tifffile.TiffWriter(path) as tiff:
        tiff.write(
            level0(slide, reduced), shape=(h, w, 3), dtype=np.uint8, tile=(TILE, TILE),
            description=aperio_description(slide), **jpeg,
        )  # fmt: skip
        levels = lower_levels(slide, reduced)
        thumbnail = Image.fromarray(levels[0])
        thumbnail.thumbnail((THUMBNAIL, THUMBNAIL))
        tw, th = thumbnail.size
        tiff.write(
            np.asarray(thumbnail), rowsperstrip=th,
            description=f"{head} -> {tw}x{th} JPEG/RGB Q={QUALITY}", **jpeg,
        )  # fmt: skip
        for level in levels[: slide.levels - 1]:
            lh, lw = level.shape[:2]
            tiff.write(
                level, tile=(TILE, TILE),
                description=f"{head} -> {lw}x{lh} JPEG/RGB Q={QUALITY}", **jpeg,
            )  # fmt: skip
        label = render_label(slide)
        tiff.write(
            np.asarray(label), photometric="rgb", compression="lzw", metadata=None,
            subfiletype=1, description=label_description(slide, label),
        )  # fmt: skip
        macro = render_macro(label, levels[0])
        tiff.write(
            np.asarray(macro), rowsperstrip=macro.height, subfiletype=9,
            description=f"{LIBRARY}\r\nmacro {macro.width}x{macro.height}", **jpeg,
        )  # fmt: skip


def write_ome_tiff(slide: Slide, path: Path, seed: int) -> None:
    """Write the slide as a pyramidal OME-TIFF: level 0 with the lower levels as its SubIFDs,
    then the label as a second image (its pixels carry the identifiers)."""
    reduced = reduced_buffer(slide)
    mpp = slide.mpp
    common: dict[str, Any] = {
        "photometric": "rgb", "compression": "jpeg", "compressionargs": {"level": QUALITY},
        "tile": (TILE, TILE), "resolutionunit": "CENTIMETER",
    }  # fmt: skip
    digest = hashlib.blake2b(f"{seed}/{slide.name}/ome".encode(), digest_size=16).hexdigest()
    ome_uuid = f"urn:uuid:{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"
    metadata = {
        "axes": "YXS", "UUID": ome_uuid, "Name": slide.name,
        "PhysicalSizeX": mpp, "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": mpp, "PhysicalSizeYUnit": "µm",
    }  # fmt: skip
    with tifffile.TiffWriter(path, ome=True) as tiff:
        tiff.write(
            level0(slide, reduced), shape=(slide.height, slide.width, 3), dtype=np.uint8,
            subifds=slide.levels - 1, resolution=(1e4 / mpp, 1e4 / mpp), metadata=metadata,
            **common,
        )  # fmt: skip
        for k, level in enumerate(lower_levels(slide, reduced)[: slide.levels - 1], 1):
            scale = 1e4 / (mpp * DOWNSAMPLE**k)
            tiff.write(level, subfiletype=1, resolution=(scale, scale), **common)
        tiff.write(
            np.asarray(render_label(slide)), photometric="rgb", compression="lzw",
            metadata={"axes": "YXS", "Name": "label"},
        )  # fmt: skip


def write_dicom(svs: Path, folder: Path, slide: Slide, seed: int) -> list[Path]:
    """Convert an SVS into DICOM-WSI instances in ``folder`` with wsidicomizer's defaults
    (label, overview and thumbnail kept), UIDs derived from the seed."""
    # imported here: the DICOM-WSI stack is loaded only when a copy is asked for
    from pydicom.uid import UID
    from wsidicomizer import WsiDicomizer

    counter = itertools.count()
    folder.mkdir(parents=True, exist_ok=True)
    written = WsiDicomizer.convert(
        svs, folder, workers=1,
        uid_generator=lambda: UID(uid(seed, slide.name, "dicom", next(counter))),
    )  # fmt: skip
    return sorted(Path(f) for f in written)


# ---- the ground truth -------------------------------------------------------------------


def planted(slide: Slide, where_written: str, form: str) -> list[dict[str, str]]:
    """Every identifier planted in one written file (``form``: svs, ome-tiff, dicom or ndpi)."""
    if form == "ndpi":
        places = synth_ndpi.planted(slide)
        return [dict(zip(PLANTED_COLUMNS, (where_written, *p), strict=True)) for p in places]
    who = slide.identity
    drawn = (
        ("patient_name", who.name),
        ("hospital_number", who.hospital_number),
        ("nhs_number", who.nhs_number),
    )
    places = [("label_pixels", kind, value) for kind, value in drawn]
    if form in ("svs", "dicom"):
        places += [("macro_pixels", kind, value) for kind, value in drawn]
    if form == "svs":
        places += [
            ("metadata:Filename", "hospital_number", who.hospital_number),
            ("metadata:Filename", "family_name", who.family.upper()),
            ("metadata:Comment", "patient_name", who.name),
            ("metadata:Comment", "nhs_number", who.nhs_number),
            ("metadata:Comment", "hospital_number", who.hospital_number),
            ("metadata:label_description", "patient_name", who.name),
            ("metadata:label_description", "hospital_number", who.hospital_number),
        ]
    return [dict(zip(PLANTED_COLUMNS, (where_written, *p), strict=True)) for p in places]


def tumour_features(slide: Slide, where_written: str) -> list[dict[str, Any]]:
    """The slide's tumour polygons as QuPath writes annotations in GeoJSON (closed rings)."""
    return [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[*map(list, ring), list(ring[0])]]},
            "properties": {
                "objectType": "annotation",
                "classification": {"name": "Tumor", "color": [200, 0, 0]},
                "slide": where_written,
            },
        }
        for ring in slide.tumours
    ]


def sha256_of(path: Path) -> str:
    """A file's sha256; a folder's over its files' names and bytes, in name order."""
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if file.is_file():
            if path.is_dir():
                digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            with file.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def _row(
    slide: Slide,
    out: Path,
    path: Path,
    form: str,
    copy_of: str,
    site_concept_id: int,
    size: tuple[int, int],
) -> dict[str, Any]:
    return {
        "slide": path.relative_to(out).as_posix(),
        "format": form,
        "copy_of": copy_of,
        "person_id": slide.person.person_id,
        "person_source_value": slide.person.source_value,
        "specimen_id": slide.specimen_id,
        "specimen_date": slide.person.diagnosed.isoformat(),
        "anatomic_site_concept_id": site_concept_id,
        "stain": slide.stain,
        "app_mag": slide.app_mag,
        "mpp": f"{slide.mpp:.4f}",
        "width": size[0],
        "height": size[1],
        "levels": slide.levels,
        "tumour_regions": len(slide.tumours),
        "sha256": sha256_of(path),
    }


def write_slides(
    omop: Path,
    out: Path,
    *,
    seed: int = 0,
    persons_limit: int | None = None,
    width: int = 4096,
    height: int = 3072,
    levels: int = 3,
    dicom: bool = False,
    ndpi: bool = False,
    progress: Progress | None = None,
) -> SlidesReport:
    """Write ``out/slides`` (SVS, one OME-TIFF, with ``ndpi`` an NDPI of each), with ``dicom``
    ``out/dicom``, and ``out/ground-truth`` for the persons of the CDM ``omop`` who have a
    cancer condition."""
    check_plan(persons_limit, width, height, levels)
    if seed < 0:
        raise ValueError(f"seed must be zero or positive, got {seed}")
    started = time.perf_counter()
    persons = read_persons(omop, persons_limit)
    if not persons:
        raise ValueError(
            "the CDM has no person with a condition under Malignant neoplastic disease"
            f" (concept {CANCER}): there is no specimen to make slides of"
        )
    slides = plan_slides(persons, seed=seed, width=width, height=height, levels=levels)
    added, sites = record_specimens(omop, slides)
    folder, truth = out / "slides", out / "ground-truth"
    folder.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)
    report = SlidesReport(folder, truth, persons=len(persons), specimens=added)
    marks: list[dict[str, str]] = []
    features: list[dict[str, Any]] = []
    for done, slide in enumerate(slides, 1):
        size = (slide.width, slide.height)
        written = [(folder / f"{slide.name}.svs", "svs", size)]
        write_svs(slide, written[0][0])
        if done == 1:
            written.append((folder / f"{slide.name}.ome.tif", "ome-tiff", size))
            write_ome_tiff(slide, written[-1][0], seed)
        if ndpi:
            path = folder / f"{slide.name}.ndpi"
            written.append((path, "ndpi", synth_ndpi.write_ndpi(slide, path)))
        if dicom:
            written.append((out / "dicom" / slide.name, "dicom", size))
            write_dicom(written[0][0], written[-1][0], slide, seed)
        for path, form, made in written:
            name = path.relative_to(out).as_posix()
            copy_of = "" if form == "svs" else written[0][0].relative_to(out).as_posix()
            row = _row(slide, out, path, form, copy_of, sites[slide.site], made)
            report.rows.append(row)
            marks += planted(slide, name, form)
            files = [f for f in path.rglob("*") if f.is_file()] if path.is_dir() else [path]
            report.files += len(files)
            report.bytes += sum(f.stat().st_size for f in files)
        features += tumour_features(slide, written[0][0].relative_to(out).as_posix())
        report.slides += 1
        report.ome_tiff += done == 1
        report.ndpi += ndpi
        report.dicom += dicom
        if progress:
            progress(done, len(slides))
    _write_truth(truth, report.rows, marks, features)
    report.seconds = time.perf_counter() - started
    return report


def _write_truth(
    folder: Path,
    rows: list[dict[str, Any]],
    marks: list[dict[str, str]],
    features: list[dict[str, Any]],
) -> None:
    with (folder / "slides.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, SLIDE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    with (folder / "planted_identifiers.csv").open("w", newline="") as handle:
        marked = csv.DictWriter(handle, PLANTED_COLUMNS)
        marked.writeheader()
        marked.writerows(marks)
    collection = {"type": "FeatureCollection", "features": features}
    (folder / "tumour_regions.geojson").write_text(json.dumps(collection, indent=1) + "\n")
    with (folder / "specimen_map.csv").open("w", newline="") as handle:
        mapped = csv.writer(handle)  # for fivesafes node slides add --specimen-map
        mapped.writerow(["file", "patient_id", "specimen", "stain"])
        for row in rows:
            if row["format"] != "dicom":
                name = Path(str(row["slide"])).relative_to("slides").as_posix()
                patient = hospital_number(int(row["person_id"]))
                mapped.writerow([name, patient, row["specimen_id"], row["stain"]])
