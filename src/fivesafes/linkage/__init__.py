"""Privacy-preserving record linkage across nodes (issue 18, docs/linkage.md).

A node keeps its persons' direct identifiers in an *identity store* of its own, apart from the
research data (:mod:`~fivesafes.linkage.identity_store`); what is loaded there is checked first
(:mod:`~fivesafes.linkage.identifiers`: the NHS number's check digit, dates, postcode format;
a row that fails is reported by its number and reason, never guessed at and never echoed).
Linkage tokens are keyed hashes of normalised identifiers under a key derived per project from
a secret the nodes' custodians share and the hub never holds (:mod:`~fivesafes.linkage.tokens`).
Synthetic identities with a planted overlap between hospitals and realistic errors give the
linkage a ground truth (:mod:`~fivesafes.linkage.synth`).
"""
