"""What an analysis is: one plug-in that owns everything about it.

An :class:`Analysis` names itself and its version, declares its typed parameters, the output a
node releases (which carries the gate's verdict), the data domains it reads, and provides

- its **node part**: :meth:`Analysis.compute` finds the persons behind the answer and whatever
  the gate needs; :meth:`Analysis.judge` is its gate, turning that into the released form (or
  suppression markers, or a hold for review). The node's release pipeline
  (``fivesafes.node.runner``) runs both, checks differencing and writes the outbox; an exception
  anywhere in it withholds the result;
- its **hub part**: :meth:`Analysis.regate` validates and judges a node's output again under the
  hub's profile, :meth:`Analysis.combine` combines the nodes' outputs (and gates the result)
  into its typed :attr:`Analysis.combined`; an iterative analysis has :attr:`Analysis.rounds`
  instead of ``combine``;
- how it **reads** to a researcher: :meth:`Analysis.read` builds the client's result object from
  a task's view, :meth:`Analysis.show` fills the portal's page, and :attr:`Analysis.client`
  holds the Python client's methods (``Federation.count`` is ``Count.client["count"]``).

``fivesafes.analyses.registry`` finds the plug-ins; nothing else names an analysis.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel
from pyroaring import AbstractBitMap

from fivesafes.protocol.models import Instruction, TaskPayload
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.profiles import Profile

if TYPE_CHECKING:
    from rich.console import Console

    from fivesafes.analyses.jobs import NodeJobs
    from fivesafes.analyses.linked import LinkedPersons
    from fivesafes.analyses.results.page import Shown
    from fivesafes.data.source import OmopDatabase
    from fivesafes.protocol.models import TaskView


class Refused(Exception):
    """An analysis declines to run or release: the node answers ``refused`` with ``reason``
    (a code, never data)."""

    def __init__(self, reason: ReasonCode, unknown_concepts: Sequence[int] = ()) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.unknown_concepts = list(unknown_concepts)


class GateFailure(Exception):
    """A disclosure check could not be completed: the result is withheld (``gate_error``)."""


@dataclass(frozen=True)
class NodeContext:
    """What a node hands an analysis's node part: its data, its profile (as tightened by the
    task), a key under which a model's rows may be cached for the rounds of one task, the
    hub's signed instruction for this round of an iterative analysis, the task itself, and
    the node's jobs (``analyses.jobs``: None where the node runs none), the run's
    deadline (``time.time()``; None: none given) and the node's linked persons
    (``analyses.linked``: None where it offers none)."""

    db: OmopDatabase
    profile: Profile
    cache_key: str
    instruction: Instruction | None = None
    task: TaskPayload | None = None
    jobs: NodeJobs | None = None
    deadline: float | None = None
    linked: LinkedPersons | None = None


@dataclass(frozen=True)
class Computed:
    """What a node part found: the persons behind its answer (its population) and whatever its
    gate needs (``found``: the analysis's own type; it stays at the node)."""

    persons: AbstractBitMap
    found: Any


@dataclass(frozen=True)
class Judged:
    """What an analysis's gate decided.

    - ``pass`` or ``fail``: ``output`` is the released form (values, or markers only), and
      ``released`` says whether any value leaves (then every population is checked for
      differencing first and remembered: ``persons`` and the ``also`` released);
    - ``review``: nothing leaves; ``output`` (if any) is what would be released, kept at the
      node for its airlock, with the populations behind it.
    """

    verdict: Literal["pass", "fail", "review"]
    output: dict[str, Any] | None
    released: bool = False
    also: tuple[AbstractBitMap, ...] = ()


class Asker(Protocol):
    """What an analysis's client methods need of the researcher's client
    (``fivesafes.client.Federation``): submit a task, and wait for it."""

    def submit(
        self,
        analysis: str,
        parameters: dict[str, Any],
        *,
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 120,
        gate: dict[str, Any] | None = None,
    ) -> TaskView: ...

    def wait(self, task_id: str, timeout: float) -> TaskView: ...


class Step(Protocol):
    """A round's instruction as an iterative analysis's algorithm gives it (the hub signs it
    as a ``protocol.models.Instruction``)."""

    @property
    def step(self) -> Literal["mean", "start", "step"]: ...

    @property
    def ybar(self) -> float | None: ...

    @property
    def beta(self) -> Sequence[float]: ...


class Rounds(ABC):
    """The hub's algorithm of an iterative analysis (``fivesafes.hub.rounds`` runs the rounds:
    signs each instruction, re-queues the runs, stops a fit whose nodes change)."""

    @abstractmethod
    def start(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """The algorithm's state before round 0 (kept in the task's progress, JSON)."""

    @abstractmethod
    def first(self, state: dict[str, Any]) -> Step:
        """Round 0's instruction."""

    @abstractmethod
    def step(
        self, state: dict[str, Any], outputs: list[dict[str, Any]], profile: Profile
    ) -> tuple[Step | None, dict[str, Any] | None]:
        """Pool one round's outputs, gate the pool and advance the algorithm (``state`` is
        updated in place): the next instruction, or None and the fit. Raises ``ValueError``
        with a message in words to stop the fit."""

    @abstractmethod
    def finished(
        self, parameters: dict[str, Any], progress: dict[str, Any], error: str | None
    ) -> dict[str, Any]:
        """The analysis's own fields of the combined result."""


class CommandError(Exception):
    """A command's options do not make sense together: said in words, with an exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Command:
    """The analysis's command in ``fivesafes analyse`` (or ``fivesafes`` itself, ``top_level``).

    ``run(fed, *, project, nodes, timeout, **options)`` asks through the client and returns its
    result (or a list of results, each printed); its other keyword parameters, annotated for
    typer, are the command's own options (the CLI adds the connection, project, nodes,
    timeout and ``--json``). ``show(result, as_json, console)`` prints a result (default: its
    text, or its fields as JSON); ``finish(result, options)`` says what else to print and the
    exit code (default: nothing, 0). ``run`` raises ``CommandError`` for options that do not fit."""

    run: Callable[..., Any]
    timeout: int = 120
    top_level: bool = False
    show: Callable[[Any, bool, Console], None] | None = None
    finish: Callable[[Any, dict[str, Any]], tuple[list[str], int]] | None = None
    waits_for: str = "every node"  # what ``--timeout`` is the time for


class Analysis(ABC):
    """The base of every analysis plug-in (see the module's docstring)."""

    name: ClassVar[str]
    version: ClassVar[int] = 1
    title: ClassVar[str]  # in words, for pages
    parameters: ClassVar[type[BaseModel]]
    output: ClassVar[type[BaseModel]]
    combined: ClassVar[type[BaseModel]]
    """Its combined result, exactly as ``combine`` (or its ``rounds``, finished by the hub)
    builds it: the hub validates every combination through it before storing it, and the
    registry publishes it in the hub's OpenAPI document (``Registry.task_view``)."""
    result: ClassVar[Any]
    """The researcher's result class: ``result.from_view(view)`` reads a task's view."""
    answers_again: ClassVar[bool] = True
    """Whether an identical earlier question of the project is answered with the earlier
    released answer, without computing (False for one whose run does work at the node that
    each task asks for anew: an imaging extract)."""
    domains: ClassVar[frozenset[str]] = frozenset({"omop"})
    """The data domains it always reads; :meth:`domains_of` adds those its cohort reads."""
    fits_a_model: ClassVar[bool] = False  # a model's risk (``governance.risk``)
    rounds: ClassVar[Rounds | None] = None
    client: ClassVar[Mapping[str, Callable[..., Any]]] = {}
    """The Python client's methods for it, each called with the client as its first argument
    (``Federation.count(...)`` calls ``client["count"](federation, ...)``)."""
    exports: ClassVar[tuple[Any, ...]] = ()
    """What researchers import from ``fivesafes.client`` by name: its result classes, and
    functions that draw them (``fivesafes.client.results``, ``fivesafes.client.plots``)."""
    commands: ClassVar[Mapping[str, Command]] = {}
    """Its commands on the command line, by name (``fivesafes analyse glm ...``)."""

    def domains_of(self, parameters: BaseModel) -> frozenset[str]:
        """The data domains a task with these (typed) parameters reads: :attr:`domains`, and
        whatever its cohort reads (an imaging criterion reads ``imaging``). The hub refuses a
        task whose project did not ask for one of them; a node refuses to run one its
        approval does not cover (``domain_not_approved``)."""
        cohort = getattr(parameters, "cohort", None)
        if cohort is None or not hasattr(cohort, "data_domains"):
            return self.domains
        read: frozenset[str] = cohort.data_domains()
        return self.domains | read

    # ---- node part -----------------------------------------------------------------------

    @abstractmethod
    def compute(self, parameters: Any, context: NodeContext) -> Computed:
        """Run on the node's data: the persons behind the answer and what the gate needs."""

    @abstractmethod
    def judge(self, computed: Computed, profile: Profile) -> Judged:
        """The analysis's gate: what of ``computed`` may leave under ``profile``."""

    # ---- hub part ------------------------------------------------------------------------

    def regate(self, output: dict[str, Any], profile: Profile) -> dict[str, Any]:
        """A node's output as the hub passes it on: validated against the analysis's output
        type (a ``ValueError`` if it is not one) and judged again under the hub's profile. By
        default only validated (a model's rounds are judged when pooled)."""
        return self.output.model_validate(output).model_dump(mode="json")

    def withheld(self, output: dict[str, Any]) -> str | None:
        """Why nothing of a node's (re-gated) output was released, or None if something was.
        The hub leaves such a node out of the combination and names it with the nodes that did
        not answer, so a combined result never reads as if that node had nothing to add. By
        default an output whose gate failed released nothing (those that release in part say
        otherwise: ``released_some``)."""
        gate = output.get("gate") if isinstance(output, dict) else None
        if not isinstance(gate, dict) or gate.get("verdict") != "fail":
            return None
        if self.released_some(output):
            return None
        rules = ", ".join(str(r) for r in gate.get("rules") or []) or "its rules"
        return f"its whole output was withheld by its disclosure gate ({rules})"

    def public(self, output: dict[str, Any]) -> dict[str, Any]:
        """What of a node's (re-gated) output anyone sees: the task's view shows this, and
        the hub keeps only this once the task is combined. By default all of it; a linked
        count's blinded set is for the hub's combination only."""
        return output

    def released_some(self, output: dict[str, Any]) -> bool:
        """Whether an output whose gate failed still released part of itself (a table's
        cells that passed). By default not: most outputs release exactly when they pass."""
        return False

    def combine(
        self, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
    ) -> dict[str, Any]:
        """Combine the (re-gated) outputs of the nodes that succeeded, and gate the result;
        ``missing`` names the nodes that did not. An iterative analysis combines round by
        round (``rounds``) instead."""
        raise TypeError(f"{self.name} is combined round by round, not at once")

    # ---- how it reads --------------------------------------------------------------------

    def read(self, view: TaskView) -> Any:
        """The client's result object for a task of this analysis (its ``result`` class)."""
        return self.result.from_view(view)

    def checked(self, outputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The nodes' outputs as the analysis's output type (a ``ValueError`` if one is not)."""
        return {node: self.output.model_validate(raw) for node, raw in outputs.items()}

    def show(self, view: TaskView, page: Shown) -> None:
        """Fill the portal's task page with the combined result (words, tables, pictures)."""
        page.lines.append("This analysis's result is read with the Python client.")
