"""AI predictions read back for the slide viewer's overlays (``predictions`` wrote them): for a
slide, the facts of each prediction (model, version, run time, features, classes, whether it
has a heatmap and its scale), its vector annotations (the GeoJSON as kept, decompressed) and
its heatmap (the 8-bit grey PNG).

Read through a read-only DuckDB connection opened per read, as the register of slides is
(``catalogue.DuckDBSlides``): the portal never holds the node's data file. A node with no
prediction yet (the tables not made) has none to show; a prediction is found only through its
own slide, so a prediction id asked for under another slide is not found.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from fivesafes.protocol.errors import ServiceUnavailable
from fivesafes.slides.catalogue import SLIDE_ID, read_only_query

PREDICTION_ID = re.compile(r"PR[0-9A-F]{20}")  # predictions.prediction_id's form
MAX_PREDICTIONS = 200  # listed per slide, newest first
TABLES = frozenset({"pathology_prediction", "pathology_prediction_data"})
_FACTS = ("prediction_id", "model", "model_version", "run_at", "features", "classes", "heatmap",
          "heatmap_scale")  # fmt: skip


@dataclass(frozen=True)
class PredictionFacts:
    """One model run's prediction for a slide, as the viewer lists it."""

    prediction_id: str
    model: str
    version: str
    run_at: datetime
    features: int  # vector annotations kept (0: a heatmap only)
    classes: tuple[str, ...]  # sorted
    heatmap: bool
    heatmap_scale: float | None  # level-0 pixels per heatmap pixel


class OverlaySource(Protocol):
    def predictions(self, slide_id: str) -> list[PredictionFacts]:
        """The slide's predictions, newest run first (at most ``MAX_PREDICTIONS``)."""
        ...

    def annotations(self, slide_id: str, prediction_id: str) -> bytes | None:
        """The prediction's GeoJSON FeatureCollection (JSON bytes), if it is the slide's and
        has vector annotations."""
        ...

    def heatmap(self, slide_id: str, prediction_id: str) -> bytes | None:
        """The prediction's heatmap (an 8-bit grey PNG), if it is the slide's and has one."""
        ...


def inflated(stored: bytes) -> bytes:
    """A prediction's GeoJSON as kept (zlib), decompressed; damaged: unavailable, in words."""
    try:
        return zlib.decompress(stored)
    except zlib.error:
        raise ServiceUnavailable(
            "This prediction's annotations are damaged where they are kept; its model's output "
            "can be imported again."
        ) from None


class NoOverlays:
    """A service without predictions to show."""

    def predictions(self, slide_id: str) -> list[PredictionFacts]:
        return []

    def annotations(self, slide_id: str, prediction_id: str) -> bytes | None:
        return None

    def heatmap(self, slide_id: str, prediction_id: str) -> bytes | None:
        return None


class DuckDBOverlays:
    """The predictions in a DuckDB node's data file (in ``schema``, if given)."""

    def __init__(self, path: Path, schema: str | None = None) -> None:
        self._path = path
        self._schema = schema or "main"
        where, facts = f'"{self._schema}".', ", ".join(_FACTS)
        # built of this module's constants and a SchemaName (letters, digits, underscores)
        self._list = (
            f"SELECT {facts} FROM {where}pathology_prediction WHERE slide_id = ? "  # noqa: S608
            "ORDER BY run_at DESC, prediction_id LIMIT ?"
        )
        self._data = (
            f"SELECT d.geojson, d.heatmap_png FROM {where}pathology_prediction p "  # noqa: S608
            f"JOIN {where}pathology_prediction_data d USING (prediction_id) "
            "WHERE p.prediction_id = ? AND p.slide_id = ?"
        )

    def predictions(self, slide_id: str) -> list[PredictionFacts]:
        if not SLIDE_ID.fullmatch(slide_id):
            return []
        rows = self._query(self._list, [slide_id, MAX_PREDICTIONS])
        return [_facts(*row) for row in rows]

    def annotations(self, slide_id: str, prediction_id: str) -> bytes | None:
        stored = self._stored(slide_id, prediction_id, 0)
        return inflated(stored) if stored is not None else None

    def heatmap(self, slide_id: str, prediction_id: str) -> bytes | None:
        return self._stored(slide_id, prediction_id, 1)

    def _stored(self, slide_id: str, prediction_id: str, column: int) -> bytes | None:
        if not (SLIDE_ID.fullmatch(slide_id) and PREDICTION_ID.fullmatch(prediction_id)):
            return None
        rows = self._query(self._data, [prediction_id, slide_id])
        value = rows[0][column] if rows else None
        return bytes(value) if value is not None else None

    def _query(self, sql: str, parameters: list[Any]) -> list[tuple[Any, ...]]:
        return read_only_query(
            self._path, self._schema, TABLES, sql, parameters,
            busy="The node's predictions cannot be read just now (they may be being imported); "
            "try again in a moment.",
        )  # fmt: skip


def _facts(
    prediction_id: str, model: str, version: str, run_at: datetime, features: int,
    classes: str | None, heatmap: bool, heatmap_scale: float | None,
) -> PredictionFacts:  # fmt: skip
    named = tuple(c for c in (classes or "").split(",") if c)
    return PredictionFacts(
        prediction_id, model, version, run_at, int(features), named, bool(heatmap), heatmap_scale
    )
