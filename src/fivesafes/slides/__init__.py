"""Whole-slide images at a node (ADR 0029, docs/slides.md): ``reading`` (a slide opened by its
format's reader, through the allow-list), ``register`` (``fivesafes node slides add``), and
``synth`` (synthetic slides with planted identifiers and tumour regions, and their ground
truth; ``synth_plan`` says who has which slide, ``synth_pixels`` draws them); more to come
(de-identified copies, tiles for review).

Nothing is imported here: importing the package costs nothing, the imaging libraries come with
the module that needs them.
"""
