"""Named disclosure-control profiles for the table checker: frozen presets, tightened only.

Every operator is fixed here so a profile reads as a rule, not a tuning knob:

| field                  | a cell is suppressed (or flagged) when …                              |
| ---------------------- | ---------------------------------------------------------------------- |
| `threshold`            | 0 < distinct persons (non-missing contributors for magnitudes) < value |
| `zeros_are_disclosive` | True and the cell holds no record at all                               |
| `nk_n`, `nk_k`         | the top `nk_n` contributors' share of the cell total > `nk_k` (or      |
| `nk_comparison`        | >= `nk_k` when `nk_comparison` is ">=", ACRO 1.x's own operator)       |
| `p_ratio`              | (total - largest - second largest) < `p_ratio` x largest               |
| `rounding_base`        | released counts are rounded to this base, ties half-up (1 = none)      |
| `allow_min_max`        | False and the statistic is a minimum or maximum (every cell fails)     |
| `check_missing_values` | True and a magnitude cell has missing values (review)                  |
| `differencing`         | a node output's population is within threshold-1 persons of an earlier |
|                        | release (or two): ``refuse`` it, or hold it for ``review``             |

`dof_threshold` and `glm_ratio` are used by the regression checks; `subset_threshold` is
carried for a subset check that is not built yet. Sources of each preset are in
docs/disclosure-control.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Fields where a larger number is stricter, a smaller number is stricter, True is stricter,
# False is stricter. `None` means "rule not applied", always the loosest value.
_HIGHER_IS_TIGHTER = ("threshold", "nk_n", "p_ratio", "dof_threshold", "subset_threshold")
_LOWER_IS_TIGHTER = ("nk_k", "glm_ratio")
_TRUE_IS_TIGHTER = ("zeros_are_disclosive", "check_missing_values")
_FALSE_IS_TIGHTER = ("allow_min_max",)


class ProfileError(ValueError):
    """A profile was unknown, or a change would loosen it."""


class Profile(BaseModel):
    """One named set of disclosure-control rules for tables; immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    source: str = ""
    threshold: int = Field(ge=1, le=1_000_000)
    zeros_are_disclosive: bool
    nk_n: int = Field(default=2, ge=1, le=100)
    nk_k: float | None = Field(default=None, gt=0.0, le=1.0)
    nk_comparison: Literal[">", ">="] = ">"  # a share equal to nk_k fails only with ">="
    p_ratio: float | None = Field(default=None, gt=0.0, le=1.0)
    dof_threshold: int | None = Field(default=None, ge=1)
    rounding_base: int = Field(default=1, ge=1, le=1_000_000)
    rounding_ties: Literal["half-up"] = "half-up"
    allow_min_max: bool = False
    check_missing_values: bool = False
    subset_threshold: int | None = Field(default=None, ge=1)
    glm_ratio: float | None = Field(default=None, gt=0.0, le=1.0)
    differencing: Literal["refuse", "review"] = "refuse"

    def tightened(self, **changes: Any) -> Profile:
        """A copy with stricter settings; raises ProfileError if any change loosens a rule."""
        fields = type(self).model_fields
        for key, new in changes.items():
            if key not in fields or key in ("name", "source", "rounding_ties"):
                raise ProfileError(f"profile setting {key!r} cannot be changed by tightening")
            old = getattr(self, key)
            if not _is_tighter_or_equal(key, old, new):
                raise ProfileError(
                    f"{key}={new!r} would loosen profile {self.name!r} ({key}={old!r}); "
                    "a profile can only be tightened"
                )
        data = self.model_dump()
        data.update(changes)
        data["name"] = f"{self.name} (tightened)"
        return type(self).model_validate(data)

    def at_least(self, **settings: Any) -> Profile:
        """A copy at least as strict as this profile and as ``settings``: each setting the
        stricter of the two (a rounding base their least common multiple). Never looser, so
        it never fails on a value; unknown or fixed settings raise ProfileError."""
        data = self.model_dump()
        changed = False
        for key, new in settings.items():
            if key not in type(self).model_fields or key in ("name", "source", "rounding_ties"):
                raise ProfileError(f"profile setting {key!r} cannot be changed by tightening")
            if new is None:
                continue
            stricter = _stricter(key, data[key], new)
            if stricter != data[key]:
                data[key] = stricter
                changed = True
        if not changed:
            return self
        data["name"] = f"{self.name} (tightened)"
        return type(self).model_validate(data)


def _stricter(key: str, old: Any, new: Any) -> Any:
    if old is None:
        return new
    if key == "rounding_base":
        return math.lcm(old, new)
    if key == "differencing":
        return "refuse" if "refuse" in (old, new) else "review"
    return new if _is_tighter_or_equal(key, old, new) else old


def _is_tighter_or_equal(key: str, old: Any, new: Any) -> bool:
    if new == old:
        return True
    if new is None:
        return False
    if old is None:
        return True
    if key in _HIGHER_IS_TIGHTER:
        return bool(new >= old)
    if key in _LOWER_IS_TIGHTER:
        return bool(new <= old)
    if key in _TRUE_IS_TIGHTER:
        return new is True
    if key in _FALSE_IS_TIGHTER:
        return new is False
    if key == "differencing":
        return bool(new == "refuse")  # nothing released beats a human deciding
    if key == "nk_comparison":
        return bool(new == ">=")  # ">=" also fails the share exactly at nk_k
    if key == "rounding_base":
        return isinstance(new, int) and new % old == 0  # coarser: a multiple of the old base
    return False


DEFAULT = Profile(
    name="default",
    source="fivesafes default; see docs/disclosure-control.md",
    threshold=10,
    zeros_are_disclosive=False,
    nk_n=2,
    nk_k=0.90,
    p_ratio=0.10,
    dof_threshold=10,
    rounding_base=10,
)

ACRO = Profile(
    name="acro",
    source="AI-SDC/ACRO acro/default.yaml (commit 07a272825eb00559484b5b6361b87ad23213e898)",
    threshold=10,
    zeros_are_disclosive=True,
    nk_n=2,
    nk_k=0.90,
    nk_comparison=">=",  # ACRO 1.0.2 sdcchecks.check_nk_dominance: top-n sum / sum >= k fails
    p_ratio=0.10,
    dof_threshold=10,
    rounding_base=1,
    check_missing_values=False,
    differencing="review",  # ACRO advises an output checker; it never refuses by itself
)

OPENSAFELY = Profile(
    name="opensafely",
    source="OpenSAFELY output rule: redact counts <= 7, then round to the nearest 5",
    threshold=8,  # counts <= 7 redacted, i.e. suppressed when < 8; zero is <= 7 too
    zeros_are_disclosive=True,
    rounding_base=5,
    differencing="review",  # every OpenSAFELY release is reviewed by output checkers
)

DATASHIELD = Profile(
    name="datashield",
    source="DataSHIELD dsBase default disclosure settings (nfilter.tab/subset/glm)",
    threshold=3,  # nfilter.tab: minimum non-zero cell count
    zeros_are_disclosive=False,
    subset_threshold=3,  # nfilter.subset
    glm_ratio=0.33,  # nfilter.glm: parameters / observations must not exceed this
    differencing="review",  # DataSHIELD's subset trap only warns; we hold for a human instead
)

PROFILES: Mapping[str, Profile] = MappingProxyType(
    {p.name: p for p in (DEFAULT, ACRO, OPENSAFELY, DATASHIELD)}
)


def get_profile(profile: str | Profile) -> Profile:
    """The preset of that name, or the given profile itself."""
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ProfileError(f"unknown profile {profile!r}; known profiles: {known}") from None
