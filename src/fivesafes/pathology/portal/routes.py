"""The slides' pages (``/slides/...``, or wherever the site's ``prefix`` says): the registered
slides (and as CSV), a slide in the viewer, its DeepZoom descriptor and its tiles, and the AI
predictions drawn over it (their list, each one's vector annotations as GeoJSON and its heatmap
as a grey PNG). Handlers are plain functions (run in worker threads: a tile may be read and
encoded while others are).

Who comes before what: whether the signed-in person may look at slides here is checked first
(a refusal in words); then whether the slide exists, one answer ("does not exist or you do not
have permission") for an id no slide has, and the same for a prediction that is not the
slide's; then the tile asked for (a level, column or row outside the slide's pyramid: "not
found", in words, never echoing what was typed). A slide is
named by its pseudonymous id only: no page, URL, header or error carries where its file is
(the server reads that from ``pathology_slide_file`` when it opens the file), nor anything of
the file but the allow-list (``reading``): no label, macro, thumbnail, metadata or file name.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from fivesafes.pathology.portal.site import SlidesSite
from fivesafes.protocol.errors import NotFoundOrNoPermission
from fivesafes.slides.catalogue import SLIDE_ID, SlideFacts
from fivesafes.slides.overlays import PREDICTION_ID, PredictionFacts
from fivesafes.slides.tiles import MAX_INDEX, TileNotFound

TILE_CACHE = "private, max-age=3600"  # a tile's bytes never change for its id (an ETag too)
PREDICTION_CACHE = "private, max-age=3600"  # nor a prediction's (a model run is imported once)
LIST_CACHE = "private, no-cache"  # predictions may be imported while the page is open
NOSNIFF = {"X-Content-Type-Options": "nosniff"}
CSV_COLUMNS = ("slide_id", "stain", "format", "width", "height", "levels", "mpp_x", "mpp_y",
               "objective_power", "linked", "link", "registered_at")  # fmt: skip
LINKS = {
    "linked": "linked to a person",
    "no_map": "not linked: the specimen map did not name the file",
    "no_match": "not linked: no person has the identifier the map gave",
    "ambiguous": "not linked: more than one person has the identifier the map gave",
}
TIMES = " \u00d7 "  # the multiplication sign, between spaces
_NUMBER = re.compile(r"[0-9]{1,7}")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def slides_router(site: SlidesSite) -> APIRouter:
    """The slides' pages for one service (``site``), to mount on its portal app."""
    base = site.prefix
    router = APIRouter(prefix=base, include_in_schema=False)
    session = Depends(site.signed_in)

    def facts(slide_id: str, web: Any) -> SlideFacts:
        catalogue = site.catalogue_for(web)
        found = catalogue.slide(slide_id) if SLIDE_ID.fullmatch(slide_id) else None
        if found is None:
            raise NotFoundOrNoPermission("slide")
        return found

    @router.get("")
    def listing(request: Request, web: Any = session) -> Response:
        """The registered slides, by id."""
        site.check_view(web)
        slides = [shown(s) for s in site.catalogue_for(web).slides()]
        return site.page(request, web, "slides/list.html", title="Slides", slides=slides,
                         base=base, released=site.released)  # fmt: skip

    @router.get(".csv")
    def listing_csv(web: Any = session) -> Response:
        """The same list as CSV (text a spreadsheet would run as a formula is quoted)."""
        site.check_view(web)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for s in site.catalogue_for(web).slides():
            writer.writerow([
                s.slide_id, _safe(s.stain or ""), _safe(s.format), s.width, s.height,
                s.level_count, _number(s.mpp_x), _number(s.mpp_y), _number(s.objective_power),
                "yes" if s.linked else "no", _safe(s.link),
                s.registered_at.isoformat(timespec="seconds") if s.registered_at else "",
            ])  # fmt: skip
        headers = {"Content-Disposition": 'attachment; filename="slides.csv"',
                   "Cache-Control": "no-store"}  # fmt: skip
        return Response(out.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers=headers)  # fmt: skip

    @router.get("/{slide_id}")
    def viewer(slide_id: str, request: Request, web: Any = session) -> Response:
        """The slide in the viewer, its allow-listed facts beside it."""
        site.check_view(web)
        found = facts(slide_id, web)
        return site.page(
            request, web, "slides/viewer.html", title=f"Slide {found.slide_id}",
            slide=shown(found), base=base, released=site.released,
            dzi=f"{base}/{found.slide_id}/dzi.json",
            predictions=f"{base}/{found.slide_id}/predictions.json",
        )  # fmt: skip

    @router.get("/{slide_id}/dzi.json")
    def descriptor(slide_id: str, web: Any = session) -> Response:
        """The slide's DeepZoom descriptor, as OpenSeadragon takes it (a DZI as JSON)."""
        site.check_view(web)
        found = facts(slide_id, web)
        dzi = site.tiles.descriptor(found.slide_id)
        return JSONResponse(
            dzi.as_json(f"{base}/{found.slide_id}/tiles/"),
            headers={"Cache-Control": "no-store", **NOSNIFF},
        )

    @router.get("/{slide_id}/tiles/{level}/{col}_{row}.jpeg")
    def tile(
        slide_id: str, level: str, col: str, row: str, request: Request, web: Any = session
    ) -> Response:
        """A DeepZoom tile (JPEG). The slide's existence is its file's: a cached tile is
        served without reading the register again. Once served (or answered 304), the site's
        ``on_tile`` hears of it."""
        site.check_view(web)
        if not SLIDE_ID.fullmatch(slide_id):
            raise NotFoundOrNoPermission("slide")
        if site.visible is not None:  # who may see which slide depends on who asks
            facts(slide_id, web)
        where = _index(level), _index(col), _index(row)
        found = site.tiles.tile(slide_id, *where)
        headers = {"Cache-Control": TILE_CACHE, "ETag": found.etag, **NOSNIFF}
        if found.etag in _tags(request.headers.get("if-none-match", "")):
            answer = Response(status_code=304, headers=headers)
        else:
            answer = Response(found.data, media_type="image/jpeg", headers=headers)
        if site.on_tile is not None:
            site.on_tile(web, slide_id, *where)
        return answer

    @router.get("/{slide_id}/predictions.json")
    def predictions(slide_id: str, web: Any = session) -> Response:
        """The slide's AI predictions, newest run first, with where each one's annotations
        and heatmap are."""
        site.check_view(web)
        found = facts(slide_id, web)
        listed = site.overlays.predictions(found.slide_id)
        here = f"{base}/{found.slide_id}/predictions"
        body = {
            "slide": {"id": found.slide_id, "width": found.width, "height": found.height},
            "predictions": [listing_of(p, f"{here}/{p.prediction_id}") for p in listed],
        }
        return JSONResponse(body, headers={"Cache-Control": LIST_CACHE, **NOSNIFF})

    def prediction_data(
        slide_id: str, prediction_id: str, web: Any, read: Callable[..., bytes | None],
        media_type: str,
    ) -> Response:  # fmt: skip
        """A prediction's stored data (``read``: the overlay source's), checked as every route."""
        site.check_view(web)
        found = facts(slide_id, web)
        data = read(found.slide_id, _prediction(prediction_id))
        if data is None:
            raise NotFoundOrNoPermission("prediction")
        headers = {"Cache-Control": PREDICTION_CACHE, **NOSNIFF}
        return Response(data, media_type=media_type, headers=headers)

    @router.get("/{slide_id}/predictions/{prediction_id}/annotations.json")
    def annotations(slide_id: str, prediction_id: str, web: Any = session) -> Response:
        """A prediction's vector annotations: a GeoJSON FeatureCollection in level-0 pixels."""
        return prediction_data(slide_id, prediction_id, web, site.overlays.annotations,
                               "application/geo+json")  # fmt: skip

    @router.get("/{slide_id}/predictions/{prediction_id}/heatmap.png")
    def heatmap(slide_id: str, prediction_id: str, web: Any = session) -> Response:
        """A prediction's heatmap: an 8-bit grey PNG, 0 to 255 for a score of 0 to 1."""
        return prediction_data(slide_id, prediction_id, web, site.overlays.heatmap, "image/png")

    return router


def shown(s: SlideFacts) -> dict[str, Any]:
    """A slide's facts in words, as the pages show them."""
    mpp = s.mpp_x if s.mpp_x is not None else s.mpp_y
    mpp_y = s.mpp_y if s.mpp_y is not None else mpp
    same = mpp is None or mpp_y is None or abs(mpp - mpp_y) < 1e-6
    registered = s.registered_at  # written in UTC, without its zone (register.write_slides)
    if registered is not None and registered.tzinfo is None:
        registered = registered.replace(tzinfo=UTC)
    return {
        "id": s.slide_id,
        "stain": s.stain or "",
        "format": s.format,
        "size": f"{s.width:,}{TIMES}{s.height:,}",
        "physical": f"{s.width * mpp / 1000:.2f}{TIMES}{s.height * mpp_y / 1000:.2f} mm"
        if mpp and mpp_y
        else "",
        "levels": s.level_count,
        "mpp": mpp,
        "mpp_text": "" if not mpp else f"{mpp:.3f}" if same else f"{mpp:.3f}{TIMES}{mpp_y:.3f}",
        "objective": s.objective_power,
        "objective_text": f"{s.objective_power:g}\u00d7" if s.objective_power else "",
        "linked": s.linked,
        "link_text": LINKS.get(s.link, "not linked"),
        "registered_at": registered,
    }


def listing_of(p: PredictionFacts, url: str) -> dict[str, Any]:
    """A prediction as the viewer's panel lists it (its run time in UTC)."""
    run_at = p.run_at if p.run_at.tzinfo else p.run_at.replace(tzinfo=UTC)
    return {
        "id": p.prediction_id,
        "model": p.model,
        "version": p.version,
        "run_at": run_at.isoformat(timespec="seconds"),
        "features": p.features,
        "classes": list(p.classes),
        "heatmap": p.heatmap,
        "heatmap_scale": p.heatmap_scale,
        "annotations_url": f"{url}/annotations.json" if p.features else None,
        "heatmap_url": f"{url}/heatmap.png" if p.heatmap else None,
    }


def _prediction(text: str) -> str:
    if not PREDICTION_ID.fullmatch(text):
        raise NotFoundOrNoPermission("prediction")
    return text


def _index(text: str) -> int:
    if not _NUMBER.fullmatch(text) or int(text) > MAX_INDEX:
        raise TileNotFound(
            "The slide has no such tile: a tile is named by its level, column and row, each a "
            "whole number from 0 (as in 0/0_0.jpeg)."
        )
    return int(text)


def _tags(header: str) -> set[str]:
    """The entity tags of an If-None-Match header (weak ones compared as strong: the bytes
    are one's own)."""
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


def _safe(text: str) -> str:
    """``text`` as a spreadsheet shows it, never run as a formula (as the results' CSV)."""
    return f"'{text}" if text.startswith(_FORMULA) else text


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"
