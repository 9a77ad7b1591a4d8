"""Statistical disclosure control: the gate every result passes before it leaves a node or hub.

``release_count`` is the node's and hub's count gate; ``Checker`` is the standalone table
checker (crosstab, pivot_table) for researchers and output checkers inside a TRE.
"""

from fivesafes.sdc.checker import Checker
from fivesafes.sdc.counts import release_count, round_half_up
from fivesafes.sdc.output import Output, Verdict
from fivesafes.sdc.profile import GateProfile
from fivesafes.sdc.profiles import PROFILES, Profile, ProfileError, get_profile
from fivesafes.sdc.tables import TableSpecError

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
