"""Approved temporary pooling (issue 18): the data of a pool, a separate secure environment where
the linked persons' rows from several nodes are joined, for a limited time, so that the analysis
catalogue can run on them together.

A pool's data is itself a small OMOP CDM in DuckDB, merged from the nodes' extracts, so the
cohorts, the analysis catalogue and the disclosure gate of a node run on it unchanged. This
package holds the two pieces of data handling, with no service around them yet:

- :mod:`~fivesafes.pool.minimise`: for each catalogue variable, which OMOP tables, columns and
  concept sets a pool needs to compute it exactly as the catalogue defines it, and nothing more;
- :mod:`~fivesafes.pool.extract`: a node's extract of its linked persons: only the needed rows
  and columns, each person's id replaced by their link id, every date moved by the person's own
  shift (the same at every node), with the vocabulary rows of the concepts used;
- :mod:`~fivesafes.pool.wire` and :mod:`~fivesafes.pool.ipc`: an extract as bytes (Arrow IPC
  streams in a small framed file) and reading one from another site within bounds;
- :mod:`~fivesafes.pool.checks`: what an extract must be before a pool takes it;
- :mod:`~fivesafes.pool.merge`: the pool's CDM from the nodes' extracts, one person per link id
  held at every node, numbered afresh, with counts only in its report.

The pool never imports the identity store or the linkage tokens (an import contract says so):
link ids and the shared key's shifts are handed to it by the node's caller.
"""
