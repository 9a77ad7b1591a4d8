"""Docs that fail when they rot: every command, option and setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from fivesafes.cli.main import app
from fivesafes.governance.accounts.settings import AccountSettings
from fivesafes.hub.config import HubSettings
from fivesafes.imaging.settings import ImagingSettings
from fivesafes.linkage.settings import LinkageSettings
from fivesafes.node.config import NodeSettings
from fivesafes.node.portal_settings import PortalSettings
from fivesafes.pool.settings import PoolSettings
from fivesafes.sdc.gate import GateSettings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def commands():
    root = typer.main.get_command(app)

    def walk(command, prefix, ctx):
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                yield from walk(sub, [*prefix, name], sub.context_class(sub, parent=ctx))
        else:
            yield " ".join(prefix), command, ctx

    return list(walk(root, [], root.context_class(root)))


def section(text: str, command: str) -> str:
    match = re.search(
        rf"^### `fivesafes {re.escape(command)}[^`]*`\n(.*?)(?=^##|\Z)", text, re.M | re.S
    )
    assert match, f"docs/cli.md has no section for `fivesafes {command}`"
    return match.group(1)


@pytest.mark.parametrize(("name", "command", "ctx"), commands(), ids=lambda v: str(v)[:30])
def test_every_command_and_option_is_in_docs_cli(name, command, ctx):
    body = section((DOCS / "cli.md").read_text(), name)
    for param in command.get_params(ctx):
        if param.param_type_name == "option" and param.name != "help":
            assert any(opt in body for opt in param.opts), f"{name}: {param.opts[0]} undocumented"


@pytest.mark.parametrize(
    "model",
    [
        HubSettings,
        NodeSettings,
        GateSettings,
        AccountSettings,
        PortalSettings,
        ImagingSettings,
        LinkageSettings,
        PoolSettings,
    ],
)
def test_every_setting_is_in_docs_configuration(model):
    text = (DOCS / "configuration.md").read_text()
    for field in model.model_fields:
        assert f"`{field}`" in text or f"`{field}`," in text, (
            f"{model.__name__}.{field} undocumented"
        )


def test_readme_starts_with_the_two_commands():
    readme = (DOCS.parent / "README.md").read_text()
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert [line.split("#")[0].strip() for line in first_block] == [
        "bash scripts/demo.sh",
        "bash scripts/test.sh",
    ]
