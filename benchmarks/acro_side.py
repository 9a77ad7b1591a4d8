"""The ACRO half of ``bench_acro.py``: run by the ACRO venv's Python, never imports fivesafes.

    .venv-acro/bin/python benchmarks/acro_side.py SPEC.json RESULT.json

ACRO 1.0.2 needs pandas < 3, so it lives in its own virtual environment
(``benchmarks/setup_acro_env.sh``). The spec names data frames (``.npz`` files of one array per
column, written by ``bench_acro.py``; no pickles, and no pyarrow needed on this side) and cases:

    {"frames": {"name": "path.npz"},
     "cases": [{"id": "...", "frame": "name", "method": "crosstab" | "pivot_table",
                "index": ["col"], "columns": ["col"], "values": "col" | null,
                "aggfunc": "mean" | null, "normalize": false, "mitigation": "none",
                "round_base": null, "config": {}, "repeats": 1}]}

Each case runs on a fresh ``ACRO()`` with its default configuration (``config`` overrides
single settings of it, e.g. ``zeros_are_disclosive``); only the ``crosstab`` or
``pivot_table`` call is timed (``time.perf_counter``), ``repeats`` times. The result holds ACRO's
status ("pass" | "review" | "fail") and summary string of the recorded output, the table it
returned, and the times in seconds.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def load_frame(path: str) -> pd.DataFrame:
    """A DataFrame from an ``.npz`` of one array per column (strings as fixed-width unicode)."""
    with np.load(path, allow_pickle=False) as arrays:
        return pd.DataFrame({name: arrays[name] for name in arrays.files})


def run_case(acro_module: Any, frame: pd.DataFrame, case: dict[str, Any]) -> dict[str, Any]:
    """Run one case ``repeats`` times; return ACRO's verdict on the last run and every time."""
    times: list[float] = []
    status = summary = ""
    table = pd.DataFrame()
    for _ in range(int(case.get("repeats", 1))):
        session = acro_module.ACRO(
            suppress=False,
            mitigation=case.get("mitigation") or "none",
            round_base=case.get("round_base"),
        )
        session.config.update(case.get("config") or {})  # SDCChecks reads this same dict
        if case["method"] == "crosstab":
            index = [frame[name] for name in case["index"]]
            columns = [frame[name] for name in case["columns"]]
            values = frame[case["values"]] if case.get("values") else None
            start = time.perf_counter()
            table = session.crosstab(
                index if len(index) > 1 else index[0],
                columns if len(columns) > 1 else columns[0],
                values=values,
                aggfunc=case.get("aggfunc"),
                normalize=case.get("normalize", False),
            )
            times.append(time.perf_counter() - start)
        else:
            start = time.perf_counter()
            table = session.pivot_table(
                frame,
                index=case["index"],
                columns=case["columns"] or None,
                values=case["values"],
                aggfunc=case.get("aggfunc") or "mean",
            )
            times.append(time.perf_counter() - start)
        record = session.results.get(session.results.get_keys()[-1])
        status, summary = str(record.status), str(record.summary)
    return {
        "status": status,
        "summary": summary,
        "table": json.loads(table.to_json(orient="split", default_handler=str)),
        "times": times,
    }


def main(argv: list[str]) -> int:
    spec_path, result_path = argv[1], argv[2]
    logging.disable(logging.CRITICAL)  # ACRO logs at INFO; the same for every case
    import acro  # type: ignore[import-not-found]  # only in ACRO's venv

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    frames = {name: load_frame(path) for name, path in spec["frames"].items()}
    results = {case["id"]: run_case(acro, frames[case["frame"]], case) for case in spec["cases"]}
    out = {
        "acro_version": importlib.metadata.version("acro"),
        "pandas_version": pd.__version__,
        "numpy_version": np.__version__,
        "python": sys.version.split()[0],
        "cases": results,
    }
    Path(result_path).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
