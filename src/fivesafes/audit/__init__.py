"""The tamper-evident audit log: every state change is an event in a hash chain."""
