"""``fivesafes analyse glm|coxph|crosstab|summary|km|attrition|characterise``: federated
statistics from the shell."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from fivesafes.cli.output import console
from fivesafes.client import Federation

app = typer.Typer(help="Federated statistics: regression and summaries.", no_args_is_help=True)

CohortOption = Annotated[
    Path, typer.Option(help="Cohort definition (JSON).", exists=True, dir_okay=False)
]
ConnectionOption = Annotated[Path, typer.Option(help="Connection file (hub URL, token, project).")]
ProjectOption = Annotated[str | None, typer.Option(help="Project id (default: the connection's).")]
NodeOption = Annotated[list[str] | None, typer.Option(help="Only these nodes (repeat).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def show(result: Any, as_json: bool) -> None:
    """Print a result as JSON or as its own readable table."""
    if as_json:
        console.print_json(json.dumps(asdict(result)))
    else:
        console.print(str(result), highlight=False, soft_wrap=True)


@app.command()
def glm(
    formula: Annotated[str, typer.Option(help='e.g. "lung_cancer ~ age + sex + smoker".')],
    cohort: CohortOption,
    family: Annotated[str, typer.Option(help="gaussian, binomial or poisson.")] = "gaussian",
    offset: Annotated[str | None, typer.Option(help="Poisson offset variable.")] = None,
    weights: Annotated[str | None, typer.Option(help="Variance weights variable.")] = None,
    connection: ConnectionOption = Path("connection.json"),
    project: ProjectOption = None,
    node: NodeOption = None,
    timeout: Annotated[int, typer.Option(help="Seconds to wait for the whole fit.")] = 300,
    as_json: JsonOption = False,
) -> None:
    """Fit a GLM across the nodes: statsmodels' fit on the pooled rows, from sums only."""
    with Federation.from_file(connection) as fed:
        result = fed.glm(
            formula,
            cohort=cohort,
            family=family,
            offset=offset,
            weights=weights,
            project=project,
            nodes=node or None,
            timeout=timeout,
        )
    show(result, as_json)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def coxph(
    formula: Annotated[str, typer.Option(help='e.g. "time_to_lung_cancer ~ age + smoker".')],
    cohort: CohortOption,
    connection: ConnectionOption = Path("connection.json"),
    project: ProjectOption = None,
    node: NodeOption = None,
    timeout: Annotated[int, typer.Option(help="Seconds to wait for the whole fit.")] = 300,
    as_json: JsonOption = False,
) -> None:
    """Fit a Cox model stratified by node (Breslow ties): the pooled fit, from sums only."""
    with Federation.from_file(connection) as fed:
        result = fed.coxph(
            formula, cohort=cohort, project=project, nodes=node or None, timeout=timeout
        )
    show(result, as_json)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def crosstab(
    rows: Annotated[str, typer.Option(help="A categorical or binary variable, e.g. smoker.")],
    cohort: CohortOption,
    columns: Annotated[str | None, typer.Option(help="A second variable, e.g. sex.")] = None,
    value: Annotated[
        str | None, typer.Option(help="A magnitude table of this variable, e.g. bmi.")
    ] = None,
    statistic: Annotated[
        str | None, typer.Option(help="mean (default) or sum, with --value.")
    ] = None,
    connection: ConnectionOption = Path("connection.json"),
    project: ProjectOption = None,
    node: NodeOption = None,
    timeout: Annotated[int, typer.Option(help="Seconds to wait for every node.")] = 120,
    as_json: JsonOption = False,
) -> None:
    """Distinct persons by one or two variables per node and combined, after disclosure
    control (suppressed cells, rounding, the combined table gated again); with --value, the
    mean or sum of a variable per cell (judged as magnitudes: NK dominance, p%)."""
    with Federation.from_file(connection) as fed:
        result = fed.crosstab(
            cohort,
            rows,
            columns,
            value=value,
            statistic=statistic,
            project=project,
            nodes=node or None,
            timeout=timeout,
        )
    show(result, as_json)


@app.command()
def summary(
    variable: Annotated[
        list[str], typer.Option(help="A named variable: age, bmi or visits_past_year (repeat).")
    ],
    cohort: CohortOption,
    by: Annotated[str | None, typer.Option(help="A categorical or binary factor.")] = None,
    edges: Annotated[
        str | None, typer.Option(help='Quantile bin edges, e.g. "0,18,40,65,110".')
    ] = None,
    connection: ConnectionOption = Path("connection.json"),
    project: ProjectOption = None,
    node: NodeOption = None,
    timeout: Annotated[int, typer.Option(help="Seconds to wait for every node.")] = 120,
    as_json: JsonOption = False,
) -> None:
    """n, missing, mean, standard deviation and quantiles (from released bins) of named
    variables per node and pooled, after disclosure control; per level of --by if given."""
    try:
        bins = [float(e) for e in edges.split(",")] if edges else None
    except ValueError:
        console.print("--edges must be numbers separated by commas")
        raise typer.Exit(2) from None
    if bins is not None and len(variable) > 1:
        console.print("--edges belong to one variable: summarise it on its own")
        raise typer.Exit(2)
    options: dict[str, Any] = {"project": project, "nodes": node or None, "timeout": timeout}
    with Federation.from_file(connection) as fed:
        for name in variable:
            if by is not None:
                show(fed.summary_by(cohort, name, by, edges=bins, **options), as_json)
            else:
                show(fed.summary(cohort, name, edges=bins, **options), as_json)


@app.command()
def km(
    cohort: CohortOption,
    time: Annotated[str, typer.Option(help="A time to event.")] = "time_to_lung_cancer",
    by: Annotated[str | None, typer.Option(help="A categorical or binary factor.")] = None,
    interval: Annotated[float, typer.Option(help="Years per agreed interval.")] = 1.0,
    horizon: Annotated[float, typer.Option(help="Years of follow-up shown.")] = 10.0,
    plot: Annotated[Path | None, typer.Option(help="Also draw the curves to this PNG.")] = None,
    connection: ConnectionOption = Path("connection.json"),
    project: ProjectOption = None,
    node: NodeOption = None,
    timeout: Annotated[int, typer.Option(help="Seconds to wait for every node.")] = 120,
    as_json: JsonOption = False,
) -> None:
    """Kaplan-Meier survival per level, pooled over the nodes on the interval boundaries each
    node could show (every step hides at least the threshold of persons)."""
    with Federation.from_file(connection) as fed:
        result = fed.kaplan_meier(
            cohort,
            time,
            by,
            interval=interval,
            horizon=horizon,
            project=project,
            nodes=node or None,
            timeout=timeout,
        )
    show(result, as_json)
    if plot is not None:
        try:
            written = result.plot(plot)
        except ValueError as exc:
            console.print(f"no plot: {exc}")
            raise typer.Exit(1) from None
        console.print(f"curves written to {written}")


@app.command()
def attrition(
    cohort: CohortOption,
    connection: ConnectionOption = Path("connection.json"),
    project: ProjectOption = None,
    node: NodeOption = None,
    timeout: Annotated[int, typer.Option(help="Seconds to wait for every node.")] = 120,
    as_json: JsonOption = False,
) -> None:
    """Persons remaining after each step of a cohort definition (a Circe definition's
    inclusion rules), per node and summed, after disclosure control."""
    with Federation.from_file(connection) as fed:
        result = fed.attrition(cohort, project=project, nodes=node or None, timeout=timeout)
    show(result, as_json)


@app.command()
def characterise(
    cohort: CohortOption,
    top: Annotated[int, typer.Option(help="Concepts listed per domain (1-50).")] = 10,
    window_days: Annotated[int, typer.Option(help="Days up to the index date searched.")] = 365,
    domain: Annotated[
        list[str] | None,
        typer.Option(help="condition, drug, measurement, procedure, observation (repeat)."),
    ] = None,
    connection: ConnectionOption = Path("connection.json"),
    project: ProjectOption = None,
    node: NodeOption = None,
    timeout: Annotated[int, typer.Option(help="Seconds to wait for every node.")] = 120,
    as_json: JsonOption = False,
) -> None:
    """A cohort's age bands, sex and most recorded concepts, per node and summed, after
    disclosure control."""
    with Federation.from_file(connection) as fed:
        result = fed.characterise(
            cohort,
            top=top,
            window_days=window_days,
            domains=domain or None,
            project=project,
            nodes=node or None,
            timeout=timeout,
        )
    show(result, as_json)
