"""benchmarks/bench_imaging_cohort.py end to end at a tiny size, DuckDB only: the generated
index has the index's own tables, the platform counts the PICTURES question as the hand-written
SQL does, and the script writes its section of a benchmarks file and leaves the rest alone."""

import importlib.util
import json
import sys
from pathlib import Path

import duckdb
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

spec = importlib.util.spec_from_file_location(
    "bench_imaging_cohort", BENCHMARKS / "bench_imaging_cohort.py"
)
bench = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bench  # its dataclasses look their module up
spec.loader.exec_module(bench)

OTHER = "<!-- bench:other -->\nsomeone else's figures\n<!-- /bench:other -->"


@pytest.mark.timeout(120)
def test_the_platform_counts_what_the_hand_written_sql_counts(tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text(f"# Benchmarks\n\n{OTHER}\n")
    workdir = tmp_path / "work"
    bench.main(
        ["--series", "20000", "--engine-series", "20000", "--engines", "duckdb",
         "--runs", "1", "--workdir", str(workdir), "--docs", str(docs),
         "--files-per-second", "5000"]
    )  # fmt: skip

    saved = json.loads((workdir / "results.json").read_text())
    counts = {r["job"]["form"]: r["count"] for r in saved["results"]}
    assert counts.keys() == {"platform", "reference"}
    assert counts["platform"] == counts["reference"] > 0
    assert all(len(r["warm"]) == 1 for r in saved["results"])

    (made,) = workdir.glob("imaging-20000-*.duckdb")
    with duckdb.connect(str(made), read_only=True) as con:
        series = con.execute("SELECT count(*), count(person_id) FROM imaging_series").fetchone()
        columns = [c[0] for c in con.execute("DESCRIBE imaging_series").fetchall()]
    assert series[0] == 20_000
    assert 0 < series[1] < series[0]  # some series are linked to nobody
    from fivesafes.imaging.tables import SERIES_COLUMNS

    assert tuple(columns) == SERIES_COLUMNS

    text = docs.read_text()
    assert OTHER in text
    section = text[text.index("<!-- bench:imaging-cohort -->") :]
    assert f"all {counts['platform']:,}" in section
    assert "| DuckDB | 20,000 | platform (`count_persons`) |" in section
    assert "| 1 billion | 56 h (2.3 days) | 1 |" in section  # 1e9 / 5,000 files/s
