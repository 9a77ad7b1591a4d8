"""The command line starts without the platform's heavy parts (issue 13): ``fivesafes --help``
and each group's help import no pandas, Ibis, DuckDB, SQLAlchemy, Alembic, FastAPI, uvicorn or
pydicom (a fresh interpreter's ``sys.modules`` says so; the times are in
benchmarks/bench_cli_start.py).
A group's or an analysis's command is built when it runs or its own help is asked for; help
lists it by the line declared for it, held here to the command's own help. And the line an
analysis command shows on a terminal while it waits for the nodes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import typer
from typer.testing import CliRunner

from fivesafes.analyses.registry import BUILTIN, REGISTRY, Registry
from fivesafes.cli import lazy
from fivesafes.cli.main import GROUPS, app
from fivesafes.cli.progress import Shown, WaitingLine, said
from fivesafes.client import Federation
from fivesafes.protocol.models import RunView, TaskView

HEAVY = [
    "pandas", "numpy", "ibis", "duckdb", "pyarrow", "sqlalchemy", "sqlalchemy.orm", "alembic",
    "fastapi", "uvicorn", "starlette", "httpx", "argon2", "statsmodels", "scipy", "pydicom",
    "fivesafes.cohorts.compile", "fivesafes.hub.service", "fivesafes.node.service",
]  # fmt: skip
WHAT_IMPORTS = """
import json, sys
args = json.loads(sys.argv[1])
if args is None:
    import fivesafes.cli.main
else:
    from fivesafes.cli.main import app
    try:
        app(args, prog_name="fivesafes")
    except SystemExit as exc:
        assert exc.code == 0, exc.code
print(json.dumps(sorted(sys.modules)))
"""


def imported_by(args: list[str] | None) -> set[str]:
    """Every module a fresh interpreter has imported after ``fivesafes ARGS`` (None: after
    importing ``fivesafes.cli.main``)."""
    done = subprocess.run(
        [sys.executable, "-c", WHAT_IMPORTS, json.dumps(args)],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


STARTS = [
    None, [], ["hub"], ["node"], ["node", "imaging"], ["airlock"], ["audit"], ["analyse"], ["sdc"]
]  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [None if start is None else [*start, "--help"] for start in STARTS],
    ids=lambda args: "import" if args is None else " ".join(args),
)
def test_starting_imports_nothing_heavy(args):
    assert sorted(set(HEAVY) & imported_by(args)) == []


def test_a_count_from_the_command_line_or_the_client_imports_no_gate_and_no_other_analysis():
    """``fivesafes count --help`` loads what the researcher's side of a count reads: not the
    gate (numpy), not the cohort compiler; ``fed.count`` in a new Python process imports the
    count alone, not every analysis (pandas, statsmodels) as it did."""
    assert sorted({*HEAVY, "fivesafes.sdc.gate"} & imported_by(["count", "--help"])) == []
    code = (
        "import json, sys\n"
        "from fivesafes.client import Federation\n"
        "Federation.__new__(Federation).count\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported = set(json.loads(done.stdout.strip().splitlines()[-1]))
    packages = {target.split(":")[0] for target in BUILTIN.values()}
    assert packages & imported == {"fivesafes.analyses.count"}
    assert sorted({"pandas", "numpy", "ibis", "statsmodels"} & imported) == []


def test_an_analysis_is_imported_only_when_its_command_is_asked_for():
    packages = {target.split(":")[0] for target in BUILTIN.values()}
    assert packages & imported_by(["analyse", "--help"]) == set()
    assert packages & imported_by(["analyse", "km", "--help"]) == {"fivesafes.analyses.km"}


# ---- what help lists, held to what each command says ----------------------------------------


def first_paragraph(command) -> str:
    return (command.short_help or command.help or "").split("\n\n")[0].strip()


def test_each_group_is_listed_as_its_own_help_says():
    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="fivesafes")
    listed = [name for name in root.list_commands(ctx) if name in GROUPS]
    assert listed == list(GROUPS)
    for name, (_, summary) in GROUPS.items():
        group = root.get_command(ctx, name)
        assert group.name == name and not isinstance(group, lazy.Later)
        assert first_paragraph(group) == summary


def test_the_declared_analysis_commands_are_the_analyses_own():
    """``BUILTIN_COMMANDS`` is what the analyses themselves say (imported to find out)."""
    assert REGISTRY.commands() == Registry(BUILTIN).commands()


def test_help_lists_lazy_commands_without_building_them():
    built = []

    def build():
        built.append("hello")
        return lazy.command("hello", lambda: None)

    class Group(lazy.LazyGroup):
        def __init__(self, **attrs):
            super().__init__(**attrs)
            self.later("hello", "Say hello.", build)

    group_app = typer.Typer(cls=Group, help="A group.")

    @group_app.callback()
    def group() -> None:
        """A group."""

    runner = CliRunner()
    shown = runner.invoke(group_app, ["--help"])
    assert shown.exit_code == 0 and "Say hello." in shown.output and built == []
    assert runner.invoke(group_app, ["hello"]).exit_code == 0 and built == ["hello"]


def test_an_unknown_command_is_still_a_usage_error():
    result = CliRunner().invoke(app, ["no-such-command"])
    assert result.exit_code == 2 and "No such command" in result.output


# ---- the line while waiting for the nodes ---------------------------------------------------


def view(*states: str, state: str = "running") -> TaskView:
    now = datetime.now(UTC)
    return TaskView(
        task_id="t1",
        project_id="p1",
        analysis="count",
        state=state,
        created_at=now,
        deadline=now,
        runs=[RunView(run_id=f"r{i}", node=f"n{i}", state=s) for i, s in enumerate(states)],
    )


def test_the_waiting_line_counts_the_nodes_that_answered():
    assert said(view("succeeded", "refused", "leased"), 5.2) == (
        "waiting for nodes: 2 of 3 answered (5 s)"
    )


def test_the_waiting_line_is_rewritten_in_place_and_wiped():
    stream = io.StringIO()
    line = WaitingLine(stream)
    line(view("queued", "succeeded"))
    line(view("succeeded", "succeeded"))
    line.clear()
    written = stream.getvalue()
    assert written.count("\r") == 3 and "\n" not in written
    assert written.endswith("\r\x1b[K") and "1 of 2 answered" in written


def test_no_waiting_line_off_a_terminal():
    assert WaitingLine.on_terminal() is None  # pytest captures standard error


def test_wait_shows_progress_while_the_task_runs(monkeypatch):
    views = iter([view("queued", "queued"), view("succeeded", "queued"),
                  view("succeeded", "succeeded", state="complete")])  # fmt: skip
    held: list[float] = []

    def task(task_id: str, wait: float = 0) -> TaskView:
        held.append(wait)
        return next(views)

    fed = Federation("http://127.0.0.1:9", "token", "p1")
    monkeypatch.setattr(fed, "task", task)
    seen: list[TaskView] = []
    result = fed.wait("t1", timeout=60, progress=seen.append)
    assert result.state == "complete" and len(seen) == 2 and max(held) <= 1.0
    fed.close()


def test_an_analysis_waits_through_the_line(monkeypatch):
    given = []

    def wait(task_id: str, timeout: float, progress=None) -> TaskView:
        given.append(progress)
        return view("succeeded", state="complete")

    fed = Federation("http://127.0.0.1:9", "token", "p1")
    monkeypatch.setattr(fed, "wait", wait)
    line = WaitingLine(io.StringIO())
    assert Shown(fed, line).wait("t1", 60).state == "complete" and given == [line]
    fed.close()


def test_wait_without_progress_long_polls(monkeypatch):
    held: list[float] = []

    def task(task_id: str, wait: float = 0) -> TaskView:
        held.append(wait)
        return view("succeeded", state="complete")

    fed = Federation("http://127.0.0.1:9", "token", "p1")
    monkeypatch.setattr(fed, "task", task)
    assert fed.wait("t1", timeout=60).state == "complete" and held == [25.0]
    fed.close()


# ---- the dummy password hash ------------------------------------------------------------------


def test_the_dummy_password_hash_is_made_on_first_use_not_at_import():
    script = (
        "from fivesafes.governance.accounts import passwords as p\n"
        "print(p._dummy.cache_info().currsize)\n"
        "print(p.verify_password(None, 'guess').ok, p._dummy.cache_info().currsize)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.split() == ["0", "False", "1"], done.stderr
