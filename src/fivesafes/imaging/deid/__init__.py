"""De-identification of DICOM objects by DICOM PS3.15 Annex E (edition 2024b): the Basic
Application Level Confidentiality Profile and the options a project's custodian chooses.

Its modules, in the order a file meets them:

- ``options``: the custodian's choices, their CID 7050 codes and names.
- ``table``: Table E.1-1 as the engine applies it (the options' columns: ``table_options.toml``).
- ``keys``: a project's keyed UIDs, pseudonyms and date shifts, from one secret.
- ``reject``: images never de-identified, refused from the header (``rejectors.toml``).
- ``engine``: one data set de-identified (:func:`engine.deidentify`, ``deidentify_file``).
- ``writing``: the result written as a Part 10 file, kept elements as the bytes read.
- ``pixels``: Clean Pixel Data, known burned-in regions blanked (``pixel_regions.toml``).
- ``verify``: a written file searched for what still says who the person is.
- ``patterns``: verification's text detectors: NHS and CHI numbers, UK postcodes, dates.
- ``identifiers``: the person's own identifiers, taken from the original header, to look for.
- ``ocr``: text burned into pixels read by Tesseract, for verification.
- ``run``: the pipeline over a folder: reject, de-identify, verify, keep.
- ``phi_key``: a synthetic archive with planted PHI and its answer key (``phi_people``: the
  invented people; ``phi_archive``: the files written).
- ``score``: a tool's output scored against that answer key.

Nothing is imported here: importing the package costs nothing.
"""
