"""A slide as DeepZoom (``fivesafes.slides.tiles``) and its caches (``slides.tile_cache``):
unit tests on synthetic slides (``slides.synth``: two persons, level 0 of 2048 x 1536, three
levels downsampled by 4, so DeepZoom levels 11, 9 and 7 are stored ones).

* **passthrough**: a whole tile of a stored level is the bytes ``opentile`` gives for it,
  unchanged, and decodes to exactly OpenSlide's pixels of that tile;
* **re-encoded** tiles (every other level, and the cropped edge tiles) are OpenSlide's own
  ``deepzoom.DeepZoomGenerator`` tiles (``tile_size=256, overlap=0``) encoded at quality 85:
  the same bytes as Pillow's encoding of its tile, and within JPEG's error of its pixels (a
  mean absolute difference of at most 4 per channel on tiles of 64 pixels a side or more; the
  few smaller tiles, of a handful of pixels, at most 12);
* a level, column or row outside the pyramid is refused in words; the label, macro and
  thumbnail are no tile, and a stored tile carrying anything but pixels is not passed through.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import openslide
import pytest
from openslide.deepzoom import DeepZoomGenerator
from opentile import OpenTile
from PIL import Image

from fivesafes.data.synth import generate
from fivesafes.protocol.errors import NotFoundOrNoPermission
from fivesafes.slides.reading import MAX_REGION_PIXELS, Level, SlideInfo, SlideUnreadable
from fivesafes.slides.synth import write_slides
from fivesafes.slides.tile_cache import SlideFileUnreadable, SlideTiles
from fivesafes.slides.tiles import (
    DeepZoom,
    Descriptor,
    StoredTiles,
    TileNotFound,
    encode,
    only_pixels,
)

SIZE = {"width": 2048, "height": 1536, "levels": 3}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    omop = tmp_path_factory.mktemp("cdm") / "omop.duckdb"
    generate(omop, persons=1000, seed=1)
    out = tmp_path_factory.mktemp("slides")
    write_slides(omop, out, seed=2, persons_limit=2, **SIZE)
    return out


@pytest.fixture(scope="module")
def svs(made: Path) -> Path:
    return sorted((made / "slides").glob("*.svs"))[0]


@pytest.fixture
def deepzoom(svs: Path):
    opened = DeepZoom.open(svs)
    yield opened
    opened.close()


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def every_tile(deepzoom: DeepZoom):
    for level in range(deepzoom.level_count):
        cols, rows = deepzoom.level_tiles(level)
        for col in range(cols):
            for row in range(rows):
                yield level, col, row


def test_the_pyramid_is_openslides_deepzoom(deepzoom, svs):
    generator = DeepZoomGenerator(openslide.OpenSlide(str(svs)), tile_size=256, overlap=0)
    assert deepzoom.sizes == generator.level_dimensions
    assert tuple(deepzoom.level_tiles(n) for n in range(deepzoom.level_count)) == (
        generator.level_tiles
    )
    assert deepzoom.level_count == 12 and deepzoom.sizes[-1] == (2048, 1536)
    assert [n for n in range(12) if deepzoom.passthrough(n)] == [7, 9, 11]
    dzi = deepzoom.descriptor()
    assert dzi == Descriptor(2048, 1536, 256, 0, "jpeg")
    assert dzi.as_json("/slides/SLX/tiles/") == {"Image": {
        "xmlns": "http://schemas.microsoft.com/deepzoom/2008", "Url": "/slides/SLX/tiles/",
        "Format": "jpeg", "Overlap": "0", "TileSize": "256",
        "Size": {"Width": "2048", "Height": "1536"},
    }}  # fmt: skip
    assert 'TileSize="256"' in dzi.as_xml() and '<Size Width="2048" Height="1536"/>' in (
        dzi.as_xml()
    )


def test_a_stored_tile_is_passed_through_unchanged(deepzoom, svs):
    """Byte for byte opentile's stored tile; decoded, exactly OpenSlide's pixels of it."""
    stored = OpenTile.open(svs, 256)
    slide = openslide.OpenSlide(str(svs))
    checked = 0
    for level, col, row in every_tile(deepzoom):
        if not deepzoom.passthrough(level):
            continue
        k = slide.level_dimensions.index(deepzoom.sizes[level])
        w, h = deepzoom.sizes[level]
        if (col + 1) * 256 > w or (row + 1) * 256 > h:
            continue  # an edge tile: cropped, so encoded again (the next test)
        data = deepzoom.tile(level, col, row)
        assert data == stored.get_level(k).get_tile((col, row))
        scale = int(slide.level_downsamples[k])
        read = slide.read_region((col * 256 * scale, row * 256 * scale), k, (256, 256))
        assert np.array_equal(pixels(data), np.asarray(read.convert("RGB")).astype(int))
        checked += 1
    assert checked == 8 * 6 + 2 * 1  # level 0's 48 tiles, and level 1's two whole ones


def test_every_other_tile_is_deepzoomgenerators_encoded(deepzoom, svs):
    generator = DeepZoomGenerator(openslide.OpenSlide(str(svs)), tile_size=256, overlap=0)
    made = 0
    for level, col, row in every_tile(deepzoom):
        data = deepzoom.tile(level, col, row)
        theirs = generator.get_tile(level, (col, row)).convert("RGB")
        mine = pixels(data)
        assert mine.shape == (theirs.height, theirs.width, 3), (level, col, row)
        difference = np.abs(mine - np.asarray(theirs).astype(int)).mean()
        assert difference <= (4 if min(theirs.size) >= 64 else 12), (level, col, row, difference)
        if data != encode(theirs):
            assert deepzoom.passthrough(level)  # only a stored tile is other bytes
        else:
            made += 1
    assert made == sum(1 for _ in every_tile(deepzoom)) - 50


def test_a_tile_outside_the_pyramid_is_refused_in_words(deepzoom):
    for level, col, row in ((12, 0, 0), (-1, 0, 0), (11, 8, 0), (11, 0, 6), (0, 1, 0), (11, -1, 0)):
        with pytest.raises(TileNotFound) as refused:
            deepzoom.tile(level, col, row)
        assert refused.value.status == 404 and refused.value.code == "not_found"
        assert refused.value.message.startswith("The slide has no such tile")
    with pytest.raises(TileNotFound, match="columns 0 to 7 and rows 0 to 5"):
        deepzoom.tile(11, 8, 0)


def test_the_label_macro_and_thumbnail_are_no_tile(deepzoom, svs):
    """Nothing here asks for them, and no tile is one of them (by bytes or by size)."""
    words = ("label", "macro", "associated", "thumbnail", "overview")
    names = [n.lower() for n in dir(deepzoom) + dir(StoredTiles) if not n.startswith("__")]
    assert not [n for n in names if any(w in n for w in words)]
    stored = OpenTile.open(svs, 256)
    associated = [image.get_tile((0, 0)) for image in
                  (*stored.labels, *stored.overviews, *stored.thumbnails)]  # fmt: skip
    sizes = {im.size for im in openslide.OpenSlide(str(svs)).associated_images.values()}
    assert len(associated) == 3 and len(sizes) == 3
    for level, col, row in every_tile(deepzoom):
        data = deepzoom.tile(level, col, row)
        assert data not in associated
        assert Image.open(io.BytesIO(data)).size not in sizes


def test_a_stored_tile_carrying_more_than_pixels_is_encoded_again(deepzoom, svs):
    whole = OpenTile.open(svs, 256).get_level(0).get_tile((1, 1))
    assert only_pixels(whole, 256, 256)
    comment = b"\xff\xfe\x00\x16SMITH^JOAN RXH1234567"
    app1 = b"\xff\xe1\x00\x0eExif\x00\x00SMITH"
    thumbnail = b"\xff\xe0\x00\x19JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x01\x01" + b"\x00" * 7
    for tampered in (
        whole[:2] + comment + whole[2:],  # a comment
        whole[:2] + app1 + whole[2:],  # an EXIF segment
        whole[:2] + thumbnail + whole[22:],  # a JFIF header with a thumbnail
        whole + b"SMITH^JOAN",  # bytes after the end
        whole[:-2] + comment + whole[-2:],  # a comment after the scan
    ):
        assert not only_pixels(tampered, 256, 256)
    assert not only_pixels(whole, 128, 256)  # not the tile's size
    assert not only_pixels(b"GIF89a", 256, 256)

    class Tampered(StoredTiles):
        def tile(self, level: int, col: int, row: int) -> bytes:
            found = super().tile(level, col, row)
            return found[:2] + comment + found[2:]

    plain = deepzoom.tile(11, 1, 1)
    opened = StoredTiles.open_if(svs, deepzoom.info)
    assert opened is not None
    tampered = DeepZoom(deepzoom._slide, Tampered(opened._tiler, opened._levels))
    served = tampered.tile(11, 1, 1)
    assert b"SMITH" not in served and served != plain
    assert np.abs(pixels(served) - pixels(plain)).mean() < 3  # the same pixels, encoded again


def test_an_ome_tiff_is_read_by_tifffile_and_every_tile_made(made, svs):
    ome = next((made / "slides").glob("*.ome.tif"))
    opened = DeepZoom.open(ome)
    try:
        assert opened.info.format == "ome-tiff"
        assert not any(opened.passthrough(n) for n in range(opened.level_count))
        assert Image.open(io.BytesIO(opened.tile(11, 7, 5))).size == (256, 256)
        assert Image.open(io.BytesIO(opened.tile(0, 0, 0))).size == (1, 1)
    finally:
        opened.close()


class FlatSlide:
    """A slide of one level (no pyramid), one colour, counting the pixels of each read."""

    def __init__(self, width: int, height: int) -> None:
        self.info = SlideInfo("generic-tiff", (Level(width, height, 1.0),), 256, 256, 0.5, 0.5, 20)
        self.reads: list[int] = []
        self.closed = False

    def read_region(self, level, x, y, width, height):
        self.reads.append(width * height)
        return Image.new("RGB", (width, height), (200, 100, 50))

    def close(self) -> None:
        self.closed = True


def test_a_shallow_pyramid_is_read_in_parts():
    flat = FlatSlide(10_000, 9_000)
    deepzoom = DeepZoom(flat)
    level = deepzoom.level_count - 7  # a downsample of 64: a 16,384 px square behind a tile
    tile = Image.open(io.BytesIO(deepzoom.tile(level, 0, 0)))
    assert tile.size == (157, 141)  # the whole level: 10,000 / 64 by 9,000 / 64, rounded up
    assert len(flat.reads) > 1 and max(flat.reads) <= MAX_REGION_PIXELS
    assert np.abs(np.asarray(tile).astype(int) - (200, 100, 50)).max() <= 8


def test_the_cache_keeps_a_few_slides_open_and_bounded_bytes_of_tiles():
    opened: dict[str, FlatSlide] = {}

    def opener(path: Path) -> DeepZoom:
        if path.name == "gone":
            raise SlideUnreadable("not_found")
        opened[path.name] = FlatSlide(1024, 768)
        return DeepZoom(opened[path.name])

    paths = {f"SL{n:020X}": Path(f"/srv/slides/{n}") for n in range(4)}
    paths["SL" + "E" * 20] = Path("/srv/slides/gone")
    tiles = SlideTiles(paths.get, open_slides=2, cache_bytes=3_000, opener=opener)
    first = tiles.tile("SL" + "0" * 20, 10, 0, 0)
    assert first.etag.startswith('"') and tiles.tile("SL" + "0" * 20, 10, 0, 0) is first
    assert first == tiles.tile("SL" + "0" * 20, 10, 0, 0)
    for n in (1, 2):
        tiles.tile(f"SL{n:020X}", 10, 0, 0)
    assert tiles.open_count == 2 and opened["0"].closed and not opened["2"].closed
    assert tiles.cached_bytes <= 3_000
    assert tiles.descriptor(f"SL{3:020X}").width == 1024
    with pytest.raises(NotFoundOrNoPermission, match="The slide does not exist"):
        tiles.tile("SL" + "F" * 20, 0, 0, 0)
    with pytest.raises(SlideFileUnreadable) as unreadable:
        tiles.tile("SL" + "E" * 20, 0, 0, 0)
    assert "/srv" not in unreadable.value.message and unreadable.value.status == 503
    with pytest.raises(TileNotFound):
        tiles.tile(f"SL{3:020X}", 10, 4, 0)
    tiles.close()
    assert all(slide.closed for slide in opened.values())


def test_a_slide_in_use_is_closed_only_when_its_reads_end():
    gate, entered = threading.Event(), threading.Event()
    slides: list[FlatSlide] = []

    class Slow(FlatSlide):
        def read_region(self, level, x, y, width, height):
            entered.set()
            gate.wait(10)
            return super().read_region(level, x, y, width, height)

    def opener(path: Path) -> DeepZoom:
        slides.append(Slow(512, 512) if path.name == "slow" else FlatSlide(512, 512))
        return DeepZoom(slides[-1])

    names = {"SL" + "0" * 20: Path("slow"), "SL" + "1" * 20: Path("fast")}
    tiles = SlideTiles(names.get, open_slides=1, opener=opener)
    reading = threading.Thread(target=tiles.tile, args=("SL" + "0" * 20, 9, 0, 0))
    reading.start()
    assert entered.wait(10)
    tiles.tile("SL" + "1" * 20, 9, 0, 0)  # evicts the slow slide while it is read
    assert not slides[0].closed
    gate.set()
    reading.join(10)
    assert slides[0].closed and not slides[1].closed
