"""Pure functions from one metadata record (a DocDB v2 dict) to the rows it contributes to each table.

Reading a record happens in two steps, both here:

1. :func:`check_record` checks, in one place and before any row function runs, that every field the tables
   read has a shape this module reads faithfully (the table below). A record that does not is not read
   at all: :func:`check_record` raises :class:`~biodata_cache.errors.RecordError` naming the field, what
   was expected and what was found, and a build skips the record with a warning and counts it in its
   report (``records_skipped``). Nothing is guessed: a wrong-typed value never becomes a wrong value or a
   silent null in a table.
2. One function per table turns the record into rows. Missing and null fields become nulls (or empty
   lists); the row functions never raise.

What a field may hold (every field may also be missing or null; items of a list may be null and are then
ignored):

==============================================  =========================================================
fields                                          accepted, and how it is read
==============================================  =========================================================
``_id``                                         a string, or an integer read as its decimal text. A record
                                                needs an ``_id`` or a ``name``.
``name``                                        a string.
text fields: ``location``, ``subject_id`` (in   a string (surrounding blanks removed, a blank string is
``subject``, ``data_description`` and           null), or an integer read as its decimal text: a subject
``acquisition``), ``project_name``,             id stored as ``692478`` reads as ``"692478"``. Floats,
``data_level``, ``genotype``,                   booleans, lists and objects are rejected (``692478.0``
``acquisition_type``, ``instrument_id``, a      could be a damaged id).
metric's ``name`` / ``stage`` / ...
times: ``_last_modified``, ``_created``,        an ISO 8601 string (``Z`` or an offset, a space or ``T``,
``created``, acquisition start and end,         date only; naive times are UTC). A blank string is null.
``date_of_birth``, processing step and QC       Numbers (seconds or milliseconds?) and unparseable text
status times                                    are rejected.
objects: the core files (``subject``,           an object.
``data_description``, ``procedures``,
``instrument``, ``acquisition``,
``processing``, ``quality_control``),
``subject_details``, ``other_identifiers``
``data_description.modalities``, a metric's     a list of modalities, each an object with an
``modality``                                    ``abbreviation`` (else its ``name``) or a plain string,
                                                which is read as the abbreviation. A single modality given
                                                alone (a string or an object) is read as a one-item list.
``data_description.source_data``,               a list of strings; one string alone is read as a one-item
``other_identifiers["Code Ocean"]``             list.
``data_description.investigators``,             a list of people, each an object with a ``name`` or a
``acquisition.experimenters``                   string; one string alone is read as a one-item list.
``quality_control.metrics``,                    a list of objects. A single object is rejected: a metrics
``processing.data_processes``,                  object keyed by metric name is not a list of metrics and
``processing.pipelines``, a metric's            must not be read as one metric.
``status_history``
``quality_control.status``                      an object whose values are status strings.
a metric's ``value`` and ``tags``               anything: a string as is, everything else as JSON text
                                                with sorted keys (``tags`` always as JSON).
==============================================  =========================================================

Other fields are not read and may hold anything. Shapes that broke the original tool are all read:
``other_identifiers["Code Ocean"]`` as a list (possibly empty), empty ``data_processes``, missing or null
``source_data``, null project names, QC values of any type, ``tags`` as a list or a dict, ``modality`` as
an object with ``abbreviation`` and timestamps in several ISO forms. Only the standard library is used.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from typing import Any

from biodata_cache.errors import RecordError

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


# -- checking a record's shape (see the module docstring) ----------------------------------------------

#: Every field the tables read and the shape it may hold; ``[]`` stands for any item of a list.
RECORD_FIELDS: dict[str, str] = {
    "_id": "id",
    "name": "name",
    "_last_modified": "time",
    "_created": "time",
    "created": "time",
    "location": "text",
    "data_description": "object",
    "data_description.data_level": "text",
    "data_description.project_name": "text",
    "data_description.subject_id": "text",
    "data_description.modalities": "modalities",
    "data_description.modalities[]": "modality",
    "data_description.modalities[].abbreviation": "text",
    "data_description.modalities[].name": "text",
    "data_description.investigators": "persons",
    "data_description.investigators[]": "person",
    "data_description.investigators[].name": "text",
    "data_description.source_data": "texts",
    "data_description.source_data[]": "text",
    "subject": "object",
    "subject.subject_id": "text",
    "subject.subject_details": "object",
    "subject.subject_details.genotype": "text",
    "subject.subject_details.date_of_birth": "time",
    "acquisition": "object",
    "acquisition.acquisition_type": "text",
    "acquisition.acquisition_start_time": "time",
    "acquisition.acquisition_end_time": "time",
    "acquisition.instrument_id": "text",
    "acquisition.subject_id": "text",
    "acquisition.experimenters": "persons",
    "acquisition.experimenters[]": "person",
    "acquisition.experimenters[].name": "text",
    "acquisition.subject_details": "object",
    "acquisition.subject_details.date_of_birth": "time",
    "instrument": "object",
    "instrument.instrument_id": "text",
    "procedures": "object",
    "processing": "object",
    "processing.data_processes": "objects",
    "processing.data_processes[]": "object",
    "processing.data_processes[].start_date_time": "time",
    "processing.data_processes[].end_date_time": "time",
    "processing.data_processes[].pipeline_name": "text",
    "processing.pipelines": "objects",
    "processing.pipelines[]": "object",
    "processing.pipelines[].name": "text",
    "processing.pipelines[].url": "text",
    "other_identifiers": "object",
    "other_identifiers.Code Ocean": "texts",
    "other_identifiers.Code Ocean[]": "text",
    "quality_control": "object",
    "quality_control.status": "textmap",
    "quality_control.metrics": "objects",
    "quality_control.metrics[]": "object",
    "quality_control.metrics[].name": "text",
    "quality_control.metrics[].stage": "text",
    "quality_control.metrics[].modality": "modality",
    "quality_control.metrics[].modality.abbreviation": "text",
    "quality_control.metrics[].modality.name": "text",
    "quality_control.metrics[].object_type": "text",
    "quality_control.metrics[].value": "any",
    "quality_control.metrics[].description": "text",
    "quality_control.metrics[].tags": "any",
    "quality_control.metrics[].status_history": "objects",
    "quality_control.metrics[].status_history[]": "object",
    "quality_control.metrics[].status_history[].status": "text",
    "quality_control.metrics[].status_history[].timestamp": "time",
    "quality_control.metrics[].status_history[].evaluator": "text",
}

_EXPECTED = {
    "id": "a string (or an integer) id",
    "name": "a string",
    "text": "a string (or an integer)",
    "time": "an ISO 8601 time such as '2026-02-13T18:31:13Z'",
    "object": "an object",
    "objects": "a list of objects",
    "texts": "a list of strings (or one string)",
    "modalities": "a list of modalities (objects with an abbreviation, or strings)",
    "modality": "a modality (an object with an abbreviation, or a string)",
    "persons": "a list of people (objects with a name, or strings)",
    "person": "a person (an object with a name, or a string)",
    "textmap": "an object of status strings",
}
_LISTS = frozenset({"objects", "texts", "modalities", "persons"})


class _Shape:
    """One node of :data:`RECORD_FIELDS` as a tree: its kind, its fields and the shape of its items."""

    __slots__ = ("fields", "item", "kind")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.fields: dict[str, _Shape] = {}
        self.item: _Shape | None = None


@functools.lru_cache(maxsize=1)
def _shape_tree() -> _Shape:
    root = _Shape("object")
    nodes = {"": root}
    for path in sorted(RECORD_FIELDS, key=len):
        node = nodes[path] = _Shape(RECORD_FIELDS[path])
        if path.endswith("[]"):
            nodes[path[:-2]].item = node
        else:
            parent, _, key = path.rpartition(".")
            nodes[parent].fields[key] = node
    return root


def _is_text(value: Any) -> bool:
    return isinstance(value, str) or type(value) is int  # not bool, not float


def _is_time(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip() or _parse_time(value) is not None
    return isinstance(value, dt.date)


def _problem(value: Any, shape: _Shape) -> tuple[str, _Shape, Any] | None:
    """``(relative path, shape, value)`` of the first value that does not fit ``shape``, else None."""
    kind = shape.kind
    if value is None or kind == "any":
        return None
    if kind in ("text", "id"):
        return None if _is_text(value) else ("", shape, value)
    if kind == "name":
        return None if isinstance(value, str) else ("", shape, value)
    if kind == "time":
        return None if _is_time(value) else ("", shape, value)
    if kind == "textmap":
        if not isinstance(value, dict):
            return "", shape, value
        for key, item in value.items():
            if item is not None and not _is_text(item):
                return f".{key}", _Shape("text"), item
        return None
    if kind in _LISTS:
        if isinstance(value, list):
            assert shape.item is not None
            for index, item in enumerate(value):
                found = _problem(item, shape.item)
                if found:
                    return f"[{index}]{found[0]}", found[1], found[2]
            return None
        if isinstance(value, str) and kind != "objects":
            return None  # one string alone: a one-item list
        if isinstance(value, dict) and kind == "modalities":
            assert shape.item is not None
            return _problem(value, shape.item)  # one modality object alone: a one-item list
        return "", shape, value
    if isinstance(value, str) and kind in ("modality", "person"):
        return None
    if not isinstance(value, dict):
        return "", shape, value
    for key, field_shape in shape.fields.items():
        if key in value:
            found = _problem(value[key], field_shape)
            if found:
                return f".{key}{found[0]}", found[1], found[2]
    return None


def describe_value(value: Any) -> str:
    """A short description of a value for messages: its JSON kind and (cut) text, e.g. ``the number 7``."""
    kind = (
        "an object"
        if isinstance(value, dict)
        else "a list"
        if isinstance(value, list)
        else "the string"
        if isinstance(value, str)
        else "the boolean"
        if isinstance(value, bool)
        else "the number"
        if isinstance(value, (int, float))
        else type(value).__name__
    )
    shown = json.dumps(value, default=str, sort_keys=True)
    return f"{kind} {shown[:80] + '...' if len(shown) > 80 else shown}"


def record_key(record: Any) -> str | None:
    """A record's id: its ``_id`` (a string, or an integer as its text), else its ``name``.

    None when it has neither, or when ``_id`` is of another type (an object, a list, a float, a boolean).
    """
    if not isinstance(record, dict):
        return None
    value = record.get("_id")
    if _is_text(value):
        identity = text(value)
        if identity:
            return identity
    elif value is not None:
        return None
    name = record.get("name")
    return text(name) if isinstance(name, str) else None


def record_label(record: Any) -> str:
    """How a log line names a record: ``_id "..." name "..."``, whatever is known of the two."""
    if not isinstance(record, dict):
        return f"a {type(record).__name__} instead of a record"
    parts = []
    for key in ("_id", "name"):
        value = record.get(key)
        if value is not None:
            shown = json.dumps(value, default=str)
            parts.append(f"{key} {shown[:60] + '...' if len(shown) > 60 else shown}")
    return " ".join(parts) if parts else "a record without _id or name"


def check_record(record: Any) -> None:
    """Check that every field the tables read has a shape :mod:`biodata_cache.rows` reads faithfully.

    Parameters
    ----------
    record
        A parsed metadata record.

    Raises
    ------
    RecordError
        If ``record`` is not an object, has neither ``_id`` nor ``name``, or holds a field the tables read
        with a shape the module docstring does not list. ``where`` names the record, ``reason`` the
        field (``quality_control.metrics[3].status_history[0].timestamp``), what was expected and what
        was found.
    """
    if not isinstance(record, dict):
        raise RecordError(
            record_label(record), f"expected a record (a JSON object), found {describe_value(record)}"
        )
    found = _problem(record, _shape_tree())
    if found:
        path, shape, value = found
        raise RecordError(
            record_label(record),
            f"{path.lstrip('.')}: expected {_EXPECTED[shape.kind]}, found {describe_value(value)}",
        )
    if record_key(record) is None:
        raise RecordError(
            record_label(record), "has neither _id nor name: expected a string _id or name to identify it"
        )
