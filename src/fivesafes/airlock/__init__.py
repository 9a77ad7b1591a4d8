"""The airlock: human output checking for what is not automatically safe.

A researcher asks to take files out (a *release request*); two independent output checkers
review every file, blinded to each other until both have voted; the author never reviews their
own request; an approved request becomes a signed bundle whose files cannot have changed since
approval. The same code runs at a node (outputs produced there) and at the hub (combined
results a researcher wants to publish).

| module         | what it holds                                                        |
| -------------- | -------------------------------------------------------------------- |
| ``states``     | the request's state machine: named transitions, nothing else         |
| ``review``     | votes per file, blinding, the decision two votes make, consolidation |
| ``permissions``| who may act (``check_*`` raising, ``can_*`` answering)               |
| ``files``      | what may be submitted: types, sizes, rows; the automatic pre-screen  |
| ``screening``  | the pre-screen through the disclosure engine: one headline per file, |
|                | findings grouped by kind (``row_level``, ``columns``, ``sdc_marker``)|
| ``next_steps`` | what whoever looks can do next, as a command and a button            |
| ``bundle``     | the signed release bundle and its manifest                           |
"""
