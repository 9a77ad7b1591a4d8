"""The wire contract shared by hub and node: models, errors and signing."""
