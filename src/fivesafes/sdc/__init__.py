"""Statistical disclosure control: the gate every result passes before it leaves a node or hub.

``release_count`` is the node's and hub's count gate; ``Checker`` is the standalone table
checker (crosstab, pivot_table, ...) for researchers and output checkers inside a TRE. The
table checker needs pandas, so it is imported on first use: the hub and the CLI start without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fivesafes.sdc.counts import release_count, round_half_up
from fivesafes.sdc.profile import GateProfile

if TYPE_CHECKING:
    from fivesafes.sdc.checker import Checker
    from fivesafes.sdc.output import Output, Verdict
    from fivesafes.sdc.profiles import PROFILES, Profile, ProfileError, get_profile
    from fivesafes.sdc.tables import TableSpecError

_LAZY = {
    "Checker": "fivesafes.sdc.checker",
    "Output": "fivesafes.sdc.output",
    "Verdict": "fivesafes.sdc.output",
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
    "GateProfile",
    "Output",
    "Profile",
    "ProfileError",
    "TableSpecError",
    "Verdict",
    "get_profile",
    "release_count",
    "round_half_up",
]
