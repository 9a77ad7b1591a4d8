"""fivesafes: a federated network of Trusted Research Environments."""

__version__ = "0.1.0"
