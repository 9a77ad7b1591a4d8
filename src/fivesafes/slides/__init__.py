"""Whole-slide images at a node: synthetic slides (``synth``: Aperio SVS-like and OME-TIFF
pyramids, optionally DICOM-WSI copies, with planted identifiers, planted tumour regions and
their ground truth), more to come (reading, de-identified copies, tiles for review; ADR 0029,
docs/slides.md).

Nothing is imported here: importing the package costs nothing, the imaging libraries come with
the module that needs them.
"""
