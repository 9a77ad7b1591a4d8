"""Pictures of released results for the portal, drawn on the server with matplotlib (Agg) as
SVG text the page inlines: nothing is fetched by the browser, and only what was released is
drawn (suppressed values are shown as such, never as a number)."""

from __future__ import annotations

import io
import threading
from typing import Any

_LOCK = threading.Lock()  # pyplot's state is global: one figure at a time


def count_bars(released: dict[str, int | None], total: int | None) -> str | None:
    """A bar per node's released count (and the combined total); None if nothing released."""
    if total is None and not any(v is not None for v in released.values()):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [*released, "all nodes"]
    values = [*released.values(), total]
    with _LOCK:
        figure, axes = plt.subplots(figsize=(6, 0.5 + 0.45 * len(labels)))
        try:
            y = list(range(len(labels)))[::-1]
            shown = [v if v is not None else 0 for v in values]
            colours = ["tab:blue"] * len(released) + ["tab:green"]
            axes.barh(y, shown, color=colours)
            for position, value in zip(y, values, strict=True):
                text = f" {value}" if value is not None else " suppressed"
                axes.text(value or 0, position, text, va="center", fontsize=9)
            axes.set_yticks(y, labels)
            axes.set_xlabel("persons (after disclosure control)")
            axes.spines[["top", "right"]].set_visible(False)
            figure.tight_layout()
            return _svg(figure)
        finally:
            plt.close(figure)


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # the element only, to inline in the page
