"""Quality-control tables: metrics along each raw asset's lineage (``qc`` and its ``qc_raw_assets``
index), QC status per modality and stage (``qc_status_long``, ``qc_status``) and time to QC.

Their row functions are in :mod:`biodata_cache.rows`; the lineage step of ``qc`` in
:mod:`biodata_cache.lineage`.
"""

from __future__ import annotations

from typing import Any

from biodata_cache import records, rows
from biodata_cache.records import Asset, text
from biodata_cache.rows import as_asset
from biodata_cache.tables.declaration import (
    ID_COLUMN,
    LAST_MODIFIED_COLUMN,
    ROW_RECORD_COLUMN,
    Column,
    Table,
    record_paths,
)


def qc_tag_status_rows(record: dict[str, Any] | Asset) -> list[dict[str, Any]]:
    """One row per key of ``quality_control.status`` (tag, modality or stage) and its status.

    As biodata-cache 0.42's ``qc_tag_status`` (``cache_table_helpers/qc.py``, ``_cache_tag_statuses``):
    only a ``status`` dict counts (v1 evaluations have none; their statuses are in ``qc_status_long``).
    Unlike 0.42, an asset without a subject id is kept, in the null partition, rather than dropped.
    """
    asset = as_asset(record)
    status = asset.qc_status
    if not isinstance(status, dict):
        return []
    return [
        {
            "tag": str(key),
            "status": text(value),
            "asset_name": asset.name,
            "subject_id": asset.subject_id,
            "timestamp": asset.acquisition_start_time,
            "_id": asset.id,
        }
        for key, value in status.items()
    ]


TABLES: tuple[Table, ...] = (
    Table(
        name="qc",
        description="Quality-control metrics along each raw asset's lineage, partitioned by subject_id: one "
        "row per metric of the newest processing chain per modality set (a metric inherited along the chain "
        "appears once, at the earliest asset that has it; downstream_asset_names lists the later ones).",
        kind="frame",
        partition_key="subject_id",
        columns=(
            Column("subject_id", "string", "Subject id (the partition key)."),
            Column(
                "asset_name",
                "string",
                "Asset where the metric first appears in the chain (the earliest asset that has it).",
            ),
            Column(
                "raw_asset_name",
                "string",
                "Raw asset at the root of the lineage (an asset derived from several is under each root).",
            ),
            Column("name", "string", "Metric name."),
            Column("stage", "string", "QC stage, e.g. Raw data, Processing (v1: the evaluation's)."),
            Column("modality", "string", "Modality abbreviation (today's vocabulary)."),
            Column("object_type", "string", "Metric object type."),
            Column("value", "string", "Metric value as text; dicts and lists as JSON, keys sorted."),
            Column("status", "string", "Latest status (Pass, Fail, Pending)."),
            Column("status_time", "timestamp", "Time of the latest status (UTC)."),
            Column("evaluator", "string", "Who or what set the latest status."),
            Column("description", "string", "Metric description."),
            Column(
                "tags",
                "string",
                "Metric tags as JSON (v1: [evaluation name], as DocDB's upgrade wrote them).",
            ),
            Column("timestamp", "timestamp", "Acquisition start of asset_name (UTC)."),
            Column("reference", "string", "Metric reference: a figure, media file or URL."),
            Column("type", "string", "Curation metric type, where the metric has one."),
            Column("evaluated_assets", "string", "Assets the metric evaluated, as JSON."),
            Column(
                "metric_index",
                "int64",
                "Position of the metric in its record's QC; with _id it names one metric (an asset derived "
                "from two raw assets has its rows under each).",
            ),
            Column(
                "metric_key",
                "string",
                "The metric's identity along a lineage: JSON of name, modality, stage and tags (several "
                "metrics of one asset may share it).",
            ),
            Column("metric_json", "string", "The whole metric object as recorded, as JSON."),
            Column("default_grouping", "string", "quality_control.default_grouping of asset_name, as JSON."),
            Column(
                "downstream_asset_names",
                "list<string>",
                "Later assets of the chain that carry the same metric (nearest first).",
            ),
            Column("asset_location", "string", "location of asset_name."),
            Column("asset_data_level", "string", "Data level of asset_name (raw or derived)."),
            ROW_RECORD_COLUMN,
        ),
        fields=record_paths(
            "_id",
            "name",
            "location",
            "data_level",
            "subject_id",
            "source_data",
            "acquisition_start_time",
            "qc_metrics",
            "qc_default_grouping",
        ),
        rows=rows.qc_rows,
        row_columns=rows.qc_columns,
        record_key="_id",
    ),
    Table(
        name="qc_raw_assets",
        description="Index of qc: which subject partition holds each raw asset's QC, one row per (raw asset, "
        "subject). qc(raw_asset_name=...) reads it to open only those partitions.",
        kind="frame",
        columns=(
            Column("raw_asset_name", "string", "Raw asset (qc.raw_asset_name)."),
            Column("subject_id", "string", "qc partition holding its rows."),
            Column("rows", "int64", "Number of its rows in that partition."),
        ),
        index_of="qc",
    ),
    Table(
        name="qc_status_long",
        description="QC status in long format: one row per record and status key (modality, stage or tag), "
        "every key of quality_control.status (v1: each evaluation's own status). qc_status is its wide form.",
        kind="frame",
        columns=(
            ID_COLUMN,
            LAST_MODIFIED_COLUMN,
            Column("asset_name", "string", "Asset name."),
            Column("subject_id", "string", "Subject id."),
            Column("key", "string", "Status key: a modality, a stage or a tag."),
            Column("key_type", "string", "modality, stage or tag."),
            Column("status", "string", "Pass, Fail or Pending."),
        ),
        fields=record_paths(
            "_id", "last_modified", "name", "subject_id", "modalities", "qc_status", "qc_metrics"
        ),
        rows=rows.qc_status_rows,
        record_key="_id",
    ),
    Table(
        name="qc_tag_status",
        description="QC status keys of each asset, partitioned by subject_id: one row per key of "
        "quality_control.status (a tag, a modality or a stage) with its status, as biodata-cache 0.42 "
        "kept it. qc_status_long also classifies the keys and reads v1 evaluations.",
        kind="frame",
        partition_key="subject_id",
        columns=(
            Column("tag", "string", "Status key: a tag ('<tag type>:<tag value>'), a modality or a stage."),
            Column("status", "string", "Its status (Pass, Fail, Pending)."),
            Column("asset_name", "string", "Asset name, joinable with asset_basics.name."),
            Column("subject_id", "string", "Subject id (the partition key)."),
            Column("timestamp", "timestamp", "Acquisition start of the asset (UTC)."),
            ROW_RECORD_COLUMN,
        ),
        fields=record_paths("_id", "name", "subject_id", "acquisition_start_time", "qc_status"),
        rows=qc_tag_status_rows,
        record_key="_id",
    ),
    Table(
        name="time_to_qc",
        description="Time from processing to QC: one row per derived asset with QC metrics.",
        kind="frame",
        columns=(
            Column("name", "string", "Derived asset name."),
            Column("process_end_time", "timestamp", "Latest processing end time (UTC)."),
            Column("qc_time", "timestamp", "Latest QC status time; null while any status is pending."),
            Column("pending", "bool", "Whether any QC metric is still pending."),
            ROW_RECORD_COLUMN,
        ),
        fields=record_paths("_id", "name", "data_level", "processes", "qc_metrics"),
        rows=rows.time_to_qc_rows,
        record_key="_id",
    ),
    Table(
        name="qc_status",
        description="QC status in biodata-cache 0.42's wide form: one row per asset with a QC status, a "
        "column per modality and per QC stage holding its status (Pass, Fail, Pending; null where the "
        "asset has none). Of records sharing an asset name the newest (_last_modified) wins. Built from "
        "qc_status_long, which also keeps tags and keys outside this vocabulary.",
        kind="frame",
        columns=(
            Column("name", "string", "Asset name, joinable with asset_basics.name."),
            *(
                Column(
                    key,
                    "string",
                    f"QC status of the {'modality' if key in records.MODALITIES else 'stage'} {key!r} "
                    f"(quality_control.status[{key!r}]).",
                )
                for key in rows.QC_STATUS_COLUMNS
            ),
        ),
        derived_from=("qc_status_long", "status"),
        derive=rows.qc_status_wide,
    ),
)
