"""The imaging index's restricted header store is out of reach of every route: no endpoint of
the hub's API and portal, of the node's portal, nor the node's agent and its analysis runner,
imports (at any depth, function-level imports included) the modules that open the header store
or write the index. Only the operator's command (``fivesafes node imaging``) does, and the
extract job (``python -m fivesafes.cli.extract_job``), a process of its own that the node starts
by its module's name for an extract its custodian allowed (``node/jobs.py``, ADR 0028): the
analysis that asks for it gets counts back, and imports none of it.

The route tables are read from the apps themselves, so a new route is checked too; the import
graph is grimp's (the one import-linter's contracts are checked on, ``pyproject.toml``)."""

from __future__ import annotations

import inspect
from functools import cache

import grimp
import pytest
from starlette.routing import Mount, Route

from fivesafes.hub.app import create_app
from fivesafes.hub.config import HubConfig
from fivesafes.hub.service import HubService
from fivesafes.node.config import NodeConfig
from fivesafes.node.portal.app import create_portal_app
from fivesafes.node.service import NodeService

RESTRICTED = (
    "fivesafes.imaging.headers",  # the restricted header store
    "fivesafes.imaging.store",  # the index's tables, paths included
    "fivesafes.imaging.index",
    "fivesafes.imaging.worker",
    "fivesafes.imaging.publish",  # writes the node's data
    "fivesafes.imaging.spark_index",
    "fivesafes.imaging.spark_rollups",
)
NODE_PROCESSES = ("fivesafes.node.agent", "fivesafes.node.runners", "fivesafes.node.worker")


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("fivesafes", include_external_packages=False)


def endpoint_modules(app) -> set[str]:
    """The module of every route's endpoint (and of each mounted app's routes)."""
    found: set[str] = set()
    for route in app.routes:
        endpoint = getattr(route, "endpoint", None)
        if isinstance(route, Route | Mount) and endpoint is not None:
            module = inspect.getmodule(endpoint)
            if module is not None and module.__name__.startswith("fivesafes"):
                found.add(module.__name__)
        if isinstance(route, Mount) and route.app is not None and hasattr(route.app, "routes"):
            found |= endpoint_modules(route.app)
        if hasattr(route, "effective_route_contexts"):
            for context in route.effective_route_contexts():
                module = inspect.getmodule(context.endpoint)
                if module is not None and module.__name__.startswith("fivesafes"):
                    found.add(module.__name__)
    return found


def chains(modules: set[str]) -> list[str]:
    """Each import chain from one of ``modules`` to a restricted module, in words."""
    found = []
    for module in sorted(modules):
        for restricted in RESTRICTED:
            chain = graph().find_shortest_chain(importer=module, imported=restricted)
            if chain is not None:
                found.append(" -> ".join(chain))
    return found


@pytest.fixture(scope="module")
def hub_modules() -> set[str]:
    config = HubConfig.model_validate({"hub": {"key_file": "unused.key"}})
    return endpoint_modules(create_app(HubService(config)))


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory) -> set[str]:
    root = tmp_path_factory.mktemp("node")
    config = NodeConfig.model_validate(
        {"node": {"name": "n", "hub_url": "http://127.0.0.1:1"},
         "data": {"engine": "duckdb", "path": str(root / "cdm.duckdb")}}
    )  # fmt: skip
    return endpoint_modules(create_portal_app(NodeService(config)).app)


def test_no_hub_route_reaches_the_header_store(hub_modules):
    assert len(hub_modules) >= 5  # the routes were found
    assert chains(hub_modules) == []


def test_no_node_portal_route_reaches_the_header_store(node_modules):
    assert len(node_modules) >= 3
    assert chains(node_modules) == []


def test_the_node_agent_and_its_analyses_do_not_reach_it():
    analyses = {m for m in graph().modules if m.startswith("fivesafes.analyses")}
    assert chains(set(NODE_PROCESSES) | analyses) == []


def test_the_operators_command_and_the_extract_job_do_reach_it():
    """The check can fail: the modules allowed to reach the store do."""
    assert chains({"fivesafes.cli.imaging"})
    assert chains({"fivesafes.cli.extract_job"})
    assert chains({"fivesafes.extracts.build"})


def test_the_node_starts_the_extract_job_as_a_process_by_its_name():
    """The node's jobs name the job's module (a string run as ``python -m``), and neither
    they, the extract analysis, nor the extracts module the node imports reach the store."""
    from fivesafes.node import jobs

    assert jobs.JOB_MODULE == "fivesafes.cli.extract_job"
    reachers = {"fivesafes.node.jobs", "fivesafes.node.extracts", "fivesafes.extracts.service"}
    reachers |= {m for m in graph().modules if m.startswith("fivesafes.analyses.imaging_extract")}
    assert chains(reachers) == []
