"""A slide's release pack (``fivesafes.slides.pack``) and a reader's viewport trail
(``fivesafes.pathology.trail``): unit tests on a synthetic slide.

* the pack holds every DeepZoom tile of the slide, the node's own bytes for each (passthrough
  tiles unchanged), and the predictions chosen; opened again it serves them as the node does,
  with the same descriptor; a tile outside the pyramid is refused in words;
* a file that is not a pack (a slide file itself, a pack of another version, a pack with a
  table more, facts out of bounds) is refused without being served; a pack is written whole
  or not at all;
* the trail gathers one reader's tiles of one slide and level within a window into one entry
  (their bounding region, how many, first and last time), keeps readers, slides and levels
  apart, and gives every entry once.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fivesafes.data.synth import generate
from fivesafes.pathology.trail import ViewportTrail
from fivesafes.slides.pack import (
    PackFacts,
    PackPrediction,
    PackUnreadable,
    TilePack,
    write_pack,
)
from fivesafes.slides.synth import write_slides
from fivesafes.slides.tile_cache import SlideTiles
from fivesafes.slides.tiles import DeepZoom, TileNotFound

FACTS = PackFacts(width=2048, height=1536, stain="H&E", mpp_x=0.25, mpp_y=0.25,
                  objective_power=40.0, stored_levels=3)  # fmt: skip


@pytest.fixture(scope="module")
def slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    omop = tmp_path_factory.mktemp("cdm") / "omop.duckdb"
    generate(omop, persons=1000, seed=1)
    out = tmp_path_factory.mktemp("slides")
    write_slides(omop, out, persons_limit=1, width=2048, height=1536, levels=3)
    return sorted((out / "slides").glob("*.svs"))[0]


@pytest.fixture(scope="module")
def pack(slide: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("pack") / "slide.pack"
    geojson = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {
        "type": "Point", "coordinates": [10, 20]}, "properties": {"classification": {
        "name": "Tumour"}}}]}  # fmt: skip
    prediction = PackPrediction(
        "PR" + "A" * 20, "demo", "1", datetime(2026, 12, 7, 9, 0), 1, "Tumour", 32.0,
        zlib.compress(json.dumps(geojson).encode()), b"\x89PNG not really",
    )  # fmt: skip
    deepzoom = DeepZoom.open(slide)
    seen: list[tuple[int, int]] = []
    try:
        written = write_pack(deepzoom, FACTS, [prediction], target,
                             progress=lambda d, t: seen.append((d, t)))  # fmt: skip
    finally:
        deepzoom.close()
    assert seen and seen[-1] == (written, written)
    return target


def test_the_pack_serves_every_tile_as_the_node_does(slide, pack):
    deepzoom = DeepZoom.open(slide)
    opened = TilePack.open(pack)
    try:
        assert opened.descriptor() == deepzoom.descriptor()
        assert opened.level_count == deepzoom.level_count
        for level in range(deepzoom.level_count):
            cols, rows = deepzoom.level_tiles(level)
            assert opened.level_tiles(level) == (cols, rows)
            for col in range(cols):
                for row in range(rows):
                    assert opened.tile(level, col, row) == deepzoom.tile(level, col, row)
        with pytest.raises(TileNotFound, match="no such tile"):
            opened.tile(deepzoom.level_count, 0, 0)
        with pytest.raises(TileNotFound, match="no such tile"):
            opened.tile(0, 5, 0)
        assert opened.facts == FACTS
        [listed] = opened.predictions()
        assert (listed.model, listed.features, listed.heatmap_scale) == ("demo", 1, 32.0)
        found = opened.prediction(listed.prediction_id)
        assert found is not None and json.loads(zlib.decompress(found.geojson))["features"]
        assert opened.prediction("PR" + "B" * 20) is None
    finally:
        opened.close()
        deepzoom.close()


def test_the_tile_cache_serves_a_pack(pack):
    tiles = SlideTiles(lambda rid: pack if rid == "SL" + "1" * 20 else None, opener=TilePack.open)
    try:
        first = tiles.tile("SL" + "1" * 20, 11, 0, 0)
        assert first.data[:2] == b"\xff\xd8"
        tiles.forget("SL" + "1" * 20)
        assert tiles.open_count == 0 and tiles.cached_bytes == 0
    finally:
        tiles.close()


def _copy(pack: Path, target: Path, sql: str) -> Path:
    target.write_bytes(pack.read_bytes())
    with sqlite3.connect(target) as con:
        con.execute(sql)
    return target


def test_what_is_not_a_pack_is_refused(slide, pack, tmp_path):
    with pytest.raises(PackUnreadable):
        TilePack.open(slide)
    with pytest.raises(PackUnreadable):
        TilePack.open(_copy(pack, tmp_path / "v2.pack",
                            "UPDATE pack SET value = '2' WHERE key = 'version'"))  # fmt: skip
    with pytest.raises(PackUnreadable):
        TilePack.open(_copy(pack, tmp_path / "more.pack", "CREATE TABLE label (data BLOB)"))
    big = json.dumps({**FACTS.__dict__, "width": 10**9})
    with pytest.raises(PackUnreadable):
        TilePack.open(_copy(pack, tmp_path / "big.pack",
                            f"UPDATE pack SET value = '{big}' WHERE key = 'facts'"))  # fmt: skip


def test_a_pack_is_written_whole_or_not_at_all(slide, tmp_path):
    class Broken:
        level_count = 12

        def level_tiles(self, level: int) -> tuple[int, int]:
            return 1, 1

        def tile(self, level: int, col: int, row: int) -> bytes:
            if level == 5:
                raise OSError("the disk went away")
            return b"tile"

    target = tmp_path / "broken.pack"
    with pytest.raises(OSError, match="went away"):
        write_pack(Broken(), FACTS, [], target)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())
    target.write_bytes(b"")
    with pytest.raises(FileExistsError):
        write_pack(Broken(), FACTS, [], target)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.tick = 0.0

    def monotonic(self) -> float:
        return self.tick

    def now(self) -> datetime:
        return datetime(2026, 12, 7, tzinfo=UTC).replace(microsecond=int(self.tick * 1000) % 10**6)


def test_the_trail_gathers_a_field_of_view_into_one_entry():
    clock = Clock()
    trail = ViewportTrail(window=1.0, monotonic=clock.monotonic, now=clock.now)
    for col in range(3):
        for row in range(2):
            trail.saw("alice", "SL1", "p1", 11, (col * 256, row * 256, 256, 256))
    trail.saw("alice", "SL1", "p1", 10, (0, 0, 512, 512))
    trail.saw("bob", "SL1", "p1", 11, (0, 0, 256, 256))
    assert trail.due() == []  # the window is open
    clock.tick = 0.5
    trail.saw("alice", "SL1", "p1", 11, (768, 0, 100, 256))  # the edge tile
    clock.tick = 1.2
    trail.saw("alice", "SL1", "p1", 11, (0, 0, 256, 256))  # a new window
    entries = {(e.reader, e.level, e.tiles): e for e in trail.due()}
    assert set(entries) == {("alice", 11, 7), ("alice", 10, 1), ("bob", 11, 1)}
    assert entries[("alice", 11, 7)].region == (0, 0, 868, 512)
    assert entries[("alice", 11, 7)].details()["region"] == [0, 0, 868, 512]
    assert trail.due() == []
    [last] = trail.due(everything=True)
    assert (last.reader, last.tiles, last.region) == ("alice", 1, (0, 0, 256, 256))
    assert trail.due(everything=True) == []
