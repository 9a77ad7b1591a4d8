"""The review store's slides in the hub's portal (``/review/slides``): the slides pages of
``fivesafes.pathology.portal`` mounted over the packs nodes pushed (``hub/review.py``), for the
members of the projects they were released for, each tile recorded in the reader's viewport
trail (``pathology.trail``, written to the hub's audit log by its sweep).

What a reader sees of a slide is its pack: the pyramid, the allow-listed facts (size, microns
per pixel, stain, objective power) and the predictions its node sent; never which node, nor
the slide's id there. Whether they may see it is asked of the database (their membership, the
release ready, the project not ended) and kept for a few seconds per reader and slide, so a
field of view's dozens of tiles cost one query; a withdrawal clears it at once.
"""

from __future__ import annotations

from pathlib import Path

from fivesafes.governance.accounts import WebSession
from fivesafes.governance.people import via_session
from fivesafes.governance.policies import check_accredited
from fivesafes.governance.roles import HUB, Role
from fivesafes.hub import review
from fivesafes.hub.service import HubService
from fivesafes.pathology.portal.site import SlidesSite
from fivesafes.slides.catalogue import SLIDE_ID, SlideFacts
from fivesafes.slides.overlays import PredictionFacts, inflated
from fivesafes.slides.pack import TilePack
from fivesafes.slides.tiles import deepzoom_sizes
from fivesafes.storage.types import utcnow
from fivesafes.web.signin import signed_in

PREFIX = "/review/slides"


def facts_of(found: review.ReviewSlide) -> SlideFacts:
    f = found.facts
    return SlideFacts(
        slide_id=found.review_id, stain=f.get("stain"), format="released", width=f["width"],
        height=f["height"], level_count=f["stored_levels"], mpp_x=f.get("mpp_x"),
        mpp_y=f.get("mpp_y"), objective_power=f.get("objective_power"), link="released",
        registered_at=found.ready_at,
    )  # fmt: skip


class PackOverlays:
    """The predictions a node sent with each slide, read from its pack."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _open(self, slide_id: str) -> TilePack | None:
        path = review.pack_path(self._root, slide_id)
        return TilePack.open(path) if SLIDE_ID.fullmatch(slide_id) and path.is_file() else None

    def predictions(self, slide_id: str) -> list[PredictionFacts]:
        pack = self._open(slide_id)
        if pack is None:
            return []
        try:
            return [
                PredictionFacts(
                    prediction_id=p.prediction_id,
                    model=p.model,
                    version=p.model_version,
                    run_at=p.run_at,
                    features=p.features,
                    classes=tuple(c for c in (p.classes or "").split(",") if c),
                    heatmap=p.heatmap_png is not None,
                    heatmap_scale=p.heatmap_scale,
                )
                for p in reversed(pack.predictions())
            ]
        finally:
            pack.close()

    def annotations(self, slide_id: str, prediction_id: str) -> bytes | None:
        pack = self._open(slide_id)
        if pack is None:
            return None
        try:
            found = pack.prediction(prediction_id)
        finally:
            pack.close()
        return inflated(found.geojson) if found and found.geojson else None

    def heatmap(self, slide_id: str, prediction_id: str) -> bytes | None:
        pack = self._open(slide_id)
        if pack is None:
            return None
        try:
            found = pack.prediction(prediction_id)
        finally:
            pack.close()
        return found.heatmap_png if found else None


def region_of(facts: dict[str, int], level: int, col: int, row: int) -> tuple[int, int, int, int]:
    """A DeepZoom tile's region in the slide's level-0 pixels (x, y, width, height)."""
    sizes = deepzoom_sizes(int(facts["width"]), int(facts["height"]))
    scale = 2 ** (len(sizes) - 1 - level)
    x, y = col * 256 * scale, row * 256 * scale
    width = min(256 * scale, int(facts["width"]) - x)
    height = min(256 * scale, int(facts["height"]) - y)
    return x, y, max(0, width), max(0, height)


class ReviewCatalogue:
    """The review store's slides one reader may see (``SlideCatalogue`` for the pages)."""

    def __init__(self, service: HubService, web: WebSession) -> None:
        self._service = service
        self._web = web

    def slides(self) -> list[SlideFacts]:
        return [facts_of(s) for s in self._service.review_access.listing(self._web)]

    def slide(self, slide_id: str) -> SlideFacts | None:
        found = self._service.review_access.slide(self._web, slide_id)
        return facts_of(found) if found is not None else None

    def file_of(self, slide_id: str) -> Path | None:
        return None  # the tiles come from the service's own packs (``review_tiles``)


class _Nobody:
    """The catalogue of a site whose slides depend on who asks (``visible`` says)."""

    def slides(self) -> list[SlideFacts]:
        return []

    def slide(self, slide_id: str) -> SlideFacts | None:
        return None

    def file_of(self, slide_id: str) -> Path | None:
        return None


def review_site(service: HubService) -> SlidesSite:
    """The review store's pages at the hub (``/review/slides``)."""
    from fivesafes.hub.portal.pages import page

    def check_view(web: WebSession) -> None:
        """Anyone signed in may look (what they see is what their projects were released); a
        researcher only while their safe-researcher accreditation lasts."""
        account = via_session(web.account).account
        if account.holds(Role.RESEARCHER, HUB):
            check_accredited(account.accredited_until, utcnow().date())

    def on_tile(web: WebSession, slide_id: str, level: int, col: int, row: int) -> None:
        found = service.review_access.slide(web, slide_id)
        if found is not None:
            region = region_of(found.facts, level, col, row)
            service.trail.saw(web.account.username, slide_id, found.project_id, level, region)

    return SlidesSite(
        signed_in=signed_in,
        check_view=check_view,
        catalogue=_Nobody(),
        visible=lambda web: ReviewCatalogue(service, web),
        tiles=service.review_tiles,
        overlays=PackOverlays(service.review_root),
        prefix=PREFIX,
        released=True,
        on_tile=on_tile,
        page=lambda request, web, template, **context: page(
            request, service, web, template, **context
        ),
    )
