"""Statistical disclosure control: the gate every result passes before it leaves a node or hub."""

from fivesafes.sdc.counts import release_count, round_half_up
from fivesafes.sdc.profile import GateProfile

__all__ = ["GateProfile", "release_count", "round_half_up"]
