"""How clients of the hub (nodes, researchers, the demo) verify its TLS certificate."""

from __future__ import annotations

import ssl
from pathlib import Path


def verify_context(ca_file: str | Path | None) -> ssl.SSLContext | bool:
    """The system's CAs by default; only ``ca_file``'s when one is given (a private CA)."""
    if ca_file is None:
        return True
    return ssl.create_default_context(cafile=str(ca_file))
