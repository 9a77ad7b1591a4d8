"""A small, honest demo model for the synthetic slides: a colour detector of their planted
"tumour" regions, so that predictions run end to end without downloading a model.

It is not a pathology model and says so (``MODEL``). It reads one stored level of the slide
(the first whose long side is at most :data:`READ_SIDE` pixels) and scores squares of
:data:`CELL_UM` microns (a few nuclei wide: one dark nucleus alone is not a tumour), one centred
on each heatmap pixel (a quarter of a square: neighbouring squares overlap), each by how much
closer its mean colour is to tumour than to ordinary tissue, for the two stain families the
synthetic slides use (H&E's eosin and haematoxylin, an IHC's DAB brown on haematoxylin blue):
``score = d_tissue / (d_tissue + d_tumour)``, and 0 on bare glass. What it gives:

- a **heatmap**, one pixel a cell, 0 to 255 for a score of 0 to 1, aligned to the slide (its
  scale is level-0 pixels per heatmap pixel);
- **regions**: the cells scoring at least :data:`THRESHOLD`, each run of such cells along a
  row merged into one rectangle, as QuPath-style GeoJSON polygons of class ``Tumor`` in
  level-0 pixels, with the run's mean score.

``tests/unit/test_slide_predictions.py`` measures it against the planted tumour polygons (the
Dice coefficient of the regions, rasterised on the cell grid).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from fivesafes.slides.reading import Slide

MODEL = "fivesafes-demo-colour-detector"
VERSION = "1"
READ_SIDE = 2048  # pixels of the level read, at most, on its long side
CELL_UM = 24.0  # microns a heatmap cell covers: a few nuclei wide, so one nucleus is not a tumour
MIN_CELL = 2  # pixels of the level read, at least
STRIDES = 4  # heatmap pixels per window side: each window overlaps its neighbours
ASSUMED_MPP = 0.5  # microns per pixel of a slide that does not say
THRESHOLD = 0.5
GLASS_BRIGHTNESS = 230  # a cell brighter than this on every channel is glass
CHUNK = 1024  # pixels read at a time
# reference colours (RGB): (tissue, tumour) per stain family, the mean colours of the synthetic
# slides' cells at the level read (nuclei included): the model is calibrated on them
REFERENCES = (
    ((226, 160, 198), (120, 70, 144)),  # H&E: eosin pink; tumour: dense haematoxylin purple
    ((217, 211, 225), (145, 107, 78)),  # IHC: pale counterstain; tumour: DAB brown
)


@dataclass(frozen=True)
class Prediction:
    heatmap_png: bytes
    scores: np.ndarray  # (rows, cols), 0..1
    scale: float  # level-0 pixels per heatmap pixel (per cell)
    features: list[dict[str, Any]]


def predict(slide: Slide) -> Prediction:
    """The demo model's heatmap and regions for ``slide`` (see the module)."""
    from PIL import Image

    info = slide.info
    level = next(
        (n for n, lv in enumerate(info.levels) if max(lv.width, lv.height) <= READ_SIDE),
        len(info.levels) - 1,
    )
    size = info.levels[level]
    image = np.zeros((size.height, size.width, 3), dtype=np.uint8)
    for y in range(0, size.height, CHUNK):
        for x in range(0, size.width, CHUNK):
            w, h = min(CHUNK, size.width - x), min(CHUNK, size.height - y)
            image[y : y + h, x : x + w] = np.asarray(slide.read_region(level, x, y, w, h))
    mpp = info.mpp_x or ASSUMED_MPP
    window = max(MIN_CELL, round(CELL_UM / (mpp * size.downsample)))
    stride = max(1, window // STRIDES)
    mean = _window_means(image.astype(np.float64), window, stride)  # (rows, cols, 3)
    scores = np.zeros(mean.shape[:2], dtype=np.float32)
    for tissue, tumour in REFERENCES:
        d_tissue = np.linalg.norm(mean - np.array(tissue, dtype=np.float64), axis=2)
        d_tumour = np.linalg.norm(mean - np.array(tumour, dtype=np.float64), axis=2)
        score = d_tissue / np.maximum(d_tissue + d_tumour, 1e-6)
        closer = np.minimum(d_tissue, d_tumour) < 80  # this family's colours, not the other's
        scores = np.where(closer, np.maximum(scores, score), scores)
    scores[(mean > GLASS_BRIGHTNESS).all(axis=2)] = 0.0
    scale = size.downsample * stride
    out = io.BytesIO()
    Image.fromarray(np.round(scores * 255).astype(np.uint8), "L").save(out, format="PNG")
    return Prediction(out.getvalue(), scores, scale, regions(scores, scale))


def _window_means(image: np.ndarray, window: int, stride: int) -> np.ndarray:
    """The mean colour of the ``window``-pixel square centred on each ``stride``-pixel cell
    (clipped at the edges), from an integral image: one heatmap pixel per cell."""
    height, width = image.shape[:2]
    rows, cols = height // stride, width // stride
    total = np.zeros((height + 1, width + 1, 3))
    total[1:, 1:] = image.cumsum(axis=0).cumsum(axis=1)
    half = (window - stride) // 2
    y0 = np.clip(np.arange(rows) * stride - half, 0, height)
    x0 = np.clip(np.arange(cols) * stride - half, 0, width)
    y1 = np.clip(y0 + window, 0, height)
    x1 = np.clip(x0 + window, 0, width)
    area = ((y1 - y0)[:, None] * (x1 - x0)[None, :])[..., None]
    sums = total[y1][:, x1] - total[y0][:, x1] - total[y1][:, x0] + total[y0][:, x0]
    means: np.ndarray = sums / np.maximum(area, 1)
    return means


def regions(scores: np.ndarray, scale: float) -> list[dict[str, Any]]:
    """Each run of cells at or above the threshold along a row, as one rectangle."""
    features: list[dict[str, Any]] = []
    for row, line in enumerate(scores >= THRESHOLD):
        col = 0
        while col < line.size:
            if not line[col]:
                col += 1
                continue
            start = col
            while col < line.size and line[col]:
                col += 1
            x0, x1, y0, y1 = start * scale, col * scale, row * scale, (row + 1) * scale
            ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                    "properties": {
                        "classification": {"name": "Tumor"},
                        "score": round(float(scores[row, start:col].mean()), 4),
                    },
                }
            )
    return features
