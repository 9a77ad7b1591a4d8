"""Statistical disclosure control: the gate every result passes before it leaves a node or hub.

``judge`` (and ``release_count`` for counts) is the release gate of nodes and hub; ``Checker``
is the standalone table checker (crosstab, pivot_table, ...) for researchers and output
checkers inside a TRE. Both run the same rules under the same named profiles. Everything is
imported on first use: the table checker needs pandas, which the hub and the CLI do without.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fivesafes.sdc.counts import round_half_up

if TYPE_CHECKING:
    from fivesafes.sdc.checker import Checker
    from fivesafes.sdc.gate import GateSettings, Judgement, judge, release_count
    from fivesafes.sdc.output import Output
    from fivesafes.sdc.profiles import PROFILES, Profile, ProfileError, get_profile
    from fivesafes.sdc.rules.base import Verdict
    from fivesafes.sdc.tables import TableSpecError

_LAZY = {
    "GateSettings": "fivesafes.sdc.gate",
    "Judgement": "fivesafes.sdc.gate",
    "judge": "fivesafes.sdc.gate",
    "release_count": "fivesafes.sdc.gate",
    "Checker": "fivesafes.sdc.checker",
    "Output": "fivesafes.sdc.output",
    "Verdict": "fivesafes.sdc.rules.base",
    "PROFILES": "fivesafes.sdc.profiles",
    "Profile": "fivesafes.sdc.profiles",
    "ProfileError": "fivesafes.sdc.profiles",
    "get_profile": "fivesafes.sdc.profiles",
    "TableSpecError": "fivesafes.sdc.tables",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fivesafes.sdc' has no attribute {name!r}")


__all__ = [
    "PROFILES",
    "Checker",
    "GateSettings",
    "Judgement",
    "Output",
    "Profile",
    "ProfileError",
    "TableSpecError",
    "Verdict",
    "get_profile",
    "judge",
    "release_count",
    "round_half_up",
]
