"""Reading text burned into pixels: each frame rendered to 8 bits as a viewer would show it,
and read by Tesseract (through pytesseract).

How a frame is rendered (:func:`rendered`):

- colour (RGB; YBR is converted to RGB by pydicom; PALETTE COLOR through its table) becomes
  grey by luminance, so coloured text stays visible;
- grey pixels have the modality rescale applied, then the file's first window if it has one
  (burned-in text is drawn at or near the brightest value, so it stays white), else the
  frame's own range; MONOCHROME1 is inverted, so text is always read as it is seen;
- a frame smaller than :data:`UPSCALE_TO` pixels on its longer side is enlarged (2 to 4
  times, bicubic): Tesseract reads text about 20 pixels high best, and ultrasound text is
  often 8 to 10.

Tesseract runs in its default page segmentation (mode 3). Sparse-text mode (11) found no more
text in our trials, took five times as long, and read speckle as dozens of short "words".
Words below :data:`MIN_CONFIDENCE` are dropped. A 512 x 512 frame (read at 1024 x 1024) takes
0.3 to 0.6 s on one core; a blank or speckled one about as long, and gives no words.

Frames that cannot show text are not read: an image smaller than :data:`MIN_ROWS` x
:data:`MIN_COLUMNS` pixels (too small for a word of three characters in the smallest legible
font), and a frame of one value. Each worker runs one Tesseract at a time, on one thread
(``OMP_THREAD_LIMIT=1``, set by the caller's workers): the process pool gives the parallelism.

The work is bounded: at most :data:`MAX_FRAMES` frames of a file are read (the first, the last
and ones evenly between: burned-in text of a cine loop is the same in every frame), a frame of
more than :data:`MAX_PIXELS` pixels is not read at all (the caller reports it as too large to
verify), and one Tesseract call is stopped after ``timeout`` seconds.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytesseract  # type: ignore[import-untyped]
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut
from pydicom.pixels.utils import pixel_array

MAX_FRAMES = 3
MAX_PIXELS = 16_000_000  # rows x columns of one frame
MIN_ROWS, MIN_COLUMNS = 7, 17  # the least that holds a legible word of three characters (a
# 5 x 7 pixel font, a pixel between letters): a smaller image is not read
UPSCALE_TO = 1024
MIN_CONFIDENCE = 40.0
_COMMAND = threading.Lock()  # pytesseract keeps the program to run in a module global


class TooLarge(Exception):
    """A frame larger than the bound: not read, so not verified."""


class Unreadable(Exception):
    """Pixel data that could not be decoded (no decoder, or damaged)."""


class OcrFailed(Exception):
    """Tesseract could not be run, or did not finish in time."""


class Ocr:
    """Tesseract through pytesseract: ``command`` is the program (pytesseract's own setting,
    normally ``tesseract`` on the path, when None)."""

    def __init__(
        self,
        command: str | None = None,
        *,
        timeout: float = 60.0,
        min_confidence: float = MIN_CONFIDENCE,
    ) -> None:
        self.command = command
        self.timeout = timeout
        self.min_confidence = min_confidence
        self._available: bool | None = None

    def available(self) -> bool:
        """Whether Tesseract can be run (asked once, then remembered)."""
        if self._available is None:
            try:
                self._call(pytesseract.get_tesseract_version)
                self._available = True
            except OcrFailed:
                self._available = False
        return self._available

    def words(self, image: np.ndarray) -> list[str]:
        """The words Tesseract reads in an 8-bit grey image, each at least
        ``min_confidence`` sure; :class:`OcrFailed` if it cannot be run."""
        data = self._call(
            pytesseract.image_to_data,
            Image.fromarray(image),
            output_type=pytesseract.Output.DICT,
            timeout=self.timeout,
        )
        return [
            text.strip()
            for text, confidence in zip(data["text"], data["conf"], strict=True)
            if text.strip() and float(confidence) >= self.min_confidence
        ]

    def _call(self, function: Callable[..., Any], *args: object, **kwargs: object) -> Any:
        try:
            if self.command is None:
                return function(*args, **kwargs)
            with _COMMAND:
                saved = pytesseract.pytesseract.tesseract_cmd
                pytesseract.pytesseract.tesseract_cmd = self.command
                try:
                    return function(*args, **kwargs)
                finally:
                    pytesseract.pytesseract.tesseract_cmd = saved
        except (pytesseract.TesseractError, pytesseract.TesseractNotFoundError) as exc:
            raise OcrFailed(type(exc).__name__) from None
        except (OSError, RuntimeError) as exc:  # RuntimeError: pytesseract's timeout
            raise OcrFailed(type(exc).__name__) from None


def frame_numbers(count: int, most: int = MAX_FRAMES) -> list[int]:
    """Which of ``count`` frames are read: all, or ``most`` spread from first to last."""
    if count <= most:
        return list(range(count))
    if most == 1:
        return [0]
    return sorted({round(i * (count - 1) / (most - 1)) for i in range(most)})


def frames(
    dataset: Dataset, *, most: int = MAX_FRAMES, max_pixels: int = MAX_PIXELS
) -> Iterator[tuple[int, np.ndarray]]:
    """(frame number, 8-bit grey image ready for OCR) for the frames to read."""
    try:
        rows, columns = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
        count = int(dataset.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        raise Unreadable("the image's size") from None
    if rows * columns > max_pixels:
        raise TooLarge
    if rows < MIN_ROWS or columns < MIN_COLUMNS:
        return  # too small to hold a legible word
    for number in frame_numbers(count, most):
        try:
            frame = pixel_array(dataset, index=number if count > 1 else None)
            shown = rendered(frame, dataset)
            image = upscaled(shown) if shown.min() != shown.max() else None
        except Exception as exc:  # noqa: BLE001 - every decoder failure means one thing
            raise Unreadable(type(exc).__name__) from None
        if image is not None:  # a frame of one value shows nothing to read
            yield number, image


def rendered(frame: np.ndarray, dataset: Dataset) -> np.ndarray:
    """One decoded frame as 8-bit grey, as a viewer would show it (see the module's words)."""
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if photometric == "PALETTE COLOR" and frame.ndim == 2:
        frame = apply_color_lut(frame, dataset)
    if frame.ndim == 3:  # colour, samples last
        top = float(frame.max()) if frame.dtype != np.uint8 else 255.0
        rgb = frame.astype(np.float64) * (255.0 / top if top > 0 else 1.0)
        grey = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
        return np.clip(grey, 0, 255).astype(np.uint8)
    values = np.asarray(apply_modality_lut(frame, dataset), dtype=np.float64)
    low, high = _window(dataset) or (float(values.min()), float(values.max()))
    scaled = (np.clip(values, low, high) - low) * (255.0 / (high - low) if high > low else 0.0)
    grey = scaled.astype(np.uint8)
    return 255 - grey if photometric == "MONOCHROME1" else grey


def _window(dataset: Dataset) -> tuple[float, float] | None:
    """The first window (centre, width) as (lowest, highest) shown, if the file has one."""
    centre, width = dataset.get("WindowCenter"), dataset.get("WindowWidth")
    if centre is None or width is None:
        return None
    try:
        c, w = _first(centre), _first(width)
    except (TypeError, ValueError, IndexError):
        return None
    if not (math.isfinite(c) and math.isfinite(w)) or w < 1:
        return None
    return c - w / 2, c + w / 2


def _first(value: object) -> float:
    if isinstance(value, MultiValue | list | tuple):
        value = value[0]
    return float(value)  # type: ignore[arg-type]


def upscaled(image: np.ndarray) -> np.ndarray:
    """``image`` enlarged 2 to 4 times when its longer side is well under
    :data:`UPSCALE_TO` pixels."""
    longer = max(image.shape[:2])
    factor = min(4, max(1, round(UPSCALE_TO / longer))) if longer else 1
    if factor == 1:
        return image
    height, width = image.shape[:2]
    enlarged = Image.fromarray(image).resize(
        (width * factor, height * factor), Image.Resampling.BICUBIC
    )
    return np.asarray(enlarged)
