"""The pixels of a synthetic slide (:mod:`fivesafes.slides.synth_plan` says what is where):
level-0 tiles of tissue and tumour, the lower levels, the label and the macro.

| what | looks | made of |
| --- | --- | --- |
| glass | near white | a constant and noise |
| tissue | pink (H&E), pale blue-grey (IHC), air spaces, fibres | lobed ellipses, sinusoids |
| nuclei | purple (H&E) or blue, one per 25 µm square, 6 µm | discs at random places |
| tumour | solid, darker purple (H&E) or brown (IHC) | the plan's polygons, per tile |
| its nuclei | one per 11 µm square, 9 µm across | discs at random places |
| label | bars, specimen, stain, name, hospital and NHS numbers | Pillow's font, 30 px |
| macro | the whole glass: the label at one end, the tissue | label and lowest level |

Sizes are in microns, so a 40x slide shows the same tissue at twice the pixels. Level 0 is made
tile by tile (:func:`level0`), never as one array; each tile depends only on the slide's key and
its place, so tiles join up and any one can be made again. Level 1 is gathered from the tiles
as they pass, and the lower levels from level 1 (:func:`lower_levels`).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from fivesafes.slides.synth_plan import DOWNSAMPLE, IHC, Ellipse, Slide

TILE = 256
LABEL_SIZE = (440, 440)
MACRO_SIZE = (1200, 400)  # a 75 x 25 mm glass slide

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Palette:
    """A stain's colours: tissue, its nuclei, tumour, the tumour's nuclei."""

    tissue: RGB
    nuclei: RGB
    tumour: RGB
    tumour_nuclei: RGB


GLASS: RGB = (242, 241, 244)
HE = Palette((234, 164, 200), (96, 60, 150), (170, 100, 168), (62, 34, 116))  # eosin, haematoxylin
DAB = Palette((222, 216, 228), (120, 122, 180), (184, 146, 112), (100, 60, 34))  # IHC: brown


def _tile(slide: Slide, palette: Palette, x0: int, y0: int) -> np.ndarray:
    """The level-0 tile whose top-left pixel is (x0, y0): a function of the slide's key and
    the tile's place only, so tiles join up and any tile can be made again alone."""
    ys = np.arange(y0, y0 + TILE, dtype=np.float32)[:, None]
    xs = np.arange(x0, x0 + TILE, dtype=np.float32)[None, :]
    tumour = _tumour_mask(slide, x0, y0)
    kinds = np.zeros((TILE, TILE), dtype=np.uint8)  # an index into the palette's colours
    kinds[_in_tissue(slide, xs, ys)] = 1
    kinds[tumour] = 2
    kinds[_nuclei(slide, x0, y0, NUCLEI, functools.partial(_stroma, slide))] = 3
    kinds[_nuclei(slide, x0, y0, TUMOUR_NUCLEI, functools.partial(_in_tumour, slide))] = 4
    colours = np.array(
        [GLASS, palette.tissue, palette.tumour, palette.nuclei, palette.tumour_nuclei],
        dtype=np.float32,
    )
    wx, wy = _microns(slide, xs, ys)
    fibres = 1 + 0.06 * np.sin(wx / 4.5 + wy / 7) * np.sin(wy / 3.5)
    out = colours[kinds] * np.where(kinds == 0, np.float32(1), fibres)[..., None]
    h = int(_hash(np.array([x0]), np.array([y0]), slide.key)[0])
    dy, dx = h % TILE, (h >> 16) % TILE
    out += _noise(slide.key)[dy : dy + TILE, dx : dx + TILE]
    return np.clip(out, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _noise(key: int) -> np.ndarray:
    """A slide's grain: Gaussian noise (4 levels) twice a tile on a side, each tile taking a
    window of it at a place hashed from its own (cheaper than drawing noise per tile)."""
    rng = np.random.default_rng(key)
    return 4 * rng.standard_normal((2 * TILE, 2 * TILE, 3), dtype=np.float32)


def _stroma(slide: Slide, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Tissue outside the tumours (where the ordinary nuclei are)."""
    result: np.ndarray = _in_tissue(slide, xs, ys) & ~_in_tumour(slide, xs, ys)
    return result


def _microns(slide: Slide, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Level-0 pixels as microns, shifted by the slide's own phase (no two slides alike)."""
    shift = float(slide.key % 9973)
    return xs * slide.mpp + shift, ys * slide.mpp + shift / 2


def _in_tissue(slide: Slide, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Which points lie in tissue: in a piece, and not in an air space (the lung's alveoli,
    about 30 to 60 µm across)."""
    inside = np.zeros(np.broadcast_shapes(xs.shape, ys.shape), dtype=bool)
    for piece in slide.tissue:
        inside |= _inside(piece, xs, ys)
    if not inside.any():
        return inside
    wx, wy = _microns(slide, xs, ys)
    air = np.sin(wx / 11.5 + 2 * np.sin(wy / 30)) * np.sin(wy / 9.5 + 2 * np.sin(wx / 26))
    air += 0.5 * np.sin((0.8 * wx + 0.6 * wy) / 14 + 1.7 * np.sin(wx / 35))
    result: np.ndarray = inside & (air < 0.8)
    return result


def _inside(piece: Ellipse, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Which points lie in a piece of tissue: an ellipse whose outline has lobes."""
    reach = 1.2 * max(piece.rx, piece.ry)
    shape = np.broadcast_shapes(xs.shape, ys.shape)
    if (
        xs.size == 0
        or xs.max() < piece.cx - reach
        or xs.min() > piece.cx + reach
        or ys.max() < piece.cy - reach
        or ys.min() > piece.cy + reach
    ):
        return np.zeros(shape, dtype=bool)
    dx, dy = xs - piece.cx, ys - piece.cy
    cos, sin = math.cos(piece.angle), math.sin(piece.angle)
    u, v = (dx * cos + dy * sin) / piece.rx, (dy * cos - dx * sin) / piece.ry
    theta = np.arctan2(v, u)
    lobes = np.sin(3 * theta + piece.phases[0]) * 0.12 + np.sin(5 * theta + piece.phases[1]) * 0.07
    inside: np.ndarray = u * u + v * v < (1 + lobes) ** 2
    return inside


def _in_tumour(slide: Slide, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Which points lie in a tumour polygon (even-odd rule)."""
    inside = np.zeros(np.broadcast_shapes(xs.shape, ys.shape), dtype=bool)
    for ring in slide.tumours:
        for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
            if y1 == y2:
                continue
            crosses = (y1 > ys) != (y2 > ys)
            inside ^= crosses & (xs < x1 + (ys - y1) * (x2 - x1) / (y2 - y1))
    return inside


def _tumour_mask(slide: Slide, x0: int, y0: int) -> np.ndarray:
    """The tumour polygons drawn on one tile (Pillow clips them)."""
    mask = Image.new("L", (TILE, TILE), 0)
    draw = ImageDraw.Draw(mask)
    for ring in slide.tumours:
        xs, ys = [x for x, _ in ring], [y for _, y in ring]
        if max(xs) < x0 or min(xs) >= x0 + TILE or max(ys) < y0 or min(ys) >= y0 + TILE:
            continue
        draw.polygon([(x - x0, y - y0) for x, y in ring], fill=1)
    return np.asarray(mask, dtype=bool)


@dataclass(frozen=True)
class Nuclei:
    """A kind of nucleus: one per ``spacing`` microns squared, ``radius`` microns (a little
    wider than high; one in two a fifth smaller); ``salt`` keeps kinds apart."""

    spacing: float
    radius: float
    salt: int


NUCLEI = Nuclei(25.0, 3.2, 1)
TUMOUR_NUCLEI = Nuclei(11.0, 4.5, 2)
PRESENT = 0.6  # share of grid cells with a nucleus


def _nuclei(
    slide: Slide,
    x0: int,
    y0: int,
    kind: Nuclei,
    keep: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """The pixels of one tile covered by nuclei of one kind. Nuclei sit on a jittered grid of
    level 0 (a cell's nucleus, place and size come from a hash of the cell and the slide's
    key), so a nucleus across a tile's edge is drawn whole on both sides; ``keep`` says which
    centres count (in tissue, in tumour)."""
    cell = kind.spacing / slide.mpp * math.sqrt(PRESENT)
    radius = kind.radius / slide.mpp
    reach = math.ceil(1.3 * radius)
    columns = np.arange(math.floor((x0 - reach) / cell), math.floor((x0 + TILE + reach) / cell) + 1)
    rows = np.arange(math.floor((y0 - reach) / cell), math.floor((y0 + TILE + reach) / cell) + 1)
    gy, gx = (a.ravel() for a in np.meshgrid(rows, columns, indexing="ij"))
    h = _hash(gx, gy, slide.key * 31 + kind.salt)
    px = (gx + (h >> np.uint64(8) & np.uint64(0xFFFF)) / 65536) * cell
    py = (gy + (h >> np.uint64(24) & np.uint64(0xFFFF)) / 65536) * cell
    chosen = (h & np.uint64(0xFF)) < PRESENT * 256
    chosen &= keep(px.astype(np.float32), py.astype(np.float32))
    small = (h >> np.uint64(40) & np.uint64(1)).astype(bool)
    mask = np.zeros((TILE, TILE), dtype=bool)
    for size, pick in ((radius, chosen & ~small), (0.8 * radius, chosen & small)):
        centres = np.stack([np.round(py[pick]) - y0, np.round(px[pick]) - x0], 1).astype(np.int64)
        points = (centres[:, None, :] + _disc(size)[None, :, :]).reshape(-1, 2)
        points = points[((points >= 0) & (points < TILE)).all(axis=1)]
        mask[points[:, 0], points[:, 1]] = True
    return mask


def _disc(radius: float) -> np.ndarray:
    """The (row, column) offsets of an ellipse ``radius`` high and 1.3 times that wide."""
    span = np.arange(-math.ceil(1.3 * radius), math.ceil(1.3 * radius) + 1)
    dy, dx = np.meshgrid(span, span, indexing="ij")
    inside = (dy / radius) ** 2 + (dx / (1.3 * radius)) ** 2 <= 1
    return np.stack([dy[inside], dx[inside]], 1)


def _hash(a: np.ndarray, b: np.ndarray, key: int) -> np.ndarray:
    """A 64-bit mix (splitmix64's finaliser) of two integer arrays and a key."""
    with np.errstate(over="ignore"):
        h = a.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        h ^= b.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
        h ^= np.uint64(key & 0xFFFFFFFFFFFFFFFF)
        for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            h ^= h >> np.uint64(shift)
            h *= np.uint64(factor)
        h ^= h >> np.uint64(31)
    return h


def level0(slide: Slide, reduced: np.ndarray) -> Iterator[np.ndarray]:
    """Level 0's tiles in the order TIFF stores them, each also shrunk into ``reduced``
    (level 1, gathered as the tiles pass)."""
    palette = DAB if slide.stain in IHC else HE
    r = TILE // DOWNSAMPLE
    for ty in range(math.ceil(slide.height / TILE)):
        for tx in range(math.ceil(slide.width / TILE)):
            tile = _tile(slide, palette, tx * TILE, ty * TILE)
            reduced[ty * r : (ty + 1) * r, tx * r : (tx + 1) * r] = _shrink(tile)
            yield tile


def reduced_buffer(slide: Slide) -> np.ndarray:
    r = TILE // DOWNSAMPLE
    rows, columns = math.ceil(slide.height / TILE), math.ceil(slide.width / TILE)
    return np.empty((rows * r, columns * r, 3), dtype=np.uint8)


def _shrink(image: np.ndarray) -> np.ndarray:
    """Each block of DOWNSAMPLE x DOWNSAMPLE pixels averaged (Pillow's box reduction; a
    partial block at an edge averages what it has)."""
    return np.asarray(Image.fromarray(image).reduce(DOWNSAMPLE))


def lower_levels(slide: Slide, reduced: np.ndarray) -> list[np.ndarray]:
    """Levels 1 and below (at least level 1, which the thumbnail and macro are made from)."""
    sizes = [
        (math.ceil(slide.width / DOWNSAMPLE**k), math.ceil(slide.height / DOWNSAMPLE**k))
        for k in range(1, max(slide.levels, 2))
    ]
    levels = [reduced[: sizes[0][1], : sizes[0][0]]]
    for w, h in sizes[1:]:
        levels.append(_shrink(levels[-1])[:h, :w])
    return levels


# ---- label and macro --------------------------------------------------------------------


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's own font (Aileron, shipped inside Pillow): no system font needed."""
    return ImageFont.load_default(size=size)


def render_label(slide: Slide) -> Image.Image:
    """The slide's label as a label camera sees it: barcode-like bars (from the specimen id),
    then specimen and block, stain, the person's name, hospital number and NHS number."""
    image = Image.new("RGB", LABEL_SIZE, (250, 250, 246))
    draw = ImageDraw.Draw(image)
    bits = hashlib.sha256(f"{slide.specimen_id} {slide.block}".encode()).digest()
    x, dark = 24, True
    for bit in ((byte >> i) & 1 for byte in bits for i in range(8)):
        width = 2 + 3 * bit
        if x + width > LABEL_SIZE[0] - 24:
            break
        if dark:
            draw.rectangle((x, 18, x + width - 1, 108), fill=(16, 16, 16))
        x, dark = x + width, not dark
    who = slide.identity
    lines = (
        f"{slide.specimen_id} {slide.block}",
        slide.stain,
        who.name,
        who.hospital_number,
        f"NHS {who.nhs_number}",
    )
    font = _font(30)
    for n, line in enumerate(lines):
        draw.text((24, 126 + 60 * n), line, fill=(12, 12, 12), font=font)
    return image


def render_macro(label: Image.Image, overview: np.ndarray) -> Image.Image:
    """The macro camera's photograph of the whole glass: the label at one end (so the
    identifiers are in its pixels too), the tissue beside it."""
    image = Image.new("RGB", MACRO_SIZE, (206, 208, 212))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, MACRO_SIZE[0] - 1, MACRO_SIZE[1] - 1), outline=(90, 92, 96), width=6)
    image.paste(label.resize((360, 360), Image.Resampling.LANCZOS), (20, 20))
    glass = Image.new("RGB", (780, 360), GLASS)
    tissue = Image.fromarray(overview)
    scale = min(760 / tissue.width, 340 / tissue.height)
    tissue = tissue.resize((round(tissue.width * scale), round(tissue.height * scale)))
    glass.paste(tissue, ((780 - tissue.width) // 2, (360 - tissue.height) // 2))
    image.paste(glass, (400, 20))
    return image
