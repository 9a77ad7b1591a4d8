"""``[imaging]`` in node.toml (fivesafes.imaging.settings): its paths are resolved against the
config's folder whether or not the section is written, the restricted header store can never
be the data file, and the header store, the index file and the Spark job's folder are three
places."""

from __future__ import annotations

from pathlib import Path

import pytest

from fivesafes.node.config import NodeConfig
from fivesafes.protocol.errors import ConfigError
from fivesafes.settings import load_config

NODE = """
[node]
name = "n1"
hub_url = "http://127.0.0.1:9"

[data]
engine = "duckdb"
path = "omop.duckdb"
"""


def test_the_header_store_sits_beside_node_toml_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)  # not where the config is
    (tmp_path / "node.toml").write_text(NODE)
    config = load_config(tmp_path / "node.toml", NodeConfig)
    assert config.imaging.header_store == tmp_path / "imaging-headers.sqlite"
    assert config.imaging.index_file == tmp_path / "imaging-index.duckdb"
    assert config.imaging.spark_folder == tmp_path / "imaging-spark"
    assert config.imaging.spark_headers == tmp_path / "imaging-headers.spark"
    assert config.imaging.rules_file is None and config.imaging.workers == 2


def test_settings_are_read_and_resolved(tmp_path):
    (tmp_path / "node.toml").write_text(
        NODE + '\n[imaging]\nheader_store = "private/h.sqlite"\nrules_file = "rules.toml"\n'
        'workers = 4\nbatch_files = 50\nmemory_limit = "512MB"\nindex_file = "idx/i.duckdb"\n'
        'spark_folder = "/srv/imaging-spark"\n'
    )
    imaging = load_config(tmp_path / "node.toml", NodeConfig).imaging
    assert imaging.header_store == tmp_path / "private" / "h.sqlite"
    assert imaging.spark_headers == tmp_path / "private" / "h.spark"
    assert imaging.index_file == tmp_path / "idx" / "i.duckdb"
    assert imaging.spark_folder == Path("/srv/imaging-spark")
    assert imaging.rules_file == tmp_path / "rules.toml"
    assert (imaging.workers, imaging.batch_files, imaging.memory_limit) == (4, 50, "512MB")


@pytest.mark.parametrize(
    "section",
    [
        'header_store = "omop.duckdb"',  # the data file itself
        'index_file = "imaging-headers.sqlite"',  # the header store
        'spark_folder = "."',  # holding the header store and the index file
        'spark_folder = "imaging-index.duckdb"',  # the index file
        "workers = 0",
        'memory_limit = "lots"',
        "extra = 1",
    ],
)
def test_bad_settings_are_refused(tmp_path, section):
    (tmp_path / "node.toml").write_text(NODE + f"\n[imaging]\n{section}\n")
    with pytest.raises(ConfigError, match="not valid"):
        load_config(tmp_path / "node.toml", NodeConfig)
