"""The hub's HTTP API: routes for researchers, for nodes, and public ones."""
