"""Whole-slide images at a node (ADR 0029, docs/slides.md): ``reading`` (a slide opened by its
format's reader, through the allow-list), ``register`` (``fivesafes node slides add``),
``catalogue`` (the registered slides, read only), ``tiles`` and ``tile_cache`` (DeepZoom tiles,
stored JPEG tiles passed through), ``pack`` (a slide's release pack: its tiles, facts and
predictions, pushed to the hub's review store), ``predictions`` and ``demo_model`` (AI
predictions as data), ``overlays`` (predictions read back for the viewer),
``cohort`` (the slide criterion's query), and ``synth`` (synthetic slides with planted
identifiers and tumour regions, and their ground truth; ``synth_plan`` says who has which
slide, ``synth_pixels`` draws them). Their pages are the ``pathology`` domain module's.

Nothing is imported here: importing the package costs nothing, the imaging libraries come with
the module that needs them.
"""
