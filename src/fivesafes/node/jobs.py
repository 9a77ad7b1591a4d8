"""The node's jobs (``fivesafes.analyses.jobs``): work an analysis asks of its node, run in a
process of its own.

Building an imaging extract reads what no analysis may (the files' paths in the index, the
restricted header store): the analysis's worker never imports that code. It starts the job as
a fresh process, ``python -m fivesafes.cli.extract_job --config node.toml`` (the operator's
side of the platform, where the imaging commands live), hands it the order on its standard
input and reads one answer on its standard output: counts, or a reason code. The job runs in
a process group of its own, so that at the run's deadline the whole group (the job and its
de-identifying workers) is killed and the half-built extract removed; the job also checks the
deadline itself, for when the worker that started it was killed first.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from fivesafes.analyses.jobs import ExtractBuilt, ExtractOrder, JobFailed
from fivesafes.analyses.plugin import Refused
from fivesafes.extracts.folders import staging_folder
from fivesafes.protocol.runs import ReasonCode

log = logging.getLogger("fivesafes.node.jobs")

JOB_MODULE = "fivesafes.cli.extract_job"
GRACE_SECONDS = 10.0  # after the deadline, for the job to stop and clean up on its own
MAX_ANSWER = 1_000_000  # bytes: an answer is counts


class ProcessJobs:
    """The node's jobs, each in a process started from ``node.toml`` at ``config_file``."""

    def __init__(self, config_file: str) -> None:
        self.config_file = config_file

    def build_extract(self, order: ExtractOrder) -> ExtractBuilt:
        answer = self._run(order)
        if "built" in answer and isinstance(answer["built"], dict):
            return ExtractBuilt(answer["built"])
        code = answer.get("refused") or answer.get("failed")
        try:
            reason = ReasonCode(str(code))
        except ValueError:
            reason = ReasonCode.INTERNAL_ERROR
        if "refused" in answer:
            raise Refused(reason)
        raise JobFailed(reason)

    def _run(self, order: ExtractOrder) -> dict[str, object]:
        command = [sys.executable, "-m", JOB_MODULE, "--config", self.config_file]
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # a group of its own: killed whole at the deadline
        )
        left = max(1.0, order.deadline - time.time()) + GRACE_SECONDS
        try:
            out, _ = process.communicate(json.dumps(asdict(order)).encode(), timeout=left)
        except subprocess.TimeoutExpired:
            log.warning("an extract's job passed its deadline; it is stopped and removed")
            _kill_group(process)
            self._remove(order)
            raise JobFailed(ReasonCode.RESOURCE_LIMIT) from None
        except BaseException:  # interrupted: leave nothing running, nothing half-built
            _kill_group(process)
            self._remove(order)
            raise
        if process.returncode != 0 or len(out) > MAX_ANSWER:
            log.error("an extract's job ended with exit code %s", process.returncode)
            self._remove(order)
            raise JobFailed(ReasonCode.INTERNAL_ERROR)
        try:
            answer = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            answer = None
        if not isinstance(answer, dict):
            raise JobFailed(ReasonCode.INTERNAL_ERROR)
        return answer

    def _remove(self, order: ExtractOrder) -> None:
        """The order's staging folder, if the job left one (never a released extract)."""
        from fivesafes.node.config import NodeConfig
        from fivesafes.settings import load_config

        try:
            root = load_config(Path(self.config_file), NodeConfig).imaging.extracts
            shutil.rmtree(staging_folder(root, order.project_id, order.task_id))
        except Exception as exc:  # noqa: BLE001 - already failing: say so, keep the reason
            log.error("could not remove a stopped extract's folder: %s", type(exc).__name__)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
