"""SQL plumbing shared by the hub's and the node's state databases."""
