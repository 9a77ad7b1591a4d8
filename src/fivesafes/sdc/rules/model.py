"""Model-level rules: a fitted model (or one round of a federated fit) is released only with
enough persons, residual degrees of freedom and persons in every level of its binary
variables, and never saturated or perfectly separated. No pandas: nodes use it every round.

| model                                                        | rule         |
| ------------------------------------------------------------ | ------------ |
| df_resid <= 0                                                | `saturated`  |
| df_resid < `dof_threshold`                                   | `dof`        |
| separation flagged, or a non-finite estimate                 | `separation` |
| parameters / n > `glm_ratio` (the GLM trap: 0.33 if unset)   | `glm-ratio`  |
| n < `threshold` (the model's rows are distinct persons)      | `threshold`  |
| a binary outcome or covariate level with 1..threshold-1 rows | `rare-level` |

Every finding suppresses the whole model. Reasons carry the profile's numbers only.
"""

from __future__ import annotations

from collections.abc import Sequence

from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Finding, Outcome


def model_findings(
    n: int,
    df_resid: float,
    parameters: int,
    finite: bool,
    separation: bool,
    profile: Profile,
    *,
    glm_ratio: float | None = None,
) -> list[Finding]:
    """The saturation, dof, separation and parameter-ratio rules (``glm_ratio`` overrides
    an unset profile ratio, never a set one)."""
    found = []
    if df_resid <= 0:
        found.append(Finding("saturated", Outcome.SUPPRESS, "saturated model: no residual dof"))
    elif profile.dof_threshold is not None and df_resid < profile.dof_threshold:
        found.append(
            Finding(
                "dof",
                Outcome.SUPPRESS,
                f"fewer than {profile.dof_threshold} residual degrees of freedom",
            )
        )
    if separation or not finite:
        found.append(Finding("separation", Outcome.SUPPRESS, "perfect separation or no estimate"))
    ratio = profile.glm_ratio if profile.glm_ratio is not None else glm_ratio
    if ratio is not None and (n <= 0 or parameters / n > ratio):
        found.append(
            Finding(
                "glm-ratio", Outcome.SUPPRESS, f"parameters exceed {ratio:.0%} of the observations"
            )
        )
    return found


def level_findings(n: int, level_counts: Sequence[int], profile: Profile) -> list[Finding]:
    """The model's rows must reach the threshold, and so must every non-empty level of each
    binary variable (``level_counts``: rows with the value 1, per binary column)."""
    found = []
    if n < profile.threshold:
        found.append(
            Finding("threshold", Outcome.SUPPRESS, f"fewer than {profile.threshold} persons")
        )
    for ones in level_counts:
        if 0 < ones < profile.threshold or 0 < n - ones < profile.threshold:
            found.append(
                Finding(
                    "rare-level",
                    Outcome.SUPPRESS,
                    f"a level of a binary variable has fewer than {profile.threshold} persons",
                )
            )
            break
    return found
