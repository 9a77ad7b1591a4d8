"""The one-command demo federation: a hub and three synthetic hospitals on loopback."""
