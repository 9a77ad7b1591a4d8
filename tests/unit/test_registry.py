"""The registry (``fivesafes.analyses.registry``): built-ins found by name, third-party analyses
through the ``fivesafes.analyses`` entry point group, and what it refuses."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from fivesafes.analyses.plugin import Analysis
from fivesafes.analyses.registry import BUILTIN, ENTRY_POINTS, REGISTRY, Registry, RegistryError

PLUGIN = Path(__file__).parent.parent / "data" / "plugin"


@pytest.fixture
def plugin_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN))
    yield
    sys.modules.pop("fivesafes_example_plugin", None)


def point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINTS)


def test_every_builtin_is_an_analysis_under_its_own_name():
    for name in BUILTIN:
        analysis = REGISTRY[name]
        assert isinstance(analysis, Analysis)
        assert analysis.name == name and analysis.version >= 1
        assert analysis.title and analysis.parameters and analysis.output
    assert REGISTRY.get("no-such-analysis") is None


def test_an_entry_point_adds_an_analysis(plugin_on_path):
    registry = Registry(BUILTIN, [point("headcount", "fivesafes_example_plugin:Headcount")])
    assert registry.names()[-1] == "headcount"
    assert registry["headcount"].title == "Headcount (an example plug-in)"
    assert registry.versions()["headcount"] == 1
    typed = registry.task_request
    request = typed.model_validate(
        {"project_id": "p", "analysis": "headcount", "parameters": {"cohort": {"name": "all"}}}
    )
    assert request.analysis == "headcount"


def test_an_entry_point_installed_as_a_package_is_found(plugin_on_path, tmp_path, monkeypatch):
    """A real installed distribution (its metadata on sys.path), found by importlib.metadata."""
    info = tmp_path / "fivesafes_example_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fivesafes-example-plugin\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINTS}]\nheadcount = fivesafes_example_plugin:Headcount\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry(BUILTIN)
    assert "headcount" in registry.names()
    assert registry["headcount"].name == "headcount"


def test_an_entry_point_may_not_replace_a_builtin(plugin_on_path):
    registry = Registry(BUILTIN, [point("count", "fivesafes_example_plugin:Headcount")])
    with pytest.raises(RegistryError, match="would replace the analysis 'count'"):
        registry.names()


def test_an_entry_point_that_is_not_an_analysis_is_refused(plugin_on_path):
    registry = Registry(BUILTIN, [point("impostor", "fivesafes_example_plugin:NotAnAnalysis")])
    with pytest.raises(RegistryError, match="is not an analysis"):
        registry["impostor"]


def test_an_entry_point_under_another_name_is_refused(plugin_on_path):
    registry = Registry(BUILTIN, [point("other", "fivesafes_example_plugin:Headcount")])
    with pytest.raises(RegistryError, match="is called 'headcount', not 'other'"):
        registry["other"]
