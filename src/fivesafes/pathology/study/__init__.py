"""Review studies across hospitals (issue 17, docs/studies.md): consultants read anonymised
slides and an AI's predictions on a structured form; the study measures their agreement and
the AI's quality per hospital.

Pure logic, tested without HTTP, wired to the hub by ``fivesafes.hub.studies``:

- ``design``: a study's design, its versions (a digest each custodian approves), its states;
- ``forms``: the structured form, a versioned JSON Schema (``forms/lung_biopsy.json`` shipped);
- ``allocation`` (with ``flow``): who reads which case, balanced, never at the case's own
  hospital if asked, in a random order per reader, re-reads after a washout;
- ``reads``: one read's states, the lock rule (a locked unaided read never changes; the AI is
  revealed only after it) and blinding;
- ``store`` and ``sql_store`` (tables ``tables``, migrated by ``schema``): the store port, in
  memory and in the hub's database; ``actions``: every change with its audit event;
- ``agreement`` and ``quality``: Cohen's, Fleiss' kappa, Krippendorff's alpha with bootstrap
  intervals; the AI's quality per hospital and over time, drift, the aided-vs-unaided effect.
"""
