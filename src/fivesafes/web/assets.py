"""Front-end assets: copied from ``web/node_modules`` (installed from the npm registry at
set-up) into the package's ``static/vendor/``, from where the hub and node serve them.

    python -m fivesafes.web.assets install [NODE_MODULES]   # scripts/install.sh runs this
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
VENDOR_DIR = STATIC / "vendor"
VENDOR = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "pico.min.css": "@picocss/pico/css/pico.min.css",
    # the slide viewer (/slides/{id}): its own buttons, so none of OpenSeadragon's images
    "openseadragon.min.js": "openseadragon/build/openseadragon/openseadragon.min.js",
    # the hub's API pages (/docs), served from here rather than FastAPI's default CDN
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "swagger-favicon.png": "swagger-ui-dist/favicon-32x32.png",
}
"""Served name -> path inside node_modules (versions pinned in web/package.json)."""
REPO_NODE_MODULES = Path(__file__).resolve().parents[3] / "web" / "node_modules"


class AssetsMissing(RuntimeError):
    """The portal's front-end assets were not installed."""


def install(node_modules: Path = REPO_NODE_MODULES) -> list[Path]:
    """Copy every vendored asset into ``static/vendor/``; returns the files written."""
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for served, source in VENDOR.items():
        origin = node_modules / source
        if not origin.is_file():
            raise AssetsMissing(
                f"{origin} is missing: run 'npm ci --prefix web' (bash scripts/install.sh does)"
            )
        target = VENDOR_DIR / served
        shutil.copyfile(origin, target)
        written.append(target)
    return written


def check() -> None:
    """Raise ``AssetsMissing`` unless every vendored asset is in place."""
    missing = [name for name in VENDOR if not (VENDOR_DIR / name).is_file()]
    if missing:
        raise AssetsMissing(
            f"the portal's assets are missing ({', '.join(missing)}): run bash scripts/install.sh"
        )


def main(argv: list[str]) -> int:
    if argv[:1] != ["install"]:
        print("usage: python -m fivesafes.web.assets install [NODE_MODULES]", file=sys.stderr)
        return 2
    try:
        written = install(Path(argv[1]) if len(argv) > 1 else REPO_NODE_MODULES)
    except AssetsMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"portal assets: {len(written)} files in {VENDOR_DIR}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
