"""The line an analysis command shows while it waits for the nodes, on standard error and only
on a terminal: ``waiting for nodes: 2 of 3 answered (5 s)``, rewritten in place about every
second and wiped when the answer is in. Standard output is never touched (scripts read it)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from fivesafes.protocol.models import TaskView
from fivesafes.protocol.runs import FINAL_STATES

if TYPE_CHECKING:
    from fivesafes.client import Federation


def said(view: TaskView, seconds: float) -> str:
    """The line for ``view``, ``seconds`` after the command began to wait."""
    answered = sum(run.state in FINAL_STATES for run in view.runs)
    return f"waiting for nodes: {answered} of {len(view.runs)} answered ({seconds:.0f} s)"


@dataclass
class WaitingLine:
    """The line on ``stream``; call it with each view of the task (the client's ``progress``)."""

    stream: TextIO
    started: float = field(default_factory=time.monotonic)
    shown: bool = False

    @classmethod
    def on_terminal(cls) -> WaitingLine | None:
        """A line on standard error if that is a terminal; otherwise none."""
        return cls(sys.stderr) if sys.stderr.isatty() else None

    def __call__(self, view: TaskView) -> None:
        self.stream.write(f"\r\x1b[K{said(view, time.monotonic() - self.started)}")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


@dataclass(frozen=True)
class Shown:
    """The client as an analysis asks through it (``analyses.plugin.Asker``), each wait for a
    task shown on ``line``."""

    fed: Federation
    line: WaitingLine

    def submit(
        self,
        analysis: str,
        parameters: dict[str, Any],
        *,
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 120,
        gate: dict[str, Any] | None = None,
    ) -> TaskView:
        return self.fed.submit(
            analysis, parameters, project=project, nodes=nodes, timeout=timeout, gate=gate
        )

    def wait(self, task_id: str, timeout: float) -> TaskView:
        return self.fed.wait(task_id, timeout, progress=self.line)
