"""AI predictions on a slide, as data of the node (issue 16, point 4): a model's output for a
registered slide, imported as vector annotations (QuPath-style GeoJSON: polygons and points
with a class) and/or a heatmap aligned to the slide, with the model's name, version and run
time (the OMOP imaging extension's ``alg_system`` and ``alg_datetime``).

| table | one row per prediction: | read by |
| --- | --- | --- |
| ``pathology_prediction`` | id, slide, model, version, run time, features and classes, | analyses |
|  | whether it has a heatmap and its scale | (``pathology``) |
| ``pathology_prediction_data`` | the GeoJSON and the heatmap (PNG), compressed | the node only |

**Checked before anything is kept** (a refusal in words, never quoting the file):

- GeoJSON: at most :data:`MAX_GEOJSON_BYTES`, nested at most 64 deep, a ``FeatureCollection``
  of at most :data:`MAX_FEATURES` features, each a ``Polygon``, ``MultiPolygon`` or ``Point``
  whose coordinates are finite numbers inside the slide's level 0 (a tolerance of 1%), at most
  :data:`MAX_VERTICES` vertices in all; a class (``properties.classification.name``, or
  ``properties.class``) of at most 64 printable characters, at most :data:`MAX_CLASSES`
  classes. What is kept is rewritten from what was checked: geometry, class, and a numeric
  ``score`` if given; nothing else of the input's properties.
- Heatmap: a PNG or TIFF image, at most 8192 pixels a side, its aspect ratio the slide's
  within 2%; kept as an 8-bit grey PNG (0 to 255 for a score of 0 to 1) with its scale
  (level-0 pixels per heatmap pixel).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fivesafes.protocol import bounded_json
from fivesafes.protocol.errors import InvalidRequest
from fivesafes.slides.reading import SlideInfo

MAX_GEOJSON_BYTES = 64 * 1024 * 1024
MAX_FEATURES = 200_000
MAX_VERTICES = 5_000_000
MAX_CLASSES = 64
MAX_HEATMAP_SIDE = 8192
MAX_HEATMAP_BYTES = 64 * 1024 * 1024
TOLERANCE = 0.01  # of the slide's size: coordinates a little outside are rounding
ASPECT_TOLERANCE = 0.02
MAX_NAME = 64

PREDICTION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("prediction_id", "VARCHAR NOT NULL"),
    ("slide_id", "VARCHAR NOT NULL"),
    ("model", "VARCHAR NOT NULL"),  # alg_system
    ("model_version", "VARCHAR NOT NULL"),
    ("run_at", "TIMESTAMP NOT NULL"),  # alg_datetime
    ("features", "INTEGER NOT NULL"),
    ("classes", "VARCHAR"),  # the classes, comma-separated, sorted
    ("heatmap", "BOOLEAN NOT NULL"),
    ("heatmap_scale", "DOUBLE"),  # level-0 pixels per heatmap pixel
    ("imported_at", "TIMESTAMP NOT NULL"),
)
DATA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("prediction_id", "VARCHAR NOT NULL"),
    ("geojson", "BLOB"),  # zlib-compressed, as checked and rewritten
    ("heatmap_png", "BLOB"),
)


@dataclass(frozen=True)
class Annotations:
    """Checked GeoJSON: the features as kept, and how many of each class."""

    features: list[dict[str, Any]]
    classes: Counter[str]


@dataclass(frozen=True)
class Heatmap:
    png: bytes  # 8-bit grey
    width: int
    height: int
    scale: float  # level-0 pixels per heatmap pixel


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"Each feature's {what} must be text.")
    text = value.strip()
    if len(text) > MAX_NAME or not text.isprintable():
        raise InvalidRequest(f"A {what} has at most {MAX_NAME} printable characters.")
    return text


def read_annotations(data: bytes, info: SlideInfo) -> Annotations:
    """The checked features of a GeoJSON file for a slide of ``info`` (see the module)."""
    if len(data) > MAX_GEOJSON_BYTES:
        raise InvalidRequest(f"The GeoJSON is larger than {MAX_GEOJSON_BYTES:,} bytes.")
    try:
        document = bounded_json.loads(data)
    except bounded_json.TooDeep:
        raise InvalidRequest("The GeoJSON is nested deeper than 64 levels.") from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The GeoJSON is not valid JSON.") from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise InvalidRequest("The GeoJSON must be a FeatureCollection.")
    features = document.get("features")
    if not isinstance(features, list):
        raise InvalidRequest("The FeatureCollection has no list of features.")
    if len(features) > MAX_FEATURES:
        raise InvalidRequest(f"The GeoJSON has more than {MAX_FEATURES:,} features.")
    bounds = (info.width * (1 + TOLERANCE), info.height * (1 + TOLERANCE))
    margin = (-info.width * TOLERANCE, -info.height * TOLERANCE)
    vertices = 0
    kept: list[dict[str, Any]] = []
    classes: Counter[str] = Counter()
    for feature in features:
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise InvalidRequest("Every item of the FeatureCollection must be a Feature.")
        geometry = feature.get("geometry")
        if not isinstance(geometry, dict):
            raise InvalidRequest("Every feature needs a geometry.")
        kind = geometry.get("type")
        points = _points(kind, geometry.get("coordinates"))
        vertices += len(points)
        if vertices > MAX_VERTICES:
            raise InvalidRequest(f"The GeoJSON has more than {MAX_VERTICES:,} vertices.")
        for x, y in points:
            if not (margin[0] <= x <= bounds[0] and margin[1] <= y <= bounds[1]):
                raise InvalidRequest(
                    "A feature lies outside the slide: coordinates are level-0 pixels of the "
                    f"slide, 0 to {info.width} by 0 to {info.height}."
                )
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            raise InvalidRequest("A feature's properties must be an object.")
        named = properties.get("classification")
        label = named.get("name") if isinstance(named, dict) else properties.get("class")
        label = _name(label, "class")
        classes[label] += 1
        if len(classes) > MAX_CLASSES:
            raise InvalidRequest(f"The GeoJSON has more than {MAX_CLASSES} classes.")
        clean: dict[str, Any] = {"classification": {"name": label}}
        score = properties.get("score")
        if score is not None:
            if not isinstance(score, int | float) or not math.isfinite(score):
                raise InvalidRequest("A feature's score must be a finite number.")
            clean["score"] = float(score)
        kept.append(
            {
                "type": "Feature",
                "geometry": {"type": kind, "coordinates": geometry["coordinates"]},
                "properties": clean,
            }
        )
    return Annotations(kept, classes)


def _points(kind: Any, coordinates: Any) -> list[tuple[float, float]]:
    """Every vertex of a Point, Polygon or MultiPolygon, checked to be a pair of finite numbers."""

    def pair(value: Any) -> tuple[float, float]:
        if (
            not isinstance(value, list)
            or len(value) < 2
            or not all(isinstance(v, int | float) and math.isfinite(v) for v in value[:2])
        ):
            raise InvalidRequest("A coordinate must be a pair of finite numbers.")
        return float(value[0]), float(value[1])

    def ring(value: Any) -> list[tuple[float, float]]:
        if not isinstance(value, list) or len(value) < 3:
            raise InvalidRequest("A polygon's ring needs at least three points.")
        return [pair(v) for v in value]

    if kind == "Point":
        return [pair(coordinates)]
    if kind == "Polygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise InvalidRequest("A polygon needs at least one ring.")
        return [p for r in coordinates for p in ring(r)]
    if kind == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise InvalidRequest("A multipolygon needs at least one polygon.")
        return [p for polygon in coordinates for p in _points("Polygon", polygon)]
    raise InvalidRequest("A feature's geometry must be a Point, Polygon or MultiPolygon.")


def read_heatmap(data: bytes, info: SlideInfo, scale: float | None = None) -> Heatmap:
    """The checked heatmap image for a slide of ``info``, as an 8-bit grey PNG; ``scale``
    (level-0 pixels per heatmap pixel) if its maker says, else the slide's width over its."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_HEATMAP_BYTES:
        raise InvalidRequest(f"The heatmap is larger than {MAX_HEATMAP_BYTES:,} bytes.")
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.format not in ("PNG", "TIFF"):
                raise InvalidRequest("The heatmap must be a PNG or TIFF image.")
            width, height = opened.size
            if max(width, height) > MAX_HEATMAP_SIDE or min(width, height) < 1:
                raise InvalidRequest(f"The heatmap is 1 to {MAX_HEATMAP_SIDE} pixels a side.")
            grey = opened.convert("L")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise InvalidRequest("The heatmap cannot be read as an image.") from None
    ratio = (width / height) / (info.width / info.height)
    if abs(ratio - 1) > ASPECT_TOLERANCE:
        raise InvalidRequest("The heatmap's aspect ratio is not the slide's: it is not aligned.")
    out = io.BytesIO()
    grey.save(out, format="PNG", optimize=False)
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise InvalidRequest("A heatmap's scale must be a positive number.")
    return Heatmap(out.getvalue(), width, height, scale or info.width / width)


def prediction_id(slide_id: str, model: str, version: str, run_at: datetime) -> str:
    """The same model run on the same slide has the same id (imported again: refused)."""
    text = "\x00".join((slide_id, model, version, run_at.isoformat()))
    return "PR" + hashlib.sha256(text.encode()).hexdigest()[:20].upper()


def record_prediction(
    con: Any,
    slide_id: str,
    *,
    model: str,
    version: str,
    run_at: datetime,
    annotations: Annotations | None,
    heatmap: Heatmap | None,
    now: datetime,
) -> str:
    """Keep one prediction in the node's data (a DuckDB connection), in one transaction."""
    from fivesafes.imaging.tables import create_sql

    model, version = _name(model, "model name"), _name(version, "model version")
    if annotations is None and heatmap is None:
        raise InvalidRequest("A prediction needs its GeoJSON, its heatmap, or both.")
    con.execute(create_sql("pathology_prediction", PREDICTION_COLUMNS))
    con.execute(create_sql("pathology_prediction_data", DATA_COLUMNS))
    known = con.execute(
        "SELECT count(*) FROM pathology_slide WHERE slide_id = ?", [slide_id]
    ).fetchone()
    if not known or not known[0]:
        raise InvalidRequest("There is no registered slide with that id at this node.")
    identifier = prediction_id(slide_id, model, version, run_at)
    seen = con.execute(
        "SELECT count(*) FROM pathology_prediction WHERE prediction_id = ?", [identifier]
    ).fetchone()
    if seen and seen[0]:
        raise InvalidRequest("This model run's prediction for the slide is imported already.")
    classes = ",".join(sorted(annotations.classes)) if annotations else None
    geojson = None
    if annotations is not None:
        document = {"type": "FeatureCollection", "features": annotations.features}
        geojson = zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 6)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "INSERT INTO pathology_prediction VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [identifier, slide_id, model, version, run_at.replace(tzinfo=None),
             len(annotations.features) if annotations else 0, classes, heatmap is not None,
             heatmap.scale if heatmap else None, now.replace(tzinfo=None)],
        )  # fmt: skip
        con.execute(
            "INSERT INTO pathology_prediction_data VALUES (?, ?, ?)",
            [identifier, geojson, heatmap.png if heatmap else None],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return identifier
