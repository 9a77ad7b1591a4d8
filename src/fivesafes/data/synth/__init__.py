"""Synthetic OMOP CDM v5.4 data with planted, documented effects.

>>> from fivesafes.data.synth import SITE_PROFILES, generate
>>> counts = generate(Path("site.duckdb"), persons=10_000, seed=1, site="northfield")

See ``docs/synthetic-data.md`` for what is generated and the exact planted effects
(:mod:`fivesafes.data.synth.effects`).
"""

from fivesafes.data.synth.generator import generate
from fivesafes.data.synth.sites import SITE_PROFILES, SiteProfile

__all__ = ["SITE_PROFILES", "SiteProfile", "generate"]
