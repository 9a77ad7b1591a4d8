"""The imaging domain: DICOM headers indexed into study, series and instance tables at a node.

Parts (docs/imaging.md): ``reading`` (one file's header, or why not), ``project`` (the instance
row and the roll-ups to series and study), ``rules`` (free text to a controlled vocabulary;
``rules.toml`` is the shipped rules file), ``walk``, ``worker``, ``store``, ``headers`` (the
restricted header store), ``index`` (a run), ``report``, ``settings`` (``[imaging]`` in
``node.toml``), ``encoding``, ``synth`` and ``synth_protocols`` (the synthetic archive).

Nothing is imported here: importing the package costs nothing, pydicom comes with ``reading``.
"""
