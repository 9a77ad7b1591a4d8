"""The portal load benchmark (``benchmarks/bench_portal_load.py``) in miniature: a few
signed-in people browse a real hub's portal for a few seconds with no error, and the report
says so. The full run (200 people, 60 s) records docs/benchmarks.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_few_people_browse_the_hub_portal_without_errors(tmp_path):
    result = subprocess.run(
        [sys.executable, "benchmarks/bench_portal_load.py", "--users", "10", "--seconds", "4",
         "--workdir", str(tmp_path), "--no-record"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 errors.**" in result.stdout
    for page in ("`/`", "`/register`", "`/projects`", "`/audit`"):
        assert f"| {page} |" in result.stdout, page
