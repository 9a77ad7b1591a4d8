"""The registry: the one place analyses are found by name.

The built-in analyses are declared below, each as ``module:class``, and imported only when
first asked for. Other packages add analyses through the Python entry point group
``fivesafes.analyses`` (the door that reviewed custom code will use): each entry point names an
:class:`~fivesafes.analyses.plugin.Analysis` subclass, registered under its ``name``; one that
would replace a built-in, or does not load, is refused with a clear error, never silently.

The protocol, the node's runner, the hub, its rounds, the client, the portal and the CLI ask
this module for an analysis; none of them names one.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar, Literal, Union

from pydantic import BaseModel, create_model, model_validator

from fivesafes.analyses.plugin import Analysis
from fivesafes.analyses.results.combined import NotCombined
from fivesafes.protocol.models import TaskRequest, TaskView

ENTRY_POINTS = "fivesafes.analyses"

BUILTIN: dict[str, str] = {
    "count": "fivesafes.analyses.count:Count",
    "summary": "fivesafes.analyses.summary:Summary",
    "glm": "fivesafes.analyses.glm:GLM",
    "coxph": "fivesafes.analyses.cox:CoxPH",
    "meta": "fivesafes.analyses.meta:Meta",
    "crosstab": "fivesafes.analyses.crosstab:Crosstab",
    "histogram": "fivesafes.analyses.crosstab:Histogram",
    "km": "fivesafes.analyses.km:KaplanMeier",
    "attrition": "fivesafes.analyses.attrition:Attrition",
    "characterise": "fivesafes.analyses.characterise:Characterise",
    "correlation": "fivesafes.analyses.correlation:Correlation",
    "imaging_summary": "fivesafes.analyses.imaging_summary:ImagingSummary",
    "imaging_extract": "fivesafes.analyses.imaging_extract:ImagingExtract",
    "linked_count": "fivesafes.analyses.linked_count:LinkedCount",
}
"""The built-in analyses, in the order pages and help list them."""


@dataclass(frozen=True)
class Listed:
    """An analysis's command as the command line's help lists it: its name, the first paragraph
    of its help (``Command.run``'s docstring) and whether it is ``fivesafes NAME`` itself."""

    analysis: str
    command: str
    summary: str
    top_level: bool = False


BUILTIN_COMMANDS: tuple[Listed, ...] = (
    Listed(
        "count",
        "count",
        "Count distinct persons in a cohort at every node, after disclosure control.",
        top_level=True,
    ),
    Listed(
        "summary",
        "summary",
        "n, missing, mean, standard deviation and quantiles (from released bins) of named\n"
        "variables per node and pooled, after disclosure control; per level of --by if given.",
    ),
    Listed(
        "glm",
        "glm",
        "Fit a GLM across the nodes: statsmodels' fit on the pooled rows, from sums only.",
    ),
    Listed(
        "coxph",
        "coxph",
        "Fit a Cox model stratified by node (Breslow ties): the pooled fit, from sums only.",
    ),
    *(
        Listed(
            analysis,
            "crosstab",
            "Distinct persons by one or two variables per node and combined, after disclosure\n"
            "control (suppressed cells, rounding, the combined table gated again); with "
            "--value, the\n"
            "mean or sum of a variable per cell (judged as magnitudes: NK dominance, p%).",
        )
        for analysis in ("crosstab", "histogram")  # a histogram has a crosstab's command
    ),
    Listed(
        "km",
        "km",
        "Kaplan-Meier survival per level, pooled over the nodes on the interval boundaries each"
        "\nnode could show (every step hides at least the threshold of persons).",
    ),
    Listed(
        "attrition",
        "attrition",
        "Persons remaining after each step of a cohort definition (a Circe definition's\n"
        "inclusion rules), per node and summed, after disclosure control.",
    ),
    Listed(
        "characterise",
        "characterise",
        "A cohort's age bands, sex and most recorded concepts, per node and summed, after\n"
        "disclosure control.",
    ),
    Listed(
        "correlation",
        "correlation",
        "The pooled Pearson correlation matrix of named variables, after disclosure control.",
    ),
    Listed(
        "imaging_summary",
        "imaging-summary",
        "Series, studies and persons by modality, body part and contrast and by year, of every\n"
        "series of a cohort's persons, per node and pooled, after disclosure control.",
    ),
    Listed(
        "imaging_extract",
        "imaging-extract",
        "Ask each node to build a de-identified extract of a cohort's imaging, held there for\n"
        "its output checkers; prints counts (the files stay at the nodes).",
    ),
    Listed(
        "linked_count",
        "linked-count",
        "Count the persons linked across nodes who are in each node's cohort.",
        top_level=True,
    ),
)
"""The built-ins' commands as help lists them, so that ``fivesafes --help`` imports no analysis
(each brings its node part: Ibis, pandas). ``tests/unit/test_cli_start.py`` holds them to
what the analyses themselves say (``Analysis.commands``)."""


class RegistryError(ValueError):
    """An analysis could not be registered (named in words)."""


class UnknownAnalysis(KeyError):
    """No analysis of that name is registered."""


def _load(target: str) -> Analysis:
    module, _, attribute = target.partition(":")
    found = getattr(importlib.import_module(module), attribute)
    analysis = found() if isinstance(found, type) else found
    if not isinstance(analysis, Analysis):
        raise RegistryError(f"{target} is not an analysis (fivesafes.analyses.plugin.Analysis)")
    return analysis


def listed(analysis: Analysis) -> list[Listed]:
    """``analysis``'s commands as help lists them (the analysis imported)."""
    return [
        Listed(
            analysis.name,
            name,
            inspect.cleandoc(command.run.__doc__ or "").split("\n\n")[0].strip(),
            command.top_level,
        )
        for name, command in analysis.commands.items()
    ]


class Registry:
    """Analyses by name: the built-ins and those of installed entry points."""

    def __init__(
        self,
        builtin: dict[str, str],
        plugins: Iterable[EntryPoint] | None = None,
        commands: Iterable[Listed] | None = None,
    ) -> None:
        """``commands``, if given, are every command of the ``builtin`` analyses."""
        self._targets = dict(builtin)
        self._plugins = plugins
        self._loaded: dict[str, Analysis] = {}
        self._commands: dict[str, list[Listed]] = {}
        if commands is not None:
            self._commands = {name: [] for name in builtin}
            for each in commands:
                self._commands[each.analysis].append(each)

    @cached_property
    def _all(self) -> dict[str, str]:
        targets = dict(self._targets)
        found = entry_points(group=ENTRY_POINTS) if self._plugins is None else self._plugins
        for point in found:
            if point.name in targets:
                raise RegistryError(
                    f"the entry point {point.value} would replace the analysis {point.name!r}"
                )
            targets[point.name] = point.value
        return targets

    def names(self) -> tuple[str, ...]:
        return tuple(self._all)

    def get(self, name: str) -> Analysis | None:
        """The analysis called ``name``, or None."""
        if name not in self._all:
            return None
        if name not in self._loaded:
            analysis = _load(self._all[name])
            if analysis.name != name:
                raise RegistryError(f"{self._all[name]} is called {analysis.name!r}, not {name!r}")
            self._loaded[name] = analysis
        return self._loaded[name]

    def __getitem__(self, name: str) -> Analysis:
        analysis = self.get(name)
        if analysis is None:
            raise UnknownAnalysis(name)
        return analysis

    def every(self) -> list[Analysis]:
        return [self[name] for name in self.names()]

    def commands(self) -> list[Listed]:
        """Every analysis's commands as help lists them, in the registry's order: a built-in's
        as declared (nothing imported), another's from the analysis itself."""
        return [
            each
            for name in self.names()
            for each in (self._commands[name] if name in self._commands else listed(self[name]))
        ]

    def versions(self) -> dict[str, int]:
        """Each analysis's version: raised whenever what a node computes or releases for it
        changes, so an approval of ``glm@1`` never covers a later ``glm@2``."""
        return {analysis.name: analysis.version for analysis in self.every()}

    @cached_property
    def task_request(self) -> type[TaskRequest]:
        """``TaskRequest`` with each analysis's typed parameters (for the hub's API and its
        OpenAPI document)."""
        by_analysis = {a.name: a.parameters for a in self.every()}
        models = tuple(dict.fromkeys(by_analysis.values()))
        names: Any = Literal[self.names()]
        union: Any = Union[models]  # noqa: UP007 - a union of types known only at run time
        typed: type[TypedTaskRequest] = create_model(
            "TaskRequest",
            __base__=TypedTaskRequest,
            analysis=(names, ...),
            parameters=(union, ...),
        )
        typed.by_analysis = by_analysis
        return typed

    @cached_property
    def task_view(self) -> type[TaskView]:
        """``TaskView`` whose combined result is one of the analyses' own (``combined``) or
        the hub's failure that releases nothing (for the hub's API and its OpenAPI document;
        the protocol's ``TaskView`` reads any object, so a client never needs the plug-ins)."""
        models = tuple(dict.fromkeys([*(a.combined for a in self.every()), NotCombined]))
        union: Any = Union[models]  # noqa: UP007 - a union of types known only at run time
        typed: type[TaskView] = create_model(
            "TaskView", __base__=TaskView, combined=(union | None, None)
        )
        return typed


class TypedTaskRequest(TaskRequest):
    """A task request whose parameters are read as the named analysis's own type."""

    by_analysis: ClassVar[dict[str, type[BaseModel]]] = {}

    @model_validator(mode="before")
    @classmethod
    def _parameters_of_the_analysis(cls, data: Any) -> Any:
        """Read the parameters as the named analysis's own type (several have the same
        fields: a histogram's parameters are also a summary's with its own bins)."""
        if isinstance(data, dict) and isinstance(data.get("parameters"), dict):
            model = cls.by_analysis.get(str(data.get("analysis")))
            if model is not None:
                data = {**data, "parameters": model.model_validate(data["parameters"])}
        return data

    @model_validator(mode="after")
    def _parameters_fit_the_analysis(self) -> TypedTaskRequest:
        """Parameters are exactly the analysis's typed parameters (each model forbids unknown
        fields, so no vectors, seeds, row ids, SQL or disclosure settings can ride along)."""
        if not isinstance(self.parameters, type(self).by_analysis[self.analysis]):
            raise ValueError(f"the parameters are not those of the {self.analysis} analysis")
        return self


def parameters_json(request: TaskRequest) -> dict[str, Any]:
    """A request's parameters as the signed task carries them."""
    parameters: Any = request.parameters
    if isinstance(parameters, BaseModel):
        return parameters.model_dump(mode="json")
    return dict(parameters)


REGISTRY = Registry(BUILTIN, commands=BUILTIN_COMMANDS)
"""The installed analyses."""
