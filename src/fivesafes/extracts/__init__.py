"""Imaging extracts (ADR 0028, docs/extracts.md): a domain module on the kit. A node
custodian's extraction approval for a project (``actions``, ``policy``); the extracts' records,
held, released or withdrawn (``store``, ``sql_store``, ``actions``, ``permissions``); the
build a node's job runs for a request (``build``, ``folders``); release and withdrawal with
their folder moves (``release``); the output checker's review in the node's portal
(``portal``, ``sample``)."""
