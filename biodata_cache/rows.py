"""Pure functions from one metadata record (a DocDB v2 dict) to the rows it contributes to each table.

Each function takes a record and returns a list of row dicts keyed by the table's declared columns. They
never raise on missing, null or oddly typed fields: such values become nulls. Shapes that broke the
original tool are handled here: ``other_identifiers["Code Ocean"]`` as a list (possibly empty) or a str,
empty ``data_processes``, missing or null ``source_data``, null project names, QC values of any type,
``tags`` as a list or a dict, ``modality`` as a dict with ``abbreviation`` and timestamps in several ISO
forms. Only the standard library is used.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from typing import Any

UTC = dt.timezone.utc
CORE_FILES = (
    "subject",
    "data_description",
    "procedures",
    "instrument",
    "acquisition",
    "processing",
    "quality_control",
)
QC_STAGES = frozenset({"Raw data", "Processing", "Analysis", "Multi-asset", "Quality control"})
_NAME_TIME = re.compile(r"_(\d{4}-\d{2}-\d{2})_(\d{2})-(\d{2})-(\d{2})$")

Row = dict[str, Any]


# -- value helpers ------------------------------------------------------------------------------------


def get(record: Any, path: str) -> Any:
    """The value at a dotted path of nested dicts, or None where any step is missing or not a dict."""
    value = record
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def text(value: Any) -> str | None:
    """A value as a str (numbers too: subject ids may be stored as ints); None and '' give None."""
    if type(value) is str:  # the common case first: this runs millions of times per build
        value = value.strip()
        return value or None
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return str(value)
    result = str(value).strip()
    return result or None


def timestamp(value: Any) -> dt.datetime | None:
    """Parse an ISO 8601 time (``Z``, offsets, space separator, date only) into an aware UTC datetime.

    Naive times are taken as UTC. Unparseable values give None.
    """
    if type(value) is str:
        return _parse_time(value)
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime(value.year, value.month, value.day)
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@functools.lru_cache(maxsize=1 << 16)
def _parse_time(value: str) -> dt.datetime | None:
    candidate = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if not candidate:
        return None
    try:
        parsed = dt.datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def as_list(value: Any) -> list[Any]:
    """A list value as is, a scalar as a one-item list, None as an empty list."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def names(values: Any) -> list[str]:
    """Names from a list of str or of dicts with a ``name`` (people, experimenters)."""
    result = []
    for item in as_list(values):
        value = text(item.get("name")) if isinstance(item, dict) else text(item)
        if value:
            result.append(value)
    return result


def json_text(value: Any) -> str | None:
    """A metric value as text: str as is, everything else as JSON with sorted keys; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def abbreviation(modality: Any) -> str | None:
    """A modality's abbreviation, from a dict (``{"abbreviation": ...}``) or a str."""
    if isinstance(modality, dict):
        return text(modality.get("abbreviation")) or text(modality.get("name"))
    return text(modality)


def time_from_name(name: Any) -> dt.datetime | None:
    """The ``YYYY-MM-DD_HH-MM-SS`` suffix of an asset name as a UTC time (e.g. ``..._processed_...``)."""
    match = _NAME_TIME.search(name) if isinstance(name, str) else None
    if not match:
        return None
    day, hour, minute, second = match.groups()
    try:
        return dt.datetime.fromisoformat(f"{day}T{hour}:{minute}:{second}+00:00")
    except ValueError:
        return None


# -- record-level facts --------------------------------------------------------------------------------


def subject_id(record: Row) -> str | None:
    """Subject id from subject, data_description or acquisition, as a str."""
    return (
        text(get(record, "subject.subject_id"))
        or text(get(record, "data_description.subject_id"))
        or text(get(record, "acquisition.subject_id"))
    )


def source_names(record: Row) -> list[str]:
    """Names of the assets this record was derived from (``data_description.source_data``)."""
    return [s for s in (text(v) for v in as_list(get(record, "data_description.source_data"))) if s]


def modalities(record: Row) -> list[str]:
    """Modality abbreviations of the asset."""
    found = (abbreviation(m) for m in as_list(get(record, "data_description.modalities")))
    return [m for m in found if m]


def data_processes(record: Row) -> list[Row]:
    """The processing steps (``processing.data_processes``), dicts only."""
    return [p for p in as_list(get(record, "processing.data_processes")) if isinstance(p, dict)]


def process_end_time(record: Row) -> dt.datetime | None:
    """Latest end (else start) time of the processing steps."""
    times = [
        timestamp(step.get("end_date_time")) or timestamp(step.get("start_date_time"))
        for step in data_processes(record)
    ]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def metrics(record: Row) -> list[Row]:
    """QC metrics (``quality_control.metrics``), dicts only."""
    return [m for m in as_list(get(record, "quality_control.metrics")) if isinstance(m, dict)]


def latest_status(metric: Row) -> Row:
    """The latest entry of a metric's ``status_history`` (by timestamp, else the last one)."""
    history = [h for h in as_list(metric.get("status_history")) if isinstance(h, dict)]
    if len(history) < 2:
        return history[0] if history else {}
    stamped = [(timestamp(h.get("timestamp")), i, h) for i, h in enumerate(history)]
    if all(t is not None for t, _, _ in stamped):
        return max(stamped, key=lambda item: (item[0], item[1]))[2]
    return history[-1]


def raw_asset_name(record: Row) -> str | None:
    """The first source asset of a derived record, else the record's own name (lineage root, one step)."""
    sources = source_names(record)
    return sources[0] if sources else text(record.get("name"))


# -- one function per table ------------------------------------------------------------------------------


def asset_basics_rows(record: Row) -> list[Row]:
    """One row per asset."""
    start = timestamp(get(record, "acquisition.acquisition_start_time"))
    birth = timestamp(get(record, "subject.subject_details.date_of_birth")) or timestamp(
        get(record, "acquisition.subject_details.date_of_birth")
    )
    age = (start.date() - birth.date()).days if start and birth else None
    code_ocean = get(record, "other_identifiers")
    code_ocean = code_ocean.get("Code Ocean") if isinstance(code_ocean, dict) else None
    return [
        {
            "_id": text(record.get("_id")),
            "_last_modified": timestamp(record.get("_last_modified")),
            "created": timestamp(record.get("_created")) or timestamp(record.get("created")),
            "name": text(record.get("name")),
            "location": text(record.get("location")),
            "data_level": text(get(record, "data_description.data_level")),
            "project_name": text(get(record, "data_description.project_name")),
            "modalities": modalities(record),
            "subject_id": subject_id(record),
            "genotype": text(get(record, "subject.subject_details.genotype")),
            "acquisition_type": text(get(record, "acquisition.acquisition_type")),
            "acquisition_start_time": start,
            "acquisition_end_time": timestamp(get(record, "acquisition.acquisition_end_time")),
            "age_days": age,
            "instrument_id": text(get(record, "acquisition.instrument_id"))
            or text(get(record, "instrument.instrument_id")),
            "process_date": process_end_time(record),
            "code_ocean": [c for c in (text(v) for v in as_list(code_ocean)) if c],
            "experimenters": names(get(record, "acquisition.experimenters")),
            "investigators": names(get(record, "data_description.investigators")),
        }
    ]


def pipeline_name(record: Row) -> str | None:
    """The processing pipeline's name: from data_processes, else processing.pipelines (name or URL)."""
    for process in data_processes(record):
        if text(process.get("pipeline_name")):
            return text(process.get("pipeline_name"))
    for pipeline in as_list(get(record, "processing.pipelines")):
        if isinstance(pipeline, dict) and (text(pipeline.get("name")) or text(pipeline.get("url"))):
            return text(pipeline.get("name")) or text(pipeline.get("url"))
    return None


def source_data_rows(record: Row) -> list[Row]:
    """One row per source asset of a derived asset."""
    name = text(record.get("name"))
    pipeline = pipeline_name(record)
    processed = time_from_name(name)
    return [
        {"name": name, "source_data": source, "pipeline_name": pipeline, "processing_time": processed}
        for source in source_names(record)
    ]


def qc_rows(record: Row) -> list[Row]:
    """One row per QC metric."""
    name = text(record.get("name"))
    subject = subject_id(record)
    root = raw_asset_name(record)
    start = timestamp(get(record, "acquisition.acquisition_start_time"))
    rows = []
    for metric in metrics(record):
        status = latest_status(metric)
        tags = metric.get("tags")
        rows.append(
            {
                "subject_id": subject,
                "asset_name": name,
                "raw_asset_name": root,
                "name": text(metric.get("name")),
                "stage": text(metric.get("stage")),
                "modality": abbreviation(metric.get("modality")),
                "object_type": text(metric.get("object_type")),
                "value": json_text(metric.get("value")),
                "status": text(status.get("status")),
                "status_time": timestamp(status.get("timestamp")),
                "evaluator": text(status.get("evaluator")),
                "description": text(metric.get("description")),
                "tags": None if tags is None else json.dumps(tags, sort_keys=True, default=str),
                "timestamp": start,
            }
        )
    return rows


def qc_status_rows(record: Row) -> list[Row]:
    """One row per key of ``quality_control.status`` (a modality, a stage or a tag)."""
    status = get(record, "quality_control.status")
    if not isinstance(status, dict):
        return []
    asset_modalities = set(modalities(record)) | {
        m for m in (abbreviation(x.get("modality")) for x in metrics(record)) if m
    }
    stages = QC_STAGES | {s for s in (text(x.get("stage")) for x in metrics(record)) if s}
    name, subject = text(record.get("name")), subject_id(record)
    rows = []
    for key, value in status.items():
        key_type = "modality" if key in asset_modalities else "stage" if key in stages else "tag"
        rows.append(
            {
                "asset_name": name,
                "subject_id": subject,
                "key": str(key),
                "key_type": key_type,
                "status": text(value),
            }
        )
    return rows


def metadata_core_rows(record: Row) -> list[Row]:
    """One row per asset: which core metadata files it has."""
    row: Row = {"name": text(record.get("name")), "_id": text(record.get("_id"))}
    row.update({core: isinstance(record.get(core), dict) for core in CORE_FILES})
    return [row]


def time_to_qc_rows(record: Row) -> list[Row]:
    """One row per derived asset with QC metrics: processing end, QC completion and pending flag."""
    found = metrics(record)
    if text(get(record, "data_description.data_level")) != "derived" or not found:
        return []
    statuses = [latest_status(m) for m in found]
    pending = any(text(s.get("status")) in (None, "Pending") for s in statuses)
    times = [t for t in (timestamp(s.get("timestamp")) for s in statuses) if t is not None]
    return [
        {
            "name": text(record.get("name")),
            "process_end_time": process_end_time(record) or time_from_name(record.get("name")),
            "qc_time": None if pending or not times else max(times),
            "pending": pending,
        }
    ]
