"""Measure a slide's field-of-view latency as a reader at another hospital sees it: through the
hub's review store (issue 16, point 5; ADR 0029), against the node's own portal serving the
same slide from its file, in the same run; record it in docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_slide_review.py                    # recorded
    .venv/bin/python benchmarks/bench_slide_review.py --views 10 --no-docs

A real hub process and a real node portal process on loopback; the node's CDM synthetic
(1,000 persons), one synthetic slide (``slides.synth``: an Aperio SVS-like file of 16,384 x
12,288 pixels in four levels) registered, the demo model run on it, and released with
``fivesafes node slides release`` (timed: the pack written and pushed).

A **field of view** is a 1,920 x 1,080 viewport at a random place of a random DeepZoom level
(of the levels at least that large): every 256-pixel tile it touches (up to 9 x 6), fetched as
a browser does, six at a time over kept-alive connections, signed in. Its latency is from the
first request to the last tile's last byte. **Cold**: views never asked before (the server
reads or makes each tile); **warm**: the same views again (the server's cache of tiles; a
browser would not even ask). The hub's tiles are written by the node before they travel, so
its cold views read a pack; the node's portal makes a tile of a level it does not store from
the level above (OpenSlide, Lanczos, JPEG).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from record import machine, update_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "slide-review"
WIDTH, HEIGHT, LEVELS = 16_384, 12_288, 4
VIEW = (1920, 1080)
TILE = 256
PARALLEL = 6  # a browser's connections to one host
NODE = "northfield"
SESSION_COOKIE = "fivesafes_session"


def views(count: int, seed: int) -> list[tuple[int, list[tuple[int, int]]]]:
    """``count`` random fields of view: (DeepZoom level, the tiles' columns and rows)."""
    from fivesafes.slides.tiles import deepzoom_sizes

    sizes = deepzoom_sizes(WIDTH, HEIGHT)
    usable = [n for n, (w, h) in enumerate(sizes) if w >= VIEW[0] and h >= VIEW[1]]
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        level = rng.choice(usable)
        w, h = sizes[level]
        x, y = rng.randrange(0, w - VIEW[0] + 1), rng.randrange(0, h - VIEW[1] + 1)
        cols = range(x // TILE, math.ceil((x + VIEW[0]) / TILE))
        rows = range(y // TILE, math.ceil((y + VIEW[1]) / TILE))
        made.append((level, [(c, r) for r in rows for c in cols]))
    return made


def field_of_view(
    pool: ThreadPoolExecutor, clients: list[httpx.Client], base: str, level: int,
    tiles: list[tuple[int, int]],
) -> float:  # fmt: skip
    """Seconds from the first request to the last tile, ``PARALLEL`` at a time."""

    def fetch(i: int, col: int, row: int) -> int:
        got = clients[i % PARALLEL].get(f"{base}/tiles/{level}/{col}_{row}.jpeg")
        got.raise_for_status()
        return len(got.content)

    started = time.perf_counter()
    list(pool.map(lambda a: fetch(*a), [(i, c, r) for i, (c, r) in enumerate(tiles)]))
    return time.perf_counter() - started


def measure(url: str, base: str, session_id: str, chosen: list) -> dict[str, list[float]]:
    clients = [httpx.Client(base_url=url, cookies={SESSION_COOKIE: session_id}, timeout=60)
               for _ in range(PARALLEL)]  # fmt: skip
    try:
        with ThreadPoolExecutor(PARALLEL) as pool:
            fetch = lambda level, tiles: field_of_view(pool, clients, base, level, tiles)  # noqa: E731
            fetch(*chosen[0])  # connections open, the slide opened: not counted
            cold = [fetch(level, tiles) for level, tiles in chosen[1:]]
            warm = [fetch(level, tiles) for level, tiles in chosen[1:]]
    finally:
        for client in clients:
            client.close()
    return {"cold": cold, "warm": warm}


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def build(root: Path, supervisor: object) -> dict[str, object]:
    """The hub, the node (its slide registered, predicted, released) and its portal."""
    from fivesafes.data.synth import generate
    from fivesafes.demo.local import CUSTODIAN, LocalFederation, edit_toml
    from fivesafes.demo.processes import free_port, wait_for_health
    from fivesafes.imaging.synth import link_persons
    from fivesafes.node.pseudonyms import load_key, pseudonym
    from fivesafes.pathology.releases import release_id
    from fivesafes.slides.synth import write_slides

    fed = LocalFederation(root, supervisor)  # type: ignore[arg-type]
    fed.start_hub("sqlite:///hub.db", None, name="bench-hub")
    omop = root / "omop.duckdb"
    generate(omop, persons=1000, seed=1)
    fed.add_node(NODE, {"engine": "duckdb", "path": str(omop)}, start=False)
    config = root / NODE / "node.toml"
    cli(["node", "pseudonym-key", "-c", str(config)])
    key = load_key(root / NODE / "pseudonym.key")
    link_persons(omop, lambda value: pseudonym(value, key))
    made = root / "made"
    write_slides(omop, made, persons_limit=1, width=WIDTH, height=HEIGHT, levels=LEVELS)
    svs = sorted((made / "slides").glob("*.svs"))
    cli(["node", "slides", "add", str(svs[0]), "-c", str(config), "--specimen-map",
         str(made / "ground-truth" / "specimen_map.csv")])  # fmt: skip
    cli(["node", "slides", "predict-demo", "-c", str(config)])
    import duckdb

    with duckdb.connect(str(omop), read_only=True) as con:
        slide = con.execute("SELECT slide_id FROM pathology_slide").fetchone()[0]
    fed.admin(lambda s: _people(s))
    project = fed.project(["alice"], [NODE], data_domains=["omop", "pathology"])
    started = time.perf_counter()
    cli(["node", "slides", "release", slide, "--project", project, "--model",
         "fivesafes-demo-colour-detector", "-c", str(config), "--by", CUSTODIAN])  # fmt: skip
    released = time.perf_counter() - started
    listed = json.loads(cli(["node", "slides", "releases", "-c", str(config), "--json"]))
    # the node's portal, for the reference path
    port = free_port()
    edit_toml(config, "portal", port=port)
    edit_toml(config, "accounts", secure_cookies=False)
    process = fed.supervisor.start(f"{NODE}-portal", ["node", "portal", "--config", str(config)],
                                   root / NODE / "portal.log")  # fmt: skip
    node_url = f"http://127.0.0.1:{port}"
    wait_for_health(node_url, process)
    hub = fed.hub()
    try:
        account = hub.read(lambda s: hub.account_store.require(s, "alice"))
        hub_session, _ = hub.accounts.create_session(account)
    finally:
        hub.stop()
    node = fed.node_service(NODE)
    try:
        account = node.read(lambda s: node.account_store.require(s, CUSTODIAN))
        node_session, _ = node.accounts.create_session(account)
    finally:
        node.stop()
    return {
        "hub_url": fed.hub_url, "node_url": node_url, "hub_session": hub_session,
        "node_session": node_session, "slide": slide,
        "review": release_id(key, project, slide), "released_seconds": released,
        "pack_bytes": listed[0]["bytes"],
    }  # fmt: skip


def _people(session: object) -> None:
    from fivesafes.demo.local import ADMIN
    from fivesafes.hub.people import create_user

    create_user(session, username="alice", display_name="Alice", roles=["researcher"],  # type: ignore[arg-type]
                accredited_until=dt.date.today() + dt.timedelta(days=365), by=ADMIN)  # fmt: skip


def cli(args: list[str]) -> str:
    import subprocess

    from fivesafes.demo.processes import fivesafes_command

    done = subprocess.run(fivesafes_command(*args), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"fivesafes {' '.join(args[:3])} failed: {done.stdout}{done.stderr}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    from fivesafes.demo.processes import Supervisor

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", type=int, default=60, help="fields of view (and one first)")
    parser.add_argument("--no-docs", action="store_true", help="print, do not record")
    args = parser.parse_args(argv)
    chosen = views(args.views + 1, seed=7)
    with tempfile.TemporaryDirectory(prefix="slide-review-") as scratch, Supervisor() as sup:
        world = build(Path(scratch), sup)
        hub = measure(str(world["hub_url"]), f"/review/slides/{world['review']}",
                      str(world["hub_session"]), chosen)  # fmt: skip
        node = measure(str(world["node_url"]), f"/slides/{world['slide']}",
                       str(world["node_session"]), chosen)  # fmt: skip
    tiles = statistics.mean(len(t) for _, t in chosen[1:])
    rows = []
    for name, got in (("hub review store (the reader at another hospital)", hub),
                      ("node portal, from the slide's file (reference)", node)):  # fmt: skip
        for kind in ("cold", "warm"):
            ms = [v * 1000 for v in got[kind]]
            rows.append(f"| {name} | {kind} | {quantile(ms, 0.5):.0f} | {quantile(ms, 0.95):.0f} "
                        f"| {max(ms):.0f} |")  # fmt: skip
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join([
        "### Slide field of view across hospitals (`benchmarks/bench_slide_review.py`)",
        "",
        f"{when}; {machine()}; load average {Path('/proc/loadavg').read_text().split()[0]}.",
        f"A synthetic {WIDTH:,} {chr(215)} {HEIGHT:,} Aperio slide released with "
        f"`fivesafes node slides release` in {world['released_seconds']:.1f} s (pack "
        f"{int(world['pack_bytes']) / 1e6:.1f} MB, written and pushed in 512 KiB chunks). "
        f"{args.views} random fields of view of {VIEW[0]} {chr(215)} {VIEW[1]} pixels "
        f"(mean {tiles:.0f} tiles of 256 pixels), fetched six at a time, signed in; "
        "cold: never asked before; warm: the same again. Goal: p95 < 250 ms warm.",
        "",
        "| path | cache | p50 ms | p95 ms | max ms |",
        "| --- | --- | ---: | ---: | ---: |",
        *rows,
    ])  # fmt: skip
    print(text)
    if not args.no_docs:
        update_section(SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
