"""Pure functions from one metadata record to the rows it contributes to each table.

Every function takes a record of any shape (v1, hybrid, v2) or its normal form, an
:class:`~biodata_cache.records.Asset`: a build normalises each record once
(:func:`~biodata_cache.records.normalize`) and hands the same :class:`~biodata_cache.records.Asset` to every
row function. Where each value comes from in each shape, and the normal forms, are in
:mod:`biodata_cache.records` (and ``docs/reference/record-shapes.md``). Missing and null values become nulls
(or empty lists); the row functions never raise for a record that passed
:func:`~biodata_cache.records.check_record`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from biodata_cache.records import (
    CORE_FILES,
    MODALITIES,
    QC_STAGES,
    RECORD_FIELDS,
    Asset,
    check_record,
    json_text,
    metric_key,
    normal_instrument_id,
    normal_modality,
    normal_person_names,
    normalize,
    sorted_json,
    text,
    time_from_name,
)

__all__ = [
    "CORE_FILES",
    "QC_COLUMNS",
    "QC_STATUS_COLUMNS",
    "RECORD_FIELDS",
    "asset_basics_rows",
    "check_record",
    "metadata_core_rows",
    "qc_columns",
    "qc_rows",
    "qc_status_rows",
    "qc_status_wide",
    "source_data_rows",
    "time_to_qc_rows",
]

Row = dict[str, Any]


def as_asset(record: Row | Asset) -> Asset:
    """The normal form of a record (an :class:`~biodata_cache.records.Asset` is returned as is)."""
    return record if isinstance(record, Asset) else normalize(record)


def asset_basics_rows(record: Row | Asset) -> list[Row]:
    """One row per asset."""
    asset = as_asset(record)
    return [
        {
            "_id": asset.id,
            "_last_modified": asset.last_modified,
            "created": asset.created,
            "name": asset.name,
            "location": asset.location,
            "data_level": asset.data_level,
            "project_name": asset.project_name,
            "modalities": asset.modalities,
            "recorded_modalities": asset.recorded_modalities,
            "subject_id": asset.subject_id,
            "genotype": asset.genotype,
            "acquisition_type": asset.acquisition_type,
            "acquisition_start_time": asset.acquisition_start_time,
            "acquisition_end_time": asset.acquisition_end_time,
            "age_days": asset.age_days,
            "instrument_id": asset.instrument_id,
            "process_date": asset.process_end_time,
            "code_ocean": asset.code_ocean,
            "experimenters": asset.experimenters,
            "investigators": asset.investigators,
            "age": asset.age,
            "experimenters_normalized": normal_person_names(asset.experimenters),
            "investigators_normalized": normal_person_names(asset.investigators),
            "instrument_id_normalized": normal_instrument_id(asset.instrument_id),
        }
    ]


def source_data_rows(record: Row | Asset) -> list[Row]:
    """One row per source asset of an asset; a derived asset that names no source keeps one row with a
    null ``source_data`` (as biodata-cache 0.42 does), so every derived asset is in the table."""
    asset = as_asset(record)
    processed = time_from_name(asset.name)
    sources: list[str | None] = list(asset.source_data)
    if not sources and asset.data_level == "derived":
        sources = [None]
    return [
        {
            "name": asset.name,
            "_id": asset.id,
            "source_data": source,
            "pipeline_name": asset.pipeline_name,
            "processing_time": processed,
        }
        for source in sources
    ]


def first_source_or_self(asset: Asset) -> str | None:
    """The first source asset of a derived asset, else its own name: one step towards the lineage root
    (the build follows the whole lineage, :mod:`biodata_cache.lineage`)."""
    return asset.source_data[0] if asset.source_data else asset.name


#: The columns of :func:`qc_rows` (and of :func:`qc_columns`), in the order of the ``qc`` table.
QC_COLUMNS: tuple[str, ...] = (
    "subject_id",
    "asset_name",
    "raw_asset_name",
    "name",
    "stage",
    "modality",
    "object_type",
    "value",
    "status",
    "status_time",
    "evaluator",
    "description",
    "tags",
    "timestamp",
    "reference",
    "type",
    "evaluated_assets",
    "metric_index",
    "metric_key",
    "metric_json",
    "default_grouping",
    "downstream_asset_names",
    "asset_location",
    "asset_data_level",
    "_id",
)


def qc_rows(record: Row | Asset) -> list[Row]:
    """One row per QC metric of the record (v2 ``quality_control.metrics``, v1 ``evaluations[].metrics``).

    These are the record's own metrics; the build then keeps one row per metric along each raw asset's
    lineage (:mod:`biodata_cache.lineage`), which sets ``raw_asset_name`` and ``downstream_asset_names``.
    The rows of :func:`qc_columns`, one dict per row.
    """
    columns = qc_columns([record])
    return [dict(zip(QC_COLUMNS, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def qc_columns(records: Iterable[Row | Asset]) -> dict[str, list[Any]]:
    """The rows of :func:`qc_rows` of many records, as one list per column (:data:`QC_COLUMNS`).

    A build converts them to arrow column by column: a dict per row costs more than computing it (about 23
    rows per record). Every row of a record shares its asset's values; each text encoded as JSON is encoded
    once (``metric_key`` embeds ``tags``).
    """
    columns: dict[str, list[Any]] = {name: [] for name in QC_COLUMNS}
    names, objects, values = columns["name"], columns["object_type"], columns["value"]
    stages, modalities, tags_column = columns["stage"], columns["modality"], columns["tags"]
    statuses, times, evaluators = columns["status"], columns["status_time"], columns["evaluator"]
    descriptions, references, types = columns["description"], columns["reference"], columns["type"]
    evaluated_column, keys, texts = columns["evaluated_assets"], columns["metric_key"], columns["metric_json"]
    for record in records:
        asset = as_asset(record)
        count = len(asset.metrics)
        if not count:
            continue
        for name, value in (
            ("subject_id", asset.subject_id),
            ("asset_name", asset.name),
            ("raw_asset_name", first_source_or_self(asset)),
            ("timestamp", asset.acquisition_start_time),
            ("default_grouping", json_text(asset.qc_default_grouping)),
            ("asset_location", asset.location),
            ("asset_data_level", asset.data_level),
            ("_id", asset.id),
        ):
            columns[name] += [value] * count
        columns["metric_index"] += range(count)
        columns["downstream_asset_names"] += [[] for _ in range(count)]
        for metric in asset.metrics:
            source = metric.metric
            get = source.get
            status, status_time = metric.latest_status_and_time()
            tags = metric.tags
            tags_text = None if tags is None else sorted_json(tags)
            # text() and json_text() inline for their common values (str, None): 23 metrics per record
            name = get("name")
            name = (name.strip() or None) if type(name) is str else text(name)
            names.append(name)
            stages.append(metric.stage)
            modalities.append(metric.modality)
            objects.append(text(get("object_type")))
            value = get("value")
            values.append(value if value is None or type(value) is str else json_text(value))
            statuses.append(text(status.get("status")))
            times.append(status_time)
            evaluators.append(text(status.get("evaluator")))
            descriptions.append(text(get("description")))
            tags_column.append(tags_text)
            value = get("reference")
            references.append(value if value is None or type(value) is str else json_text(value))
            value = get("type")
            types.append(value if value is None or type(value) is str else json_text(value))
            value = get("evaluated_assets")
            evaluated_column.append(value if value is None or type(value) is str else json_text(value))
            keys.append(metric_key(metric.modality, name, metric.stage, tags_text or "null"))
            texts.append(sorted_json(source))
    return columns


def qc_status_rows(record: Row | Asset) -> list[Row]:
    """One row per QC status key: v2 ``quality_control.status`` (a modality, a stage or a tag), or a v1
    evaluation's ``latest_status`` (its name, a tag)."""
    asset = as_asset(record)
    status = asset.qc_status
    if not isinstance(status, dict):
        return [
            {
                "_id": asset.id,
                "_last_modified": asset.last_modified,
                "asset_name": asset.name,
                "subject_id": asset.subject_id,
                "key": name,
                "key_type": "tag",
                "status": value,
            }
            for name, value in asset.evaluation_statuses
        ]
    modalities = (
        set(asset.modalities)
        | set(asset.recorded_modalities)
        | {m for m in (metric.modality for metric in asset.metrics) if m}
    )
    stages = QC_STAGES | {s for s in (metric.stage for metric in asset.metrics) if s}
    return [
        {
            "_id": asset.id,
            "_last_modified": asset.last_modified,
            "asset_name": asset.name,
            "subject_id": asset.subject_id,
            "key": str(key),
            "key_type": "modality" if key in modalities else "stage" if key in stages else "tag",
            "status": text(value),
        }
        for key, value in status.items()
    ]


#: The status columns of the wide ``qc_status`` table: every modality abbreviation of
#: :data:`~biodata_cache.records.MODALITIES` and every stage of :data:`~biodata_cache.records.QC_STAGES`,
#: sorted ignoring case as biodata-cache 0.42 sorts its columns.
QC_STATUS_COLUMNS: tuple[str, ...] = tuple(sorted({*MODALITIES, *QC_STAGES}, key=lambda k: (k.casefold(), k)))
_QC_STATUS_COLUMN_SET = frozenset(QC_STATUS_COLUMNS)


def qc_status_wide(long_rows: list[Row]) -> list[Row]:
    """The wide ``qc_status`` rows from all the rows of ``qc_status_long``: one row per asset name.

    Of the records sharing an asset name the newest wins: the greatest ``_last_modified`` (a record
    without one is the oldest), then the greatest ``_id``, as biodata-cache 0.42 orders them. Its
    ``modality`` and ``stage`` keys fill the column of that name (a modality in today's spelling, e.g. a
    legacy ``SmartSPIM`` key fills ``SPIM`` unless ``SPIM`` itself is there); tags and keys outside
    :data:`QC_STATUS_COLUMNS` stay in ``qc_status_long`` only. An asset whose keys are all tags (v1
    evaluations) has a row of nulls. Rows come sorted by name.
    """
    newest: dict[str, tuple[tuple[bool, float, str], str | None]] = {}
    for row in long_rows:
        name, changed = row["asset_name"], row["_last_modified"]
        if name is None:
            continue
        order = (changed is not None, changed.timestamp() if changed else 0.0, row["_id"] or "")
        if name not in newest or order > newest[name][0]:
            newest[name] = (order, row["_id"])
    wide: dict[str, Row] = {name: {"name": name} for name in sorted(newest)}
    for row in long_rows:
        name = row["asset_name"]
        if name is None or row["_id"] != newest[name][1] or row["key_type"] not in ("modality", "stage"):
            continue
        key = row["key"]
        column = normal_modality(key) if row["key_type"] == "modality" else key
        if column in _QC_STATUS_COLUMN_SET and (key == column or column not in wide[name]):
            wide[name][column] = row["status"]
    return list(wide.values())


def metadata_core_rows(record: Row | Asset) -> list[Row]:
    """One row per asset: which core metadata files it has (v1 ``rig`` and ``session`` count as
    ``instrument`` and ``acquisition``)."""
    asset = as_asset(record)
    return [{"name": asset.name, "_id": asset.id, "_last_modified": asset.last_modified, **asset.core_files}]


def time_to_qc_rows(record: Row | Asset) -> list[Row]:
    """One row per derived asset with QC metrics: processing end, QC completion and pending flag."""
    asset = as_asset(record)
    if asset.data_level != "derived" or not asset.metrics:
        return []
    statuses = [metric.latest_status() for metric in asset.metrics]
    pending = any(text(s.get("status")) in (None, "Pending") for s in statuses)
    times = [t for t in (metric.latest_status_time() for metric in asset.metrics) if t is not None]
    return [
        {
            "name": asset.name,
            "_id": asset.id,
            "process_end_time": asset.process_end_time or time_from_name(asset.name),
            "qc_time": None if pending or not times else max(times),
            "pending": pending,
        }
    ]
