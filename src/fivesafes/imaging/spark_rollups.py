"""The roll-ups of the indexer's Spark job (:mod:`fivesafes.imaging.spark_index`), in Spark: the
rules applied once per distinct set of texts (on the driver, as the local index does), the
pseudonyms linked to the node's ``person`` rows, and series and studies rolled up by exactly
the rules of :data:`project.SERIES_SQL` and :data:`project.STUDY_SQL` (first text in instance
order, contrast and burned-in ``yes`` before ``no`` before ``unknown``, medians, earliest
dates), each in the columns and types of its published table (:data:`publish.PUBLISHED`);
then the OMOP ``image_occurrence`` and ``image_feature`` of those series (:func:`omop_tables_of`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fivesafes.data.source import Source
from fivesafes.imaging import omop_tables
from fivesafes.imaging.publish import PUBLISHED, cdm_rows
from fivesafes.imaging.rules import Rules
from fivesafes.imaging.store import MAPPING_KEYS
from fivesafes.imaging.tables import OMOP_TABLES

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


def series_of(
    session: SparkSession, instances: DataFrame, persons: DataFrame, rules: Rules
) -> DataFrame:
    """The published ``imaging_series`` of the indexed ``instances``: the ``rules`` applied,
    the series rolled up, their pseudonyms linked to the node's ``persons``."""
    return _series(_mapped(session, instances, rules), _link(persons), rules.version)


def studies_of(series: DataFrame) -> DataFrame:
    """The published ``imaging_study`` of the rolled-up ``series``."""
    return _study(series)


def omop_tables_of(run: Path, source: Source) -> None:
    """``image_occurrence`` and ``image_feature`` of the series the run wrote
    (``run/imaging_series``, Parquet), linked to the node's procedures and visits streamed
    from its data ``source``, written as Parquet beside them: by :mod:`omop_tables`, the same
    SQL the local index runs, in a DuckDB file of the run's own (a view over the series, so
    nothing of the archive is held in memory), removed afterwards."""
    import duckdb

    work = run / "omop-tables.duckdb"
    con = duckdb.connect(str(work))
    try:
        con.read_parquet(str(run / "imaging_series" / "*.parquet")).create_view("imaging_series")
        with cdm_rows(source) as sources:
            con.execute("BEGIN")
            omop_tables.build(con, None, sources)
            con.execute("COMMIT")
        for name in OMOP_TABLES:
            (run / name).mkdir()
            con.table(name).write_parquet(str(run / name / "part-0.parquet"))
    finally:
        con.close()
        work.unlink(missing_ok=True)


def _mapped(session: SparkSession, instances: DataFrame, rules: Rules) -> DataFrame:
    """The ``instances`` with the rules' verdicts (body part, contrast, and the rule of each),
    the rules run once per distinct set of texts, on the driver."""
    from pyspark.sql import functions as F

    keys = [f"m_{c}" for _, c in MAPPING_KEYS]
    texts = instances.select(
        *(F.coalesce(F.col(c), F.lit("")).alias(f"m_{c}") for _, c in MAPPING_KEYS)
    ).distinct()
    decided = []
    for row in texts.collect():  # as many as the local index holds: one per distinct set
        values = {k: row[f"m_{c}"] or None for k, c in MAPPING_KEYS}
        body_part, contrast = rules.classify(values)
        decided.append((*row, body_part.value, body_part.rule, contrast.value, contrast.rule))
    names = [*keys, "body_part", "body_part_rule", "contrast", "contrast_rule"]
    mapping = session.createDataFrame(decided, spark_schema(tuple((n, "VARCHAR") for n in names)))
    return instances.select(
        "*", *(F.coalesce(F.col(c), F.lit("")).alias(f"m_{c}") for _, c in MAPPING_KEYS)
    ).join(mapping, on=keys, how="inner")  # Spark broadcasts it when it is small


def _link(persons: DataFrame) -> DataFrame:
    """Each pseudonym of the node's ``person`` rows: its first person, and how many it names."""
    from pyspark.sql import functions as F

    return (
        persons.where(F.col("person_source_value").isNotNull())
        .groupBy(F.col("person_source_value").alias("pseudonym"))
        .agg(
            F.min("person_id").alias("linked_person_id"),
            F.count_distinct("person_id").alias("persons"),
        )
    )


# ---- the roll-ups, as project.SERIES_SQL and project.STUDY_SQL ----------------------------


def _in_order(*first: Column) -> Column:
    """A sort key: ``first``, then the instance order (:data:`project.ORDER`)."""
    from pyspark.sql import functions as F

    number = F.col("instance_number")
    return F.struct(
        *first, number.isNull(), F.coalesce(number, F.lit(0)), F.col("sop_instance_uid")
    )


def _first(column: str, alias: str | None = None) -> Column:
    """The first non-null value of ``column`` in instance order (``project._first``)."""
    from pyspark.sql import functions as F

    return F.min_by(F.col(column), _in_order(F.col(column).isNull())).alias(alias or column)


def _either(column: str) -> Column:
    """``yes`` if any says yes, else ``no`` if any says no, else ``unknown``."""
    from pyspark.sql import functions as F

    said = F.col(column)
    return (
        F.when(F.bool_or(said == "yes"), "yes")
        .when(F.bool_or(said == "no"), "no")
        .otherwise("unknown")
    )


def _series(mapped: DataFrame, link: DataFrame, rules_version: str) -> DataFrame:
    from pyspark.sql import functions as F

    contrast = F.col("contrast")
    series = mapped.groupBy("series_instance_uid").agg(
        F.min("study_instance_uid").alias("study_instance_uid"),
        F.size(F.collect_set("study_instance_uid")).alias("studies"),
        F.size(F.collect_set("patient_pseudonym")).alias("patients"),
        F.min("patient_pseudonym").alias("patient_pseudonym"),
        _first("modality"),
        _first("sop_class_uid"),
        _first("series_number"),
        _first("body_part"),
        _first("body_part_rule"),
        _first("body_part_examined"),
        _either("contrast").alias("contrast"),
        F.min_by("contrast_rule", _in_order(contrast != "yes", contrast != "no")).alias(
            "contrast_rule"
        ),
        _first("contrast_bolus_agent", "contrast_agent"),
        _first("contrast_bolus_route", "contrast_route"),
        _either("burned_in_annotation").alias("burned_in"),
        _first("study_description"),
        _first("series_description"),
        _first("protocol_name"),
        _first("manufacturer"),
        _first("manufacturer_model_name", "model"),
        F.median("slice_thickness").alias("slice_thickness"),
        F.median("kvp").alias("kvp"),
        _first("image_type"),
        F.count(F.lit(1)).alias("n_instances"),
        F.sum(F.coalesce(F.col("number_of_frames"), F.lit(1))).alias("n_frames"),
        F.min("study_date").alias("study_date"),
        F.min("series_date").alias("series_date"),
        F.sum("size").alias("bytes"),
    )
    joined = series.join(link, series.patient_pseudonym == link.pseudonym, "left")
    patients, persons = F.col("patients"), F.col("persons")
    derived = {
        "person_id": F.when((patients == 1) & (persons == 1), F.col("linked_person_id")),
        "link": F.when(patients > 1, "conflict")
        .when(patients == 0, "no_identifier")
        .when(persons.isNull(), "no_match")
        .when(persons > 1, "ambiguous")
        .otherwise("linked"),
        "study_conflict": F.col("studies") > 1,
        "rules_version": F.lit(rules_version),
    }
    return _published(joined, "imaging_series", derived)


def _study(series: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    number = F.col("series_number")
    description = F.col("study_description")
    study = series.groupBy("study_instance_uid").agg(
        ((F.count_distinct("link") > 1) | (F.count_distinct("person_id") > 1)).alias("conflict"),
        F.min("link").alias("link"),
        F.min("person_id").alias("person_id"),
        F.min("study_date").alias("study_date"),
        F.min_by(
            description,
            F.struct(
                description.isNull(),
                number.isNull(),
                F.coalesce(number, F.lit(0)),
                F.col("series_instance_uid"),
            ),
        ).alias("study_description"),
        _listed("modality").alias("modalities"),
        _listed("body_part").alias("body_parts"),
        _either("contrast").alias("contrast"),
        _either("burned_in").alias("burned_in"),
        F.count(F.lit(1)).alias("n_series"),
        F.sum("n_instances").alias("n_instances"),
        F.sum("bytes").alias("bytes"),
    )
    conflict = F.col("conflict")
    derived = {
        "person_id": F.when(~conflict, F.col("person_id")),
        "link": F.when(conflict, "conflict").otherwise(F.col("link")),
    }
    return _published(study, "imaging_study", derived)


def _listed(column: str) -> Column:
    """The distinct values, sorted, joined by ``\\`` (``string_agg(DISTINCT …)``); null if none."""
    from pyspark.sql import functions as F

    values = F.array_sort(F.collect_set(column))
    return F.when(F.size(values) > 0, F.array_join(values, "\\"))


def _published(frame: DataFrame, name: str, derived: dict[str, Column]) -> DataFrame:
    """``frame`` as the published table ``name``: its columns in order, in their types."""
    from pyspark.sql import functions as F

    return frame.select(
        *(
            (derived[c] if c in derived else F.col(c)).cast(_SQL_TO_SPARK[kind]).alias(c)
            for c, kind in PUBLISHED[name]
        )
    )


# ---- Spark types ------------------------------------------------------------------------------

_SQL_TO_SPARK = {  # the index's column types (tables.py) as Spark names them
    "VARCHAR": "string",
    "INTEGER": "int",
    "BIGINT": "bigint",
    "DOUBLE": "double",
    "DATE": "date",
    "TIMESTAMP": "timestamp_ntz",
    "BOOLEAN": "boolean",
}


def spark_schema(columns: tuple[tuple[str, str], ...]) -> Any:
    """A Spark schema of ``columns`` (name, the index's SQL type), every field nullable."""
    from pyspark.sql import types as st

    kinds = {
        "VARCHAR": st.StringType(),
        "INTEGER": st.IntegerType(),
        "BIGINT": st.LongType(),
        "DOUBLE": st.DoubleType(),
        "DATE": st.DateType(),
        "TIMESTAMP": st.TimestampNTZType(),
        "BOOLEAN": st.BooleanType(),
    }
    return st.StructType([st.StructField(c, kinds[kind], True) for c, kind in columns])
