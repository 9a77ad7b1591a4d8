"""Imaging extracts (ADR 0028): a domain module on the kit. Built so far: a node custodian's
extraction approval for a project (``actions``, ``policy``); the request, its build, the
airlock's "imaging extract" kind and the patient data account's record of it are to come."""
