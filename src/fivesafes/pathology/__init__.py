"""Pathology (issue 16, ADR 0029): the domain module of whole-slide images, above the kit like
the airlock and extracts. Its pages (``portal``: the slides a node holds and their viewer) are
mounted by the node's portal; what they show comes from ``fivesafes.slides`` below (the
readers and their allow-list, the registered slides, tiles), which cohorts read too. Review
studies across hospitals (issue 17) come here next."""
