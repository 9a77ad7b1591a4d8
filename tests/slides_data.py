"""Slides for tests, written here with tifffile: a small generic tiled pyramid that OpenSlide
reads as ``generic-tiff``, its description carrying a planted name and hospital number (what
the readers' allow-list must never pass on)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

PLANTED = "SMITH^JOAN RXH1234567"


def write_pyramid(path: Path, seed: int, *, mpp_um: float = 0.5) -> Path:
    """A small generic tiled pyramid (two levels), its description carrying a planted name."""
    rng = np.random.default_rng(seed)
    image = (rng.random((768, 1024, 3)) * 255).astype("uint8")
    path.parent.mkdir(parents=True, exist_ok=True)
    per_cm = 1e4 / mpp_um
    with tifffile.TiffWriter(path) as tiff:
        for n, factor in enumerate((1, 4)):
            tiff.write(
                image[::factor, ::factor],
                tile=(256, 256),
                compression="jpeg",
                photometric="rgb",
                subfiletype=0 if n == 0 else 1,
                resolution=(per_cm / factor, per_cm / factor),
                resolutionunit="CENTIMETER",
                description=PLANTED if n == 0 else None,
            )
    return path
