"""``fivesafes analyse summary|km`` against real hub and node processes, as a researcher would
run them from the shell with a connection file."""

from __future__ import annotations

import json

from PIL import Image

from federation import fs

EVERYONE = {"name": "everyone", "index": {"type": "fixed", "date": "2018-01-01"}}


def connect(harness, site_data, tmp_path):
    with harness.every_site(site_data) as fed:
        project = fed.project
    connection = tmp_path / "connection.json"
    details = {"hub_url": harness.hub_url, "token": harness.token_for("alice"), "project": project}
    if harness.ca_file:
        details["ca_file"] = str(harness.ca_file)
    connection.write_text(json.dumps(details))
    cohort = tmp_path / "cohort.json"
    cohort.write_text(json.dumps(EVERYONE))
    return str(connection), str(cohort)


def test_summaries_of_several_variables_by_a_factor_from_the_shell(harness, site_data, tmp_path):
    connection, cohort = connect(harness, site_data, tmp_path)
    common = ("--connection", connection, "--cohort", cohort)
    shown = fs("analyse", "summary", "--variable", "age", "--variable", "bmi", *common).stdout
    assert "Federated summary of age" in shown and "Federated summary of bmi" in shown
    assert "median (IQR)" in shown and "POOLED" in shown
    grouped = fs(
        "analyse", "summary", "--variable", "bmi", "--by", "smoker", "--json", *common
    ).stdout
    result = json.loads(grouped)
    assert set(result["groups"]) == {"never", "former", "current"}
    widened = result.get("widened_from")
    for level in result["groups"].values():
        bins = level["bins"]
        if widened is None:
            assert len(bins) == 20  # the catalogue's bmi bins: 10 to 60 by 2.5
        else:  # they withheld the quartiles: asked again on wider bins from released figures
            assert 2 <= len(bins) < 20
        median = level["quantiles"].get("0.5")
        assert median is None or 10 <= median <= 60
    bad = fs("analyse", "summary", "--variable", "age", "--edges", "a,b", *common, check=False)
    assert bad.returncode == 2 and "--edges" in bad.stdout


def test_kaplan_meier_with_a_plot_from_the_shell(harness, site_data, tmp_path):
    connection, cohort = connect(harness, site_data, tmp_path)
    png = tmp_path / "km.png"
    shown = fs(
        "analyse",
        "km",
        "--connection",
        connection,
        "--cohort",
        cohort,
        "--by",
        "sex",
        "--horizon",
        "6",
        "--plot",
        str(png),
    ).stdout
    assert "Federated Kaplan-Meier of time_to_lung_cancer by sex" in shown
    assert f"curves written to {png}" in shown.replace("\n", "")
    with Image.open(png) as image:
        assert image.size[0] > 500 and image.size[1] > 300
