"""Measure how the slide viewer draws 10,000 AI annotations over a slide: time to their first
paint, and frame times while panning and zooming, in Chromium against a real node portal;
record it in docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_slide_annotations.py                     # recorded
    .venv/bin/python benchmarks/bench_slide_annotations.py --runs 2 --no-docs

The slide is synthetic (``fivesafes.slides.synth.write_slides``: an Aperio SVS-like file of
8,192 x 6,144 pixels, three levels), made once in ``--workdir``, registered at a node with the
real ``fivesafes node slides add``. The prediction: ``--features`` annotations (seeded) in four
classes, nine in ten random polygons of 6 to 20 vertices (a jittered circle of 8 to 150 level-0
pixels' radius) and one in ten points, checked and kept as any import is
(``predictions.read_annotations``, ``record_prediction``). A real hub and ``fivesafes node
portal`` process on loopback; the viewer opened by the node's custodian (a session made by its
accounts service, as a sign-in makes it) in Debian's Chromium (headless, no GPU), a new browser
context each run (nothing cached), 1,400 x 900 pixels.

- **first paint**: navigation start to the viewer's ``annotations-painted`` mark (the page, the
  slide's descriptor, the predictions' list, the GeoJSON fetched and parsed into typed arrays
  and its grid index, the first frame drawn over the whole slide), and when the GeoJSON had
  arrived (its resource timing);
- **frames**: the time between animation frames (``requestAnimationFrame``) while the mouse
  drags the slide about and the wheel zooms in and out (the same moves every run), with the
  annotations on and then off (the viewer's tiles alone); and the time each frame spent
  drawing the annotations (``window.slideOverlay.ms``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from record import machine, update_section

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "slide-annotations"
WIDTH, HEIGHT, LEVELS = 8192, 6144, 3
CLASSES = ("Tumor", "Stroma", "Immune cells", "Necrosis")
NODE = "northfield"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEW = {"width": 1400, "height": 900}
RECORD = """() => {
  const seen = window.frameTimes = {deltas: [], draws: [], renders: [], stop: false};
  const start = window.slideOverlay || {};
  let last = performance.now(), frames = start.frames || 0, renders = start.renders || 0;
  function tick(now) {
    seen.deltas.push(now - last);
    last = now;
    const overlay = window.slideOverlay || {};
    if (overlay.painted && overlay.frames !== frames) {
      frames = overlay.frames;
      if (overlay.renders !== renders) {  // drawn again into the cache, then copied
        renders = overlay.renders;
        seen.renders.push(overlay.ms);
      } else {  // the cache copied
        seen.draws.push(overlay.ms);
      }
    }
    if (!seen.stop) { requestAnimationFrame(tick); }
  }
  requestAnimationFrame(tick);
}"""
FIRST_PAINT = """() => {
  const at = name => performance.getEntriesByName(name)[0].startTime;
  const data = performance.getEntriesByType('resource')
    .find(e => e.name.endsWith('/annotations.json'));
  return {paint: at('annotations-painted'), parsed: at('annotations-parsed'),
          asked: data.startTime, fetched: data.responseEnd, bytes: data.decodedBodySize,
          overlay: window.slideOverlay};
}"""


def run(*args: str, cwd: Path | None = None) -> str:
    from fivesafes.demo.processes import fivesafes_command

    done = subprocess.run(fivesafes_command(*args), capture_output=True, text=True, cwd=cwd)
    if done.returncode != 0:
        raise SystemExit(f"fivesafes {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def make_slides(workdir: Path) -> tuple[Path, Path]:
    """The CDM and the synthetic slides (made once; kept in ``workdir``)."""
    from fivesafes.data.synth import generate
    from fivesafes.slides.synth import write_slides

    made = workdir / f"slides-{WIDTH}x{HEIGHT}"
    omop = workdir / "omop.duckdb"
    if not (made / "slides").is_dir() or not omop.is_file():
        workdir.mkdir(parents=True, exist_ok=True)
        omop.unlink(missing_ok=True)
        generate(omop, persons=1000, seed=1)
        started = time.perf_counter()
        write_slides(omop, made, seed=1, persons_limit=1, width=WIDTH, height=HEIGHT,
                     levels=LEVELS)  # fmt: skip
        print(f"slides written in {time.perf_counter() - started:.0f} s", flush=True)
    return omop, made


def features(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` annotations over the slide: polygons of 6 to 20 vertices, one in ten points."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        name = CLASSES[rng.choices(range(len(CLASSES)), weights=(4, 3, 2, 1))[0]]
        x, y = rng.uniform(200, WIDTH - 200), rng.uniform(200, HEIGHT - 200)
        if n % 10 == 9:
            geometry: dict[str, Any] = {"type": "Point", "coordinates": [x, y]}
        else:
            radius = math.exp(rng.uniform(math.log(8), math.log(150)))
            sides = rng.randint(6, 20)
            ring = []
            for i in range(sides):
                angle = 2 * math.pi * i / sides
                r = radius * rng.uniform(0.7, 1.3)
                ring.append([round(x + r * math.cos(angle), 1), round(y + r * math.sin(angle), 1)])
            geometry = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
        properties = {"classification": {"name": name}, "score": round(rng.random(), 3)}
        out.append({"type": "Feature", "geometry": geometry, "properties": properties})
    return out


def build(root: Path, supervisor: Any, args: argparse.Namespace) -> dict[str, Any]:
    """A hub, the node with the slide registered and the annotations imported, its portal; the
    custodian's session."""
    import duckdb

    from fivesafes.demo.local import CUSTODIAN, LocalFederation
    from fivesafes.slides.predictions import read_annotations, record_prediction
    from fivesafes.slides.reading import open_slide

    omop, made = make_slides(args.workdir)
    cdm = root / "node.duckdb"
    cdm.write_bytes(omop.read_bytes())
    fed = LocalFederation(root, supervisor)
    fed.start_hub()
    fed.add_node(NODE, {"engine": "duckdb", "path": str(cdm)}, start=False)
    config = str(root / NODE / "node.toml")
    run("node", "pseudonym-key", "-c", config)
    run("node", "slides", "add", str(made / "slides"), "-c", config)
    with duckdb.connect(str(cdm)) as con:
        slide_id, path = con.execute(
            "SELECT slide_id, path FROM pathology_slide_file WHERE path LIKE '%.svs' "
            "ORDER BY slide_id LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        slide = open_slide(Path(path))
        info = slide.info
        slide.close()
        document = {"type": "FeatureCollection", "features": features(args.features, args.seed)}
        checked = read_annotations(json.dumps(document).encode(), info)
        now = dt.datetime.now(dt.UTC)
        record_prediction(con, slide_id, model="bench-random-shapes", version="1", run_at=now,
                          annotations=checked, heatmap=None, now=now)  # fmt: skip
    service = fed.node_service(NODE)
    try:
        account = service.read(lambda s: service.account_store.require(s, CUSTODIAN))
        session, _csrf = service.accounts.create_session(account)
    finally:
        service.stop()
    url = fed.start_node_portal(NODE, secure_cookies=False)
    vertices = sum(
        len(f["geometry"]["coordinates"][0]) for f in checked.features
        if f["geometry"]["type"] == "Polygon"
    )  # fmt: skip
    return {"url": url, "session": session, "slide_id": slide_id, "classes": checked.classes,
            "vertices": vertices}  # fmt: skip


def move_about(page: Any) -> None:
    """The same drags and wheel zooms every time: over the whole slide, in, about, and out."""
    box = page.locator("#slide-viewer").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    for turn in range(3):
        page.mouse.down()
        page.mouse.move(cx + 220, cy + 120 * (-1) ** turn, steps=25)
        page.mouse.up()
        for _ in range(4):  # zoom in, a step at a time
            page.mouse.wheel(0, -240)
            page.wait_for_timeout(120)
        page.mouse.down()
        page.mouse.move(cx - 200, cy - 80, steps=25)
        page.mouse.up()
        for _ in range(4):
            page.mouse.wheel(0, 240)
            page.wait_for_timeout(120)
        page.mouse.move(cx, cy)
    page.wait_for_timeout(700)  # the last animation


def frames(page: Any) -> dict[str, list[float]]:
    """Frame times, and the annotations' drawing times (copies and renders), while moving."""
    page.evaluate(RECORD)
    move_about(page)
    result: dict[str, list[float]] = page.evaluate(
        "() => { window.frameTimes.stop = true; return window.frameTimes; }"
    )
    return {"deltas": result["deltas"][1:], "draws": result["draws"],
            "renders": result["renders"]}  # fmt: skip


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from fivesafes.demo.processes import Supervisor
    from fivesafes.web.signin import SESSION_COOKIE

    with tempfile.TemporaryDirectory(prefix="bench-annotations-") as scratch, Supervisor() as sup:
        world = build(Path(scratch), sup, args)
        page_url = f"{world['url']}/slides/{world['slide_id']}"
        runs = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            for n in range(args.runs):
                context = browser.new_context(viewport=VIEW)
                context.add_cookies([{"name": SESSION_COOKIE, "value": world["session"],
                                      "url": world["url"]}])  # fmt: skip
                page = context.new_page()
                page.goto(page_url)
                page.wait_for_function(
                    "() => window.slideOverlay && window.slideOverlay.painted", timeout=60_000
                )
                first = page.evaluate(FIRST_PAINT)
                page.wait_for_timeout(500)  # the slide's first tiles
                on = frames(page)
                page.get_by_role("switch", name="Show the annotations").uncheck()
                page.wait_for_function("() => !window.slideOverlay.painted")
                page.get_by_role("button", name="Whole slide").click()
                page.wait_for_timeout(700)
                off = frames(page)
                context.close()
                runs.append({"first": first, "on": on, "off": off})
                print(f"run {n + 1}: first paint {first['paint']:.0f} ms (GeoJSON asked for at "
                      f"{first['asked']:.0f} ms, in at {first['fetched']:.0f}, parsed at "
                      f"{first['parsed']:.0f}), {first['overlay']['drawn']:,} drawn; frames "
                      f"p50 {pct(on['deltas'], 50):.1f} / p95 {pct(on['deltas'], 95):.1f} ms "
                      f"(annotations off: {pct(off['deltas'], 50):.1f} / "
                      f"{pct(off['deltas'], 95):.1f}); {len(on['renders'])} renders, p95 "
                      f"{pct(on['renders'], 95):.1f} ms", flush=True)  # fmt: skip
            browser.close()
    return {"world": world, "runs": runs}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def spread(values: list[float], unit: str = " ms") -> str:
    return f"{min(values):,.0f}{DASH}{max(values):,.0f}{unit}"


def report(figures: dict[str, Any], loads: tuple[float, float], args: argparse.Namespace) -> str:
    runs = figures["runs"]
    world = figures["world"]
    firsts = [r["first"] for r in runs]
    timeline = {key: [f[key] for f in firsts] for key in ("asked", "fetched", "parsed", "paint")}
    first = firsts[0]
    on = [d for r in runs for d in r["on"]["deltas"]]
    off = [d for r in runs for d in r["off"]["deltas"]]
    copies = [d for r in runs for d in r["on"]["draws"]]
    renders = [d for r in runs for d in r["on"]["renders"]]
    classes: Counter[str] = world["classes"]
    points = args.features // 10

    def over(values: list[float]) -> str:
        return f"{sum(1 for d in values if d > 50) / max(1, len(values)):.1%}"

    def step(label: str, key: str) -> str:
        values = timeline[key]
        return f"| {label} | {statistics.median(values):,.0f} ms | {spread(values)} |"

    return "\n".join([
        "## Slide annotations in the viewer (`benchmarks/bench_slide_annotations.py`)",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine()}. Load average (1 min) "
        f"{loads[0]:.1f} at the start and {loads[1]:.1f} at the end (a shared machine: the "
        "portal, the browser and the script share its CPUs).",
        "",
        f"One synthetic slide of {WIDTH:,} x {HEIGHT:,} pixels with a prediction of "
        f"{args.features:,} annotations (seed {args.seed}): {args.features - points:,} random "
        f"polygons of 6 to 20 vertices ({world['vertices']:,} vertices) and {points:,} points, "
        f"in {len(classes)} classes ({', '.join(f'{k} {v:,}' for k, v in classes.most_common())}); "
        f"the GeoJSON served is {first['bytes'] / 1024**2:.1f} MiB. A real node portal on "
        f"loopback; Debian's Chromium, headless, no GPU (`{' '.join(FLAGS[1:])}`), a "
        f"{VIEW['width']:,} x {VIEW['height']:,} window, a new browser context each of "
        f"{len(runs)} runs.",
        "",
        "Opening the viewer, from the navigation's start:",
        "",
        "| | median | range |",
        "| --- | ---: | ---: |",
        step("the GeoJSON asked for (after the page and the predictions' list)", "asked"),
        step("the GeoJSON in", "fetched"),
        step("parsed into typed arrays, grid index built (`annotations-parsed`)", "parsed"),
        f"| **first paint of the annotations** (`annotations-painted`) | "
        f"**{statistics.median(timeline['paint']):,.0f} ms** | {spread(timeline['paint'])} |",
        "",
        f"Over the whole slide the first paint drew {first['overlay']['drawn']:,} of "
        f"{first['overlay']['inView']:,} features ({first['overlay']['merged']:,} merged into a "
        "dot drawn already): features under 2 screen pixels are dots, vertices closer than 1 "
        "pixel are skipped, shapes under 8 pixels are outlined only.",
        "",
        "Frames while the mouse drags the slide about and the wheel zooms in and out (the same "
        f"moves each run; {len(on):,} frames with the annotations, {len(off):,} without):",
        "",
        "| | frame p50 | frame p95 | frames over 50 ms |",
        "| --- | ---: | ---: | ---: |",
        f"| annotations on | **{pct(on, 50):.1f} ms** | **{pct(on, 95):.1f} ms** | {over(on)} |",
        f"| annotations off (the tiles alone) | {pct(off, 50):.1f} ms | {pct(off, 95):.1f} ms | "
        f"{over(off)} |",
        "",
        f"- Drawing the annotations in a frame: copying the cache, p50 {pct(copies, 50):.1f} ms, "
        f"p95 {pct(copies, 95):.1f} ms ({len(copies):,} frames; the page's clock counts in "
        "0.1 ms); drawing the cache again "
        f"(the view and a margin, after a zoom settles or a pan leaves it), p50 "
        f"{pct(renders, 50):.0f} ms, p95 {pct(renders, 95):.0f} ms ({len(renders):,} times).",
        "- Frame times are the browser's animation frames (60 a second at most), so about "
        "16.7 ms is as fast as it goes; with no GPU, Chromium rasterises the canvases and tiles "
        "in software on the same 2 CPUs.",
    ])  # fmt: skip


DASH = "\u2013"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--features", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "fivesafes-bench-slide-annotations",
        help="where the CDM and slide are made once and kept",
    )
    parser.add_argument("--docs", type=Path, default=DOCS, help="markdown file to update")
    parser.add_argument("--no-docs", action="store_true", help="only print the figures")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print("Debian's chromium is missing: run bash scripts/browser.sh", file=sys.stderr)
        return 1
    load_start = os.getloadavg()[0]
    figures = measure(args)
    markdown = report(figures, (load_start, os.getloadavg()[0]), args)
    print(markdown)
    if not args.no_docs:
        update_section(SECTION, markdown, args.docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
