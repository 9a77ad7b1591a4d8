"""The node's extract job, as a process of its own (``fivesafes.node.jobs`` starts it):

    python -m fivesafes.cli.extract_job --config node.toml  < order.json

It reads one :class:`~fivesafes.analyses.jobs.ExtractOrder` as JSON on its standard input,
builds and holds the extract (``fivesafes.extracts.build``) and writes one JSON answer on its
standard output: ``{"built": counts}``, ``{"refused": reason}`` or ``{"failed": reason}``
(reason codes, never data). Its log, on standard error, names kinds of error, never a value.
It lives beside the operator's imaging commands because, like them, it reads the index's paths
and the restricted header store, which nothing the agent or an analysis imports may reach.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("fivesafes.extract_job")

MAX_ORDER = 16 * 1024 * 1024  # bytes: 100,000 series of 64-character UIDs fit well within


def answer(config: Path, raw: bytes) -> dict[str, Any]:
    """The job's answer to the order ``raw`` at the node configured by ``config``."""
    from fivesafes.analyses.jobs import ExtractOrder
    from fivesafes.data.source import DuckDBSource
    from fivesafes.extracts.build import BuildFailed, Place, build_extract
    from fivesafes.extracts.policy import ExtractionRefused
    from fivesafes.node.extracts import node_extracts
    from fivesafes.node.pseudonyms import load_key
    from fivesafes.node.setup import open_node
    from fivesafes.protocol.errors import Conflict, InvalidRequest, NotConfigured
    from fivesafes.protocol.runs import ReasonCode

    try:
        if len(raw) > MAX_ORDER:
            raise ValueError("order too large")
        fields: dict[str, Any] = json.loads(raw)
        order = ExtractOrder(
            project_id=str(fields["project_id"]),
            task_id=str(fields["task_id"]),
            requester=str(fields["requester"]),
            series=tuple(str(s) for s in fields["series"]),
            options=tuple(str(o) for o in fields["options"]),
            deadline=float(fields["deadline"]),
        )
    except (ValueError, TypeError, KeyError):
        return {"failed": ReasonCode.INVALID_PARAMETERS.value}
    service = open_node(config)
    try:
        settings = service.config.imaging
        data = service.config.data
        index = (
            (data.path, data.schema_name)
            if isinstance(data, DuckDBSource)
            else (settings.index_file, None)
        )
        place = Place(
            index_file=Path(index[0]),
            schema=index[1],
            header_store=settings.header_store,
            root=settings.extracts,
            rejectors_file=settings.rejectors_file,
            workers=settings.workers,
            memory_limit=settings.memory_limit,
        )
        key_file = service.config.node.pseudonym_key_file
        extracts = node_extracts(service)
        counts = build_extract(
            order, place, extracts=extracts, node_secret=lambda: load_key(key_file)
        )
        return {"built": counts}
    except ExtractionRefused as refusal:
        return {"refused": refusal.reason.value}
    except InvalidRequest:
        return {"refused": ReasonCode.INVALID_PARAMETERS.value}
    except BuildFailed as failure:
        return {"failed": failure.reason.value}
    except Conflict:  # the index file is held by an index run
        return {"failed": ReasonCode.DATA_SOURCE_UNAVAILABLE.value}
    except NotConfigured:
        log.error(
            "this node has no pseudonym key, from which extracts' keys are derived: make one "
            "with 'fivesafes node pseudonym-key'"
        )
        return {"failed": ReasonCode.INTERNAL_ERROR.value}
    finally:
        service.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fivesafes-extract-job")
    parser.add_argument("--config", type=Path, required=True)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    raw = sys.stdin.buffer.read(MAX_ORDER + 1)
    try:
        result = answer(arguments.config, raw)
    except Exception as exc:  # noqa: BLE001 - its text may quote data: the kind only
        log.error("the extract job failed with %s", type(exc).__name__)
        result = {"failed": "internal_error"}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
