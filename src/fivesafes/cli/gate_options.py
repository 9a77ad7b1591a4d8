"""The ``[gate]`` options ``hub init`` and ``node init`` share: a named profile, tightened only."""

from __future__ import annotations

from typing import Annotated

import typer

ProfileOption = Annotated[
    str, typer.Option(help="Disclosure profile: default, acro, opensafely or datashield.")
]
ThresholdOption = Annotated[
    int | None, typer.Option(help="Raise the profile's threshold (tighten only).")
]
RoundingBaseOption = Annotated[
    int | None, typer.Option(help="Round to a multiple of the profile's base (tighten only).")
]
