"""Pathology (issue 16, ADR 0029): the domain module of whole-slide images, above the kit like
the airlock and extracts. Its pages (``portal``: the slides and their viewer, with AI
overlays) are mounted by the node's portal and by the hub over its review store; ``releases``
is a custodian's release of slides for review at another hospital (the node's records),
``schema`` and ``tables`` their tables and the hub's review store's, ``trail`` a reader's
viewport trail. What they show comes from ``fivesafes.slides`` below (the readers and their
allow-list, the registered slides, tiles, release packs), which cohorts read too. Review
studies across hospitals (issue 17) come here next."""
