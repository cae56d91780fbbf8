"""Reading a metadata record of any shape DocDB holds (v1, hybrid, v2) into one normal form.

DocDB holds records of aind-data-schema 0.x / 1.x (**v1**: ``session``, ``rig``, ``external_links``,
``created`` / ``last_modified``, ``data_description.modality``, ``quality_control.evaluations``), of 2.x
(**v2**: ``acquisition``, ``instrument``, ``other_identifiers``, ``_created`` / ``_last_modified``,
``data_description.modalities``, ``quality_control.metrics``) and **hybrids** of the two (a v1 top level
with 2.x parts). The shape is never detected as a whole: each value is read from the first of its record
paths (:data:`PATHS`) that holds one, so a hybrid reads each part in the shape that part has.

Reading a record happens here, in two steps, before any row function runs:

1. :func:`check_record` checks that every field the tables read has a shape read faithfully
   (:data:`RECORD_FIELDS`). A record that does not is not read: :class:`~biodata_cache.errors.RecordError`
   names the field, what was expected and what was found, and a build skips the record and counts it.
2. :func:`normalize` turns the record into an :class:`Asset`: every value the tables need, in its normal
   form (modalities, data level, times in UTC; see ``docs/reference/record-shapes.md``, generated from this
   module). The row functions (:mod:`biodata_cache.rows`) read only the :class:`Asset`.

Normal forms
------------
* **Modalities**: today's abbreviations of the aind-data-schema-models vocabulary (:data:`MODALITIES`);
  legacy names map as aind-metadata-upgrader maps them (:data:`LEGACY_MODALITIES`); other spellings that
  equal, ignoring case, an abbreviation or a full name give that abbreviation; anything else is kept as
  written; repeats are dropped. ``recorded_modalities`` keeps the record's own spelling.
* **Data level**: ``raw data`` -> ``raw``, ``derived data`` -> ``derived`` (ignoring case, blanks, ``_``
  and ``-``); any other value as written.
* **Times**: ISO 8601 with ``Z`` or an offset is that instant, kept in UTC. Without an offset, server
  times are UTC: envelope times (``_created``, ``_last_modified``, ``created``, ``last_modified``) and
  processing-step times; every time recorded at the lab (acquisition, QC status, date of birth) is the
  lab's local time, ``America/Los_Angeles``, as aind-metadata-upgrader reads them. A date alone is
  midnight.
* **Age**: the acquisition's local calendar date (as written in its own offset; a UTC time's date at the
  lab) minus the date of birth.

Only the standard library is used (``zoneinfo`` finds its data in the system or in ``tzdata``, a dependency
of pandas), and ``msgspec`` for :func:`json_record_passes`: the check of step 1 in C, for records parsed
from JSON, which gives way to :func:`check_record` wherever it is not sure.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from biodata_cache.errors import RecordError

UTC = dt.timezone.utc
LAB_TIME_ZONE = "America/Los_Angeles"

#: The core metadata files a record may hold (v2 names), with the v1 name each replaces.
CORE_FILES = (
    "subject",
    "data_description",
    "procedures",
    "instrument",
    "acquisition",
    "processing",
    "quality_control",
)
V1_CORE_NAMES = {"instrument": "rig", "acquisition": "session"}

#: Today's modality vocabulary (aind-data-schema-models, ``_generators/models/modalities.csv`` at commit
#: aa3a793, 2026): abbreviation -> full name.
MODALITIES: dict[str, str] = {
    "BARseq": "Barcoded anatomy resolved by sequencing",
    "behavior": "Behavior",
    "behavior-videos": "Behavior videos",
    "brightfield": "Brightfield microscopy",
    "confocal": "Confocal microscopy",
    "EMG": "Electromyography",
    "EM": "Electron microscopy",
    "ecephys": "Extracellular electrophysiology",
    "fib": "Fiber photometry",
    "fMOST": "Fluorescence micro-optical sectioning tomography",
    "icephys": "Intracellular electrophysiology",
    "ISI": "Intrinsic signal imaging",
    "MRI": "Magnetic resonance imaging",
    "MAPseq": "Multiplexed analysis of projections by sequencing",
    "merfish": "Multiplexed error-robust fluorescence in situ hybridization",
    "one-photon": "One-photon imaging",
    "pophys": "Planar optical physiology",
    "slap2": "Random access projection microscopy",
    "SPIM": "Selective plane illumination microscopy",
    "STPT": "Serial two-photon tomogrophy",
    "scRNAseq": "Single cell RNA sequencing",
}
#: Legacy modality names of v1 records -> today's abbreviation (as aind-metadata-upgrader maps them).
LEGACY_MODALITIES: dict[str, str] = {
    "SmartSPIM": "SPIM",
    "smartspim": "SPIM",
    "exaSPIM": "SPIM",
    "diSPIM": "SPIM",
    "FIP": "fib",
    "HSFP": "fib",
    "ophys": "pophys",
    "slap": "slap2",
    "Scanned line projection imaging": "slap2",
    "trained-behavior": "behavior",
}
QC_STAGES = frozenset({"Raw data", "Processing", "Analysis", "Multi-asset", "Quality control"})

#: Where each value of the normal form is read from, in order: the first path that holds a value wins,
#: except for ``code_ocean``, ``processes`` and ``qc_metrics``, read from every path (lists joined).
#: ``docs/reference/record-shapes.md`` shows this.
PATHS: dict[str, tuple[str, ...]] = {
    "_id": ("_id",),
    "name": ("name",),
    "location": ("location",),
    "last_modified": ("_last_modified", "last_modified"),
    "created": ("_created", "created"),
    "data_level": ("data_description.data_level",),
    "project_name": ("data_description.project_name",),
    "modalities": ("data_description.modalities", "data_description.modality"),
    "subject_id": (
        "subject.subject_id",
        "data_description.subject_id",
        "acquisition.subject_id",
        "session.subject_id",
    ),
    "genotype": ("subject.subject_details.genotype", "subject.genotype"),
    "date_of_birth": (
        "subject.subject_details.date_of_birth",
        "acquisition.subject_details.date_of_birth",
        "subject.date_of_birth",
    ),
    "year_of_birth": ("subject.subject_details.year_of_birth", "acquisition.subject_details.year_of_birth"),
    "acquisition_type": ("acquisition.acquisition_type", "session.session_type", "acquisition.session_type"),
    "acquisition_start_time": (
        "acquisition.acquisition_start_time",
        "session.session_start_time",
        "acquisition.session_start_time",
    ),
    "acquisition_end_time": (
        "acquisition.acquisition_end_time",
        "session.session_end_time",
        "acquisition.session_end_time",
    ),
    "instrument_id": (
        "acquisition.instrument_id",
        "session.rig_id",
        "instrument.instrument_id",
        "rig.rig_id",
    ),
    "experimenters": (
        "acquisition.experimenters",
        "session.experimenter_full_name",
        "acquisition.experimenter_full_name",
    ),
    "investigators": ("data_description.investigators",),
    "code_ocean": ("other_identifiers.Code Ocean", "external_links.Code Ocean"),
    "processes": (
        "processing.data_processes",
        "processing.processing_pipeline.data_processes",
        "processing.analyses",
    ),
    "pipeline_name": (
        "<processing step>.pipeline_name",
        "processing.pipelines[].name",
        "processing.pipelines[].url",
        "processing.processing_pipeline.pipeline_url",
        "processing.pipeline_url",
    ),
    "source_data": ("data_description.source_data", "data_description.input_data_name"),
    "qc_metrics": (
        "quality_control.metrics",
        "quality_control.evaluations[].metrics",
        "quality_control.evaluations[].qc_metrics",
    ),
    "qc_default_grouping": ("quality_control.default_grouping",),
    "qc_status": (
        "quality_control.status",
        "quality_control.evaluations[].latest_status",
        "quality_control.evaluations[].evaluation_status",
        "quality_control.evaluations[].stage_status",
    ),
    "core_files": tuple(
        f"{core}, {V1_CORE_NAMES[core]}" if core in V1_CORE_NAMES else core for core in CORE_FILES
    ),
}
#: Record paths a MongoDB projection must include to read each value (what :data:`PATHS` reads, with
#: list items projected whole). Core files are projected by their ``object_type`` only: enough to tell
#: whether the object is there.
PROJECTIONS: dict[str, tuple[str, ...]] = {
    **{key: paths for key, paths in PATHS.items() if "[]" not in "".join(paths) and key != "core_files"},
    "code_ocean": ("other_identifiers", "external_links"),
    "pipeline_name": (
        "processing.data_processes",
        "processing.pipelines",
        "processing.processing_pipeline",
        "processing.analyses",
        "processing.pipeline_url",
    ),
    "qc_metrics": ("quality_control.metrics", "quality_control.evaluations"),
    "qc_status": ("quality_control.status", "quality_control.evaluations"),
    "core_files": tuple(
        f"{name}.object_type" for core in CORE_FILES for name in (core, V1_CORE_NAMES.get(core)) if name
    ),
}

Row = dict[str, Any]


# -- values ---------------------------------------------------------------------------------------------


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


def first_text(record: Any, paths: tuple[str, ...]) -> str | None:
    """The text of the first path that holds one (see :func:`text`)."""
    for path in paths:
        value = text(get(record, path))
        if value is not None:
            return value
    return None


def first_value(record: Any, paths: tuple[str, ...]) -> Any:
    """The value of the first path that holds one: not None, not a blank string, not an empty list."""
    for path in paths:
        value = get(record, path)
        if value is None or value == [] or (isinstance(value, str) and not value.strip()):
            continue
        return value
    return None


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


#: The C encoder of ``json.dumps(value, sort_keys=True, default=str)``, made once: ``JSONEncoder.encode``
#: makes one per call, with a dict for its circular-reference check. Parsed records hold no cycles.
_SORTED_ENCODER = (
    json.encoder.c_make_encoder(
        None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", True, False, True
    )
    if json.encoder.c_make_encoder is not None  # type: ignore[attr-defined]
    else None
)


def sorted_json(value: Any) -> str:
    """``json.dumps(value, sort_keys=True, default=str)``, the same text, about twice as fast.

    QC rows encode several values per metric (about 900,000 calls for 10,000 records of the synthetic
    corpus: 4.7 s of the build through ``JSONEncoder.encode``). Without the circular-reference check: a
    value that contains itself raises ``RecursionError`` (records parsed from JSON never do).
    """
    kind = type(value)
    if kind is str:
        return json.encoder.encode_basestring_ascii(value)
    if kind is int:  # scalars as the encoder writes them, without its call
        return int.__repr__(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if kind is float and value - value == 0.0:  # finite (NaN and infinities: the encoder's spelling)
        return float.__repr__(value)
    if _SORTED_ENCODER is None:  # a Python without the json C accelerator
        return json.dumps(value, sort_keys=True, default=str)
    return "".join(_SORTED_ENCODER(value, 0))


def json_text(value: Any) -> str | None:
    """A value as text: str as is, everything else as JSON with sorted keys; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return sorted_json(value)


# -- times ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def lab_time_zone() -> dt.tzinfo:
    """The time zone of times recorded without an offset (other than envelope times)."""
    from zoneinfo import ZoneInfo

    return ZoneInfo(LAB_TIME_ZONE)


def _parse_time_text(value: str) -> dt.datetime | None:
    """An ISO 8601 text as written: aware when it has ``Z`` or an offset, naive otherwise; None if not ISO."""
    candidate = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if not candidate:
        return None
    try:
        return dt.datetime.fromisoformat(candidate)
    except ValueError:
        return None


#: :func:`_parse_time_text`, cached: envelope times and the Python shape check parse the same texts.
_parse_time = functools.lru_cache(maxsize=1 << 16)(_parse_time_text)


def _as_written(value: Any) -> dt.datetime | None:
    if type(value) is str:
        return _parse_time(value)
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    return None


def timestamp(value: Any) -> dt.datetime | None:
    """A server time (envelope times ``_created``, ``_last_modified``, ``created``, ``last_modified``, and
    processing-step times) in UTC.

    ISO 8601 with ``Z`` or an offset, a space or ``T`` separator, or a date alone; without an offset the
    time is UTC (server clocks are). Unparseable values give None.
    """
    parsed = _as_written(value)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _in_lab_time(parsed: dt.datetime | None) -> dt.datetime | None:
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=lab_time_zone())
    return parsed.astimezone(UTC)


@functools.lru_cache(maxsize=1 << 16)
def _local_text(value: str) -> dt.datetime | None:
    return _in_lab_time(_parse_time_text(value))  # one cache: a miss in two costs more than parsing


def local_timestamp(value: Any) -> dt.datetime | None:
    """A time recorded at the lab (acquisition, QC status, birth) in UTC.

    Like :func:`timestamp`, except that a time without an offset is ``America/Los_Angeles`` local time
    (daylight saving applied; an ambiguous hour reads as its first occurrence).
    """
    if type(value) is str:
        return _local_text(value)  # cached: the same times repeat across a record's metrics
    return _in_lab_time(_as_written(value))


def local_date(value: Any) -> dt.date | None:
    """The local calendar date of a time: as written when it has a local offset or none
    (``2025-09-26T18:18:00-07:00`` -> 09-26); a time written in UTC (``Z``, ``+00:00``) says when, not
    where, so its date is taken at the lab (``2025-09-27T01:18:00Z`` -> 09-26)."""
    parsed = _as_written(value)
    if parsed is None:
        return None
    if parsed.tzinfo is not None and parsed.utcoffset() == dt.timedelta(0):
        return parsed.astimezone(lab_time_zone()).date()
    return parsed.date()


_NAME_TIME = re.compile(r"_(\d{4}-\d{2}-\d{2})_(\d{2})-(\d{2})-(\d{2})$")


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


# -- normal forms -----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _modality_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for abbreviation, full_name in MODALITIES.items():
        lookup[abbreviation.casefold()] = abbreviation
        lookup.setdefault(full_name.casefold(), abbreviation)
    return lookup


def recorded_modality(modality: Any) -> str | None:
    """A modality as the record spells it: an object's ``abbreviation`` (else ``name``), or a string."""
    if isinstance(modality, dict):
        return text(modality.get("abbreviation")) or text(modality.get("name"))
    return text(modality)


@functools.lru_cache(maxsize=4096)
def normal_modality(spelling: str | None) -> str | None:
    """Today's abbreviation for a modality spelling (see the module docstring); unknown ones as written."""
    if spelling is None:
        return None
    if spelling in MODALITIES:
        return spelling
    if spelling in LEGACY_MODALITIES:
        return LEGACY_MODALITIES[spelling]
    return _modality_lookup().get(spelling.casefold(), spelling)


def modality_of(modality: Any) -> str | None:
    """The normal form of one modality value (an object or a string)."""
    return normal_modality(recorded_modality(modality))


def normal_modalities(recorded: list[str]) -> list[str]:
    """The normal forms of recorded modality spellings, repeats dropped (first position kept)."""
    return list(dict.fromkeys(m for m in map(normal_modality, recorded) if m))


_LEVEL_SEPARATORS = re.compile(r"[\s_-]+")


@functools.lru_cache(maxsize=256)
def normal_data_level(level: str | None) -> str | None:
    """``raw`` / ``derived`` for their spellings (``raw data``, ``Raw``, ``derived_data``); others as is."""
    if level is None:
        return None
    folded = _LEVEL_SEPARATORS.sub(" ", level.casefold()).strip()
    if folded in ("raw", "raw data"):
        return "raw"
    if folded in ("derived", "derived data"):
        return "derived"
    return level


_NOT_NAME = re.compile(r"[^A-Za-z0-9 ]")
_BLANKS = re.compile(r"\s+")


def normal_person_name(name: str) -> str:
    """A person's name as biodata-cache 0.42 compares them: anything but ASCII letters, digits and spaces
    becomes a space, blanks collapse, each word is capitalised (``katrina.nguyen`` -> ``Katrina Nguyen``)."""
    return _BLANKS.sub(" ", _NOT_NAME.sub(" ", name)).strip().title()


def normal_person_names(names: list[str]) -> list[str]:
    """People's names in the normal form of biodata-cache 0.42 (``experimenters_normalized``).

    Each name may hold several, separated by commas; each is normalised (:func:`normal_person_name`);
    names equal but for case and spaces are kept once; and a one-word name that is the first name of exactly
    one longer name in the list is dropped (``Katrina`` next to ``Katrina Nguyen``).
    """
    found: dict[str, str] = {}
    for value in names:
        for part in value.split(","):
            name = normal_person_name(part)
            if name:
                found.setdefault(name.lower().replace(" ", ""), name)
    result = list(found.values())
    firsts = [n.split()[0].lower() for n in result if len(n.split()) > 1]
    return [n for n in result if len(n.split()) > 1 or firsts.count(n.lower()) != 1]


_INSTRUMENT_DATE = re.compile(r"^[^_-]+[_-](.+)[_-](?:\d{8}|\d{4}-\d{2}-\d{2}|2[3-6]\d{4})$")


def normal_instrument_id(instrument_id: str | None) -> str | None:
    """An instrument id as biodata-cache 0.42 compares them (``instrument_id_normalized``).

    ``<room>_<name>_<date>`` (date ``YYYYMMDD``, ``YYYY-MM-DD`` or ``YYMMDD`` of 2023-2026, after ``_`` or
    ``-``) gives its name; then ``_`` and ``-`` are removed: ``323_EPHYS1_20250922`` -> ``EPHYS1``,
    ``429-mesoscope-20220321`` -> ``mesoscope``, ``exaspim-01`` -> ``exaspim01``. None stays None.
    """
    if instrument_id is None:
        return None
    match = _INSTRUMENT_DATE.match(instrument_id)
    name = match.group(1) if match else instrument_id
    return name.replace("_", "").replace("-", "") or None


# -- the normal form --------------------------------------------------------------------------------------


class Metric:
    """One QC metric in normal form: the metric object, its stage, modality (normal form) and tags.

    For a v1 metric the stage and modality are its evaluation's and the tags ``[<evaluation name>]``, as
    DocDB's v1 -> v2 upgrade wrote them. The latest status is looked up once, when first asked for.
    """

    __slots__ = ("_status", "_status_time", "metric", "modality", "stage", "tags")

    def __init__(self, metric: Row, evaluation: Row | None = None) -> None:
        self.metric = metric
        if evaluation is None:
            self.stage = text(metric.get("stage"))
            self.modality = modality_of(metric.get("modality"))
            self.tags = metric.get("tags")
        else:  # 1.1+ names the fields stage / modality / name, 1.0.0 evaluation_stage / ...
            self.stage = text(evaluation.get("stage")) or text(evaluation.get("evaluation_stage"))
            self.modality = modality_of(evaluation.get("modality") or evaluation.get("evaluation_modality"))
            name = evaluation_name(evaluation)
            self.tags = [name] if name else None
        self._status: Row | None = None
        self._status_time: dt.datetime | None = None

    @property
    def key(self) -> str:
        """The metric's identity across a lineage: JSON of its name, modality, stage and tags (a status or
        value that changed downstream is the same metric). biodata-cache 0.42's ``metric_key``."""
        return metric_key(self.modality, text(self.metric.get("name")), self.stage, sorted_json(self.tags))

    def latest_status_and_time(self) -> tuple[Row, dt.datetime | None]:
        """The latest entry of the metric's ``status_history`` (by time, else the last one) and its time in
        UTC (:func:`local_timestamp` of its ``timestamp``), found once."""
        if self._status is None:
            self._status, self._status_time = _latest_status(self.metric)
        return self._status, self._status_time

    def latest_status(self) -> Row:
        """The latest entry of the metric's ``status_history`` (see :meth:`latest_status_and_time`)."""
        return self.latest_status_and_time()[0]

    def latest_status_time(self) -> dt.datetime | None:
        """The time of :meth:`latest_status` in UTC (see :meth:`latest_status_and_time`)."""
        return self.latest_status_and_time()[1]


def metric_key(modality: str | None, name: str | None, stage: str | None, tags_json: str) -> str:
    """``sorted_json({"modality": modality, "name": name, "stage": stage, "tags": tags})``, written
    directly from the JSON of the tags (``tags_json``, ``null`` for none): a qc row's ``metric_key``."""
    encode = json.encoder.encode_basestring_ascii
    return (
        f'{{"modality": {"null" if modality is None else encode(modality)}, '
        f'"name": {"null" if name is None else encode(name)}, '
        f'"stage": {"null" if stage is None else encode(stage)}, "tags": {tags_json}}}'
    )


def latest_status(metric: Row) -> Row:
    """The latest entry of a metric's ``status_history`` (by timestamp, else the last one)."""
    return _latest_status(metric)[0]


def _latest_status(metric: Row) -> tuple[Row, dt.datetime | None]:
    """:func:`latest_status` and its :func:`local_timestamp`."""
    history = metric.get("status_history")
    if type(history) is list and len(history) == 1 and type(history[0]) is dict:  # most metrics: one status
        entry = history[0]
        return entry, local_timestamp(entry.get("timestamp"))
    history = [h for h in as_list(history) if isinstance(h, dict)]
    if len(history) < 2:
        return (history[0], local_timestamp(history[0].get("timestamp"))) if history else ({}, None)
    latest, latest_time = history[0], None
    for entry in history:  # the last of the latest times; any entry without a time: the last entry
        time = local_timestamp(entry.get("timestamp"))
        if time is None:
            return history[-1], local_timestamp(history[-1].get("timestamp"))
        if latest_time is None or time >= latest_time:
            latest, latest_time = entry, time
    return latest, latest_time


@dataclass(slots=True)
class Asset:
    """A record of any shape in normal form: every value the tables are built from.

    Times are aware UTC datetimes; ``acquisition_date`` is the acquisition's calendar date as written.
    Lists are never None.
    """

    id: str | None
    name: str | None
    location: str | None
    last_modified: dt.datetime | None
    created: dt.datetime | None
    data_level: str | None
    project_name: str | None
    modalities: list[str]
    recorded_modalities: list[str]
    subject_id: str | None
    genotype: str | None
    date_of_birth: dt.date | None
    year_of_birth: int | None
    acquisition_type: str | None
    acquisition_start_time: dt.datetime | None
    acquisition_date: dt.date | None
    acquisition_end_time: dt.datetime | None
    instrument_id: str | None
    experimenters: list[str]
    investigators: list[str]
    code_ocean: list[str]
    processes: list[Row]
    pipeline_name: str | None
    source_data: list[str]
    metrics: list[Metric]
    qc_status: dict[str, Any] | None
    evaluation_statuses: list[tuple[str, str | None]]
    core_files: dict[str, bool] = field(default_factory=dict)
    qc_default_grouping: Any = None
    #: The record itself (projected to the fields the tables declare): row functions of tables whose
    #: values have no normal form here read it (with the helpers of this module, which accept any shape).
    record: Row = field(default_factory=dict, repr=False)

    @property
    def age_days(self) -> int | None:
        """Days from the date of birth to the acquisition's own calendar date."""
        if self.acquisition_date is None or self.date_of_birth is None:
            return None
        return (self.acquisition_date - self.date_of_birth).days

    @property
    def age(self) -> int | None:
        """Days from the date of birth (else January 1 of the year of birth) to the acquisition's date:
        the ``age`` column of biodata-cache 0.42."""
        birth = self.date_of_birth
        if birth is None and self.year_of_birth is not None:
            birth = dt.date(self.year_of_birth, 1, 1)
        if self.acquisition_date is None or birth is None:
            return None
        return (self.acquisition_date - birth).days

    @property
    def process_end_time(self) -> dt.datetime | None:
        """Latest end (else start) time of the processing steps."""
        times = [  # processing runs on servers: a step time without an offset is UTC, like the name's
            timestamp(step.get("end_date_time")) or timestamp(step.get("start_date_time"))
            for step in self.processes
        ]
        known = [t for t in times if t is not None]
        return max(known) if known else None


def _year(value: str | None) -> int | None:
    """A year of birth given as 4 digits from 1800 (text or number); anything else is not a year
    (:func:`check_record` rejects a record holding one)."""
    if value is None or len(value) != 4 or not value.isdigit() or value < "1800":
        return None
    return int(value)


def _dicts(value: Any) -> list[Row]:
    return [item for item in as_list(value) if isinstance(item, dict)]


def _steps(value: Any) -> list[Row]:
    """Processing steps: objects, and the objects of a nested list (a group of steps in some v1 records)."""
    steps = []
    for item in as_list(value):
        if isinstance(item, dict):
            steps.append(item)
        elif isinstance(item, list):
            steps += [step for step in item if isinstance(step, dict)]
    return steps


def _texts(value: Any) -> list[str]:
    return [t for t in (text(v) for v in as_list(value)) if t]


def _code_ocean(record: Row) -> list[str]:
    found = []
    identifiers = record.get("other_identifiers")
    if isinstance(identifiers, dict):
        found += _texts(identifiers.get("Code Ocean"))
    links = record.get("external_links")
    if isinstance(links, dict):
        found += _texts(links.get("Code Ocean"))
    elif isinstance(links, list):  # 0.x: a list of {"Code Ocean": id}
        for link in links:
            if isinstance(link, dict):
                found += _texts(link.get("Code Ocean"))
    return list(dict.fromkeys(found))


def _pipeline_name(record: Row, processes: list[Row]) -> str | None:
    for process in processes:
        name = text(process.get("pipeline_name"))
        if name:
            return name
    for pipeline in _dicts(get(record, "processing.pipelines")):
        name = text(pipeline.get("name")) or text(pipeline.get("url"))
        if name:
            return name
    return text(get(record, "processing.processing_pipeline.pipeline_url")) or text(
        get(record, "processing.pipeline_url")
    )


def evaluation_name(evaluation: Row) -> str | None:
    """A v1 QC evaluation's name (``name``; aind-data-schema 1.0.0: ``evaluation_name``)."""
    return text(evaluation.get("name")) or text(evaluation.get("evaluation_name"))


def evaluation_status(evaluation: Row) -> str | None:
    """A v1 QC evaluation's own status: ``latest_status``, else the latest ``evaluation_status`` entry,
    else ``stage_status`` (the spellings of aind-data-schema 1.x and 1.0.0)."""
    status = text(evaluation.get("latest_status"))
    if status is None and evaluation.get("evaluation_status") is not None:
        status = text(latest_status({"status_history": evaluation.get("evaluation_status")}).get("status"))
    return status or text(evaluation.get("stage_status"))


def _evaluation_metrics(evaluation: Row) -> list[Row]:
    metrics = evaluation.get("metrics")
    if metrics is None:
        metrics = evaluation.get("qc_metrics")
        if isinstance(metrics, dict):  # aind-data-schema 1.0.0: metric values by name
            return [{"name": str(name), "value": value} for name, value in metrics.items()]
    return _dicts(metrics)


def _metrics(quality_control: Any) -> list[Metric]:
    if not isinstance(quality_control, dict):
        return []
    found = [Metric(m) for m in _dicts(quality_control.get("metrics"))]
    for evaluation in _dicts(quality_control.get("evaluations")):
        found += [Metric(m, evaluation) for m in _evaluation_metrics(evaluation)]
    return found


def recorded_change_marker(record: Row) -> str | None:
    """The record's ``_last_modified``, else its ``last_modified``, as stored (blank counts as missing)."""
    for key in ("_last_modified", "last_modified"):
        value = record.get(key)
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value if isinstance(value, str) else str(value)
    return None


def change_marker(record: Row) -> str:
    """What an incremental build compares to notice that a record changed.

    :func:`recorded_change_marker`; a record with neither time (possible in files) gives a fingerprint of
    its content, so an edit is still noticed.
    """
    marker = recorded_change_marker(record)
    if marker is not None:
        return marker
    content = json.dumps(record, sort_keys=True, default=str, separators=(",", ":"))
    return "content:" + hashlib.blake2b(content.encode(), digest_size=12).hexdigest()


def normalize(record: Row) -> Asset:
    """Read a record of any shape (v1, hybrid, v2) into its normal form (see the module docstring).

    The record should have passed :func:`check_record`; a value of another shape reads as null.
    """
    description = record.get("data_description")
    recorded = [m for m in map(recorded_modality, as_list(first_value(record, PATHS["modalities"]))) if m]
    processes = (
        _steps(get(record, "processing.data_processes"))
        + _steps(get(record, "processing.processing_pipeline.data_processes"))
        + _steps(get(record, "processing.analyses"))
    )
    start = first_value(record, PATHS["acquisition_start_time"])
    birth = first_value(record, PATHS["date_of_birth"])
    quality_control = record.get("quality_control")
    evaluations = _dicts(quality_control.get("evaluations")) if isinstance(quality_control, dict) else []
    level = text(description.get("data_level")) if isinstance(description, dict) else None
    return Asset(
        id=text(record.get("_id")),
        name=text(record.get("name")),
        location=text(record.get("location")),
        last_modified=timestamp(first_value(record, PATHS["last_modified"])),
        created=timestamp(first_value(record, PATHS["created"])),
        data_level=normal_data_level(level),
        project_name=text(description.get("project_name")) if isinstance(description, dict) else None,
        modalities=normal_modalities(recorded),
        recorded_modalities=recorded,
        subject_id=first_text(record, PATHS["subject_id"]),
        genotype=first_text(record, PATHS["genotype"]),
        date_of_birth=local_date(birth),
        year_of_birth=_year(first_text(record, PATHS["year_of_birth"])),
        acquisition_type=first_text(record, PATHS["acquisition_type"]),
        acquisition_start_time=local_timestamp(start),
        acquisition_date=local_date(start),
        acquisition_end_time=local_timestamp(first_value(record, PATHS["acquisition_end_time"])),
        instrument_id=first_text(record, PATHS["instrument_id"]),
        experimenters=names(first_value(record, PATHS["experimenters"])),
        investigators=names(get(record, "data_description.investigators")),
        code_ocean=_code_ocean(record),
        processes=processes,
        pipeline_name=_pipeline_name(record, processes),
        source_data=_texts(first_value(record, PATHS["source_data"])),
        metrics=_metrics(quality_control),
        qc_status=quality_control.get("status") if isinstance(quality_control, dict) else None,
        evaluation_statuses=[
            (name, status)
            for e in evaluations
            if (name := evaluation_name(e)) and (status := evaluation_status(e)) is not None
        ],
        core_files={
            core: isinstance(record.get(core), dict)
            or (core in V1_CORE_NAMES and isinstance(record.get(V1_CORE_NAMES[core]), dict))
            for core in CORE_FILES
        },
        qc_default_grouping=(
            quality_control.get("default_grouping") if isinstance(quality_control, dict) else None
        ),
        record=record,
    )


def record_subject(record: Row) -> str | None:
    """A record's subject id (the first of :data:`PATHS` ``subject_id`` that holds one), as a str."""
    return first_text(record, PATHS["subject_id"])


# -- checking a record's shape ------------------------------------------------------------------------------

_EVALUATION_METRIC = "quality_control.evaluations[].metrics[]"

#: Every field the tables read and the shape it may hold; ``[]`` stands for any item of a list. Fields that
#: are not listed are not read and may hold anything.
RECORD_FIELDS: dict[str, str] = {
    "_id": "id",
    "name": "name",
    "_last_modified": "time",
    "last_modified": "time",
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
    "data_description.modality": "modalities",
    "data_description.modality[]": "modality",
    "data_description.modality[].abbreviation": "text",
    "data_description.modality[].name": "text",
    "data_description.investigators": "persons",
    "data_description.investigators[]": "person",
    "data_description.investigators[].name": "text",
    "data_description.source_data": "texts",
    "data_description.source_data[]": "text",
    "data_description.input_data_name": "text",
    "subject": "object",
    "subject.subject_id": "text",
    "subject.genotype": "text",
    "subject.date_of_birth": "time",
    "subject.subject_details": "object",
    "subject.subject_details.genotype": "text",
    "subject.subject_details.date_of_birth": "time",
    "subject.subject_details.year_of_birth": "year",
    "acquisition": "object",
    "acquisition.acquisition_type": "text",
    "acquisition.acquisition_start_time": "time",
    "acquisition.acquisition_end_time": "time",
    "acquisition.session_type": "text",
    "acquisition.session_start_time": "time",
    "acquisition.session_end_time": "time",
    "acquisition.instrument_id": "text",
    "acquisition.subject_id": "text",
    "acquisition.experimenters": "persons",
    "acquisition.experimenters[]": "person",
    "acquisition.experimenters[].name": "text",
    "acquisition.experimenter_full_name": "persons",
    "acquisition.experimenter_full_name[]": "person",
    "acquisition.experimenter_full_name[].name": "text",
    "acquisition.subject_details": "object",
    "acquisition.subject_details.date_of_birth": "time",
    "acquisition.subject_details.year_of_birth": "year",
    "session": "object",
    "session.session_type": "text",
    "session.session_start_time": "time",
    "session.session_end_time": "time",
    "session.rig_id": "text",
    "session.subject_id": "text",
    "session.experimenter_full_name": "persons",
    "session.experimenter_full_name[]": "person",
    "session.experimenter_full_name[].name": "text",
    # read only by the course tables (biodata_cache.tables.course), whose row functions take any value
    "session.data_streams": "any",
    "session.data_streams[]": "any",
    "session.data_streams[].stack_parameters": "any",
    "session.data_streams[].stack_parameters.targeted_structure": "any",
    "session.data_streams[].ophys_fovs": "any",
    "session.data_streams[].ophys_fovs[]": "any",
    "session.data_streams[].ophys_fovs[].notes": "any",
    "session.stimulus_epochs": "any",
    "session.stimulus_epochs[]": "any",
    "session.stimulus_epochs[].stimulus_name": "any",
    "session.stimulus_epochs[].session_number": "any",
    "procedures.subject_procedures": "any",
    "procedures.subject_procedures[]": "any",
    "procedures.subject_procedures[].procedures": "any",
    "procedures.subject_procedures[].procedures[]": "any",
    "procedures.subject_procedures[].procedures[].injection_materials": "any",
    "procedures.subject_procedures[].procedures[].injection_materials[]": "any",
    "procedures.subject_procedures[].procedures[].injection_materials[].name": "any",
    "subject.sex": "any",
    "subject.subject_details.sex": "any",
    "data_description.tags": "any",
    # read only by the platform tables (biodata_cache.tables.platform), whose row functions take any value
    "acquisition.data_streams": "any",
    "acquisition.data_streams[]": "any",
    "acquisition.data_streams[].configurations": "any",
    "acquisition.data_streams[].configurations[]": "any",
    "acquisition.data_streams[].configurations[].channels": "any",
    "acquisition.data_streams[].configurations[].channels[]": "any",
    "acquisition.data_streams[].configurations[].channels[].channel_name": "any",
    "acquisition.data_streams[].configurations[].channels[].intended_measurement": "any",
    "acquisition.data_streams[].configurations[].device_name": "any",
    "acquisition.data_streams[].configurations[].object_type": "any",
    "acquisition.data_streams[].connections": "any",
    "acquisition.data_streams[].connections[]": "any",
    "acquisition.data_streams[].connections[].source_device": "any",
    "acquisition.data_streams[].connections[].target_device": "any",
    "acquisition.object_type": "any",
    "data_description.object_type": "any",
    "instrument.object_type": "any",
    "procedures.object_type": "any",
    "procedures.subject_procedures[].coordinate_system": "any",
    "procedures.subject_procedures[].procedures[].device_config": "any",
    "procedures.subject_procedures[].procedures[].device_config.primary_targeted_structure": "any",
    "procedures.subject_procedures[].procedures[].device_config.primary_targeted_structure.acronym": "any",
    "procedures.subject_procedures[].procedures[].device_config.transform": "any",
    "procedures.subject_procedures[].procedures[].implanted_device": "any",
    "procedures.subject_procedures[].procedures[].implanted_device.name": "any",
    "procedures.subject_procedures[].procedures[].implanted_device.object_type": "any",
    "procedures.subject_procedures[].procedures[].object_type": "any",
    "processing.object_type": "any",
    "quality_control.object_type": "any",
    "rig.object_type": "any",
    "session.object_type": "any",
    "subject.object_type": "any",
    "instrument": "object",
    "instrument.instrument_id": "text",
    "rig": "object",
    "rig.rig_id": "text",
    "procedures": "object",
    "processing": "object",
    "processing.data_processes": "steps",
    "processing.data_processes[]": "object",
    "processing.data_processes[].start_date_time": "time",
    "processing.data_processes[].end_date_time": "time",
    "processing.data_processes[].pipeline_name": "text",
    "processing.pipelines": "objects",
    "processing.pipelines[]": "object",
    "processing.pipelines[].name": "text",
    "processing.pipelines[].url": "text",
    "processing.processing_pipeline": "object",
    "processing.processing_pipeline.pipeline_url": "text",
    "processing.pipeline_url": "text",
    "processing.processing_pipeline.data_processes": "steps",
    "processing.processing_pipeline.data_processes[]": "object",
    "processing.processing_pipeline.data_processes[].start_date_time": "time",
    "processing.processing_pipeline.data_processes[].end_date_time": "time",
    "processing.analyses": "steps",
    "processing.analyses[]": "object",
    "processing.analyses[].start_date_time": "time",
    "processing.analyses[].end_date_time": "time",
    "processing.analyses[].pipeline_name": "text",
    "processing.processing_pipeline.data_processes[].pipeline_name": "text",
    "other_identifiers": "object",
    "other_identifiers.Code Ocean": "texts",
    "other_identifiers.Code Ocean[]": "text",
    "external_links": "links",
    "external_links.Code Ocean": "texts",
    "external_links.Code Ocean[]": "text",
    "external_links[]": "object",
    "external_links[].Code Ocean": "texts",
    "external_links[].Code Ocean[]": "text",
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
    "quality_control.metrics[].reference": "any",
    "quality_control.metrics[].type": "any",
    "quality_control.metrics[].evaluated_assets": "any",
    "quality_control.default_grouping": "any",
    "quality_control.metrics[].status_history": "objects",
    "quality_control.metrics[].status_history[]": "object",
    "quality_control.metrics[].status_history[].status": "text",
    "quality_control.metrics[].status_history[].timestamp": "time",
    "quality_control.metrics[].status_history[].evaluator": "text",
    "quality_control.evaluations": "objects",
    "quality_control.evaluations[]": "object",
    "quality_control.evaluations[].name": "text",
    "quality_control.evaluations[].stage": "text",
    "quality_control.evaluations[].modality": "modality",
    "quality_control.evaluations[].modality.abbreviation": "text",
    "quality_control.evaluations[].modality.name": "text",
    "quality_control.evaluations[].latest_status": "text",
    "quality_control.evaluations[].metrics": "objects",
    _EVALUATION_METRIC: "object",
    f"{_EVALUATION_METRIC}.name": "text",
    f"{_EVALUATION_METRIC}.object_type": "text",
    f"{_EVALUATION_METRIC}.value": "any",
    f"{_EVALUATION_METRIC}.description": "text",
    f"{_EVALUATION_METRIC}.status_history": "objects",
    f"{_EVALUATION_METRIC}.status_history[]": "object",
    f"{_EVALUATION_METRIC}.status_history[].status": "text",
    f"{_EVALUATION_METRIC}.status_history[].timestamp": "time",
    f"{_EVALUATION_METRIC}.status_history[].evaluator": "text",
    # aind-data-schema 1.0.0 (2024) spelled the evaluation's fields with an evaluation_ prefix
    "quality_control.evaluations[].evaluation_name": "text",
    "quality_control.evaluations[].evaluation_stage": "text",
    "quality_control.evaluations[].evaluation_modality": "modality",
    "quality_control.evaluations[].evaluation_modality.abbreviation": "text",
    "quality_control.evaluations[].evaluation_modality.name": "text",
    "quality_control.evaluations[].evaluation_status": "objects",
    "quality_control.evaluations[].evaluation_status[]": "object",
    "quality_control.evaluations[].evaluation_status[].status": "text",
    "quality_control.evaluations[].evaluation_status[].timestamp": "time",
    "quality_control.evaluations[].stage_status": "text",
    "quality_control.evaluations[].qc_metrics": "metricset",
    "quality_control.evaluations[].qc_metrics[]": "object",
    "quality_control.evaluations[].qc_metrics[].name": "text",
    "quality_control.evaluations[].qc_metrics[].value": "any",
    "quality_control.evaluations[].qc_metrics[].description": "text",
    "quality_control.evaluations[].qc_metrics[].status_history": "objects",
    "quality_control.evaluations[].qc_metrics[].status_history[]": "object",
    "quality_control.evaluations[].qc_metrics[].status_history[].status": "text",
    "quality_control.evaluations[].qc_metrics[].status_history[].timestamp": "time",
    "quality_control.evaluations[].qc_metrics[].status_history[].evaluator": "text",
}

_EXPECTED = {
    "id": "a string (or an integer) id",
    "name": "a string",
    "text": "a string (or an integer)",
    "time": "an ISO 8601 time such as '2026-02-13T18:31:13Z'",
    "year": "a year such as 1990 (a number or 4 digits)",
    "object": "an object",
    "objects": "a list of objects",
    "steps": "a list of processing steps (objects, or lists of objects)",
    "texts": "a list of strings (or one string)",
    "modalities": "a list of modalities (objects with an abbreviation, or strings)",
    "modality": "a modality (an object with an abbreviation, or a string)",
    "persons": "a list of people (objects with a name, or strings)",
    "person": "a person (an object with a name, or a string)",
    "textmap": "an object of status strings",
    "links": "an object of links (or a list of such objects or of URLs)",
    "metricset": "a list of metric objects, or an object of metric values by name",
}
_LISTS = frozenset({"objects", "steps", "texts", "modalities", "persons"})


class _Shape:
    """One node of :data:`RECORD_FIELDS` as a tree: its kind, its fields and the shape of its items."""

    __slots__ = ("by_field", "checked", "fields", "item", "kind")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.fields: dict[str, _Shape] = {}
        self.item: _Shape | None = None
        #: Whether an object value is checked field by field (and nothing else).
        self.by_field = kind in _BY_FIELD
        #: ``(key, shape, kind)`` of the fields that can hold a problem (not ``any``), set by the tree.
        self.checked: tuple[tuple[str, _Shape, str], ...] = ()


#: The kinds whose object value is checked field by field, as :func:`_problem` reads them.
_BY_FIELD = frozenset({"object", "modality", "person", "links"})


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
    for node in nodes.values():
        node.checked = tuple((key, f, f.kind) for key, f in node.fields.items() if f.kind != "any")
    return root


def _is_text(value: Any) -> bool:
    return isinstance(value, str) or type(value) is int  # not bool, not float


def _is_time(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip() or _parse_time(value) is not None
    return isinstance(value, dt.date)


def _problem(value: Any, shape: _Shape) -> tuple[str, _Shape, Any] | None:
    """``(relative path, shape, value)`` of the first value that does not fit ``shape``, else None."""
    if type(value) is dict and shape.by_field:  # the common case first: every object of every record
        for key, field_shape, field_kind in shape.checked:
            item = value.get(key)
            # The common leaves inline (this runs for every field of every metric of every record).
            if item is None:
                continue
            if field_kind == "text" and (type(item) is str or type(item) is int):
                continue
            if field_kind == "time" and type(item) is str and _parse_time(item) is not None:
                continue
            if field_kind == "objects" and type(item) is list:  # metrics, status histories: inline too
                item_shape = field_shape.item
                for index, element in enumerate(item):
                    found = _problem(element, item_shape)  # type: ignore[arg-type]
                    if found:
                        return f".{key}[{index}]{found[0]}", found[1], found[2]
                continue
            found = _problem(item, field_shape)
            if found:
                return f".{key}{found[0]}", found[1], found[2]
        return None
    kind = shape.kind
    if value is None or kind == "any":
        return None
    if kind in ("text", "id"):
        return None if _is_text(value) else ("", shape, value)
    if kind == "name":
        return None if isinstance(value, str) else ("", shape, value)
    if kind == "time":
        return None if _is_time(value) else ("", shape, value)
    if kind == "year":
        return None if _year(text(value) if _is_text(value) else None) is not None else ("", shape, value)
    if kind == "textmap":
        if not isinstance(value, dict):
            return "", shape, value
        for key, item in value.items():
            if item is not None and not _is_text(item):
                return f".{key}", _Shape("text"), item
        return None
    if kind == "metricset" and isinstance(value, dict):
        return None  # aind-data-schema 1.0.0: metric values by name, any value
    if kind in _LISTS or (kind in ("links", "metricset") and isinstance(value, list)):
        if isinstance(value, list):
            assert shape.item is not None
            for index, item in enumerate(value):
                if kind == "links" and isinstance(item, str):
                    continue  # a link given as a plain URL: not a Code Ocean id, not read
                if kind == "steps" and isinstance(item, list):  # a group of steps, as some v1 records hold
                    for inner, step in enumerate(item):
                        found = _problem(step, shape.item)
                        if found:
                            return f"[{index}][{inner}]{found[0]}", found[1], found[2]
                    continue
                found = _problem(item, shape.item)
                if found:
                    return f"[{index}]{found[0]}", found[1], found[2]
            return None
        if isinstance(value, str) and kind not in ("objects", "steps", "links", "metricset"):
            return None  # one string alone: a one-item list
        if isinstance(value, dict) and kind in ("modalities", "persons"):
            assert shape.item is not None
            return _problem(value, shape.item)  # one modality or person object alone: a one-item list
        return "", shape, value
    if isinstance(value, str) and kind in ("modality", "person"):
        return None
    if not isinstance(value, dict):
        return "", shape, value
    for key, field_shape in shape.fields.items():
        if key not in value:
            continue
        item = value[key]
        # The common leaves inline (this runs for every field of every metric of every record).
        if item is None or field_shape.kind == "any":
            continue
        if field_shape.kind == "text" and (type(item) is str or type(item) is int):
            continue
        if field_shape.kind == "time" and type(item) is str and _parse_time(item) is not None:
            continue
        found = _problem(item, field_shape)
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
    """Check that every field the tables read has a shape :func:`normalize` reads faithfully.

    Parameters
    ----------
    record
        A parsed metadata record.

    Raises
    ------
    RecordError
        If ``record`` is not an object, has neither ``_id`` nor ``name``, or holds a field the tables read
        with a shape :data:`RECORD_FIELDS` does not accept. ``where`` names the record, ``reason`` the
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


# -- the same check in C, for records parsed from JSON ------------------------------------------------

#: The times :func:`json_record_passes` accepts without Python: ``YYYY-MM-DD``, optionally with
#: ``THH[:MM[:SS[.fff|.ffffff]]]`` (or a space for ``T``) and ``Z`` or ``±HH:MM``, on a calendar day
#: that exists; and the empty string. Each of them passes :func:`_is_time` on every supported Python
#: (``tests/test_records.py`` checks it); any other time goes to :func:`check_record`, which decides.
_FAST_TIME = (
    r"^(?:(?!0000)(?:[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
    r"|(?:0[13578]|1[02])-31)|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
    r"-02-29)(?:[T ](?:[01][0-9]|2[0-3])(?::[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{3}|\.[0-9]{6})?)?)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?)?\Z"
)
#: The years of birth it accepts as text (as numbers: 1800 to 9999), each a year for :func:`_year`.
_FAST_YEAR = r"^(?:1[89][0-9]{2}|[2-9][0-9]{3})\Z"


@functools.lru_cache(maxsize=1)
def _json_record_type() -> Any:
    """:data:`RECORD_FIELDS` as ``msgspec`` types: a Struct per object (its ``any`` fields left out, its
    unknown fields ignored), each value optional; None where ``msgspec`` is not installed."""
    try:
        import msgspec
    except ImportError:  # pragma: no cover  (a dependency; check_record checks the same records)
        return None
    from typing import Annotated

    text_type = str | int | None  # msgspec's int takes no bool, as _is_text
    time_type = Annotated[str, msgspec.Meta(pattern=_FAST_TIME)] | None
    year_as_number = Annotated[int, msgspec.Meta(ge=1800, le=9999)]
    year_type = Annotated[str, msgspec.Meta(pattern=_FAST_YEAR)] | year_as_number | None
    count = 0

    def struct(shape: _Shape) -> Any:
        nonlocal count
        count += 1
        fields = [
            (f"field{index}", as_type(item), msgspec.field(name=key, default=None))
            for index, (key, item) in enumerate(shape.fields.items())
            if item.kind != "any"
        ]
        return msgspec.defstruct(f"RecordShape{count}", fields)

    def as_type(shape: _Shape) -> Any:  # one case per kind, as _problem reads them
        kind = shape.kind
        if kind in ("id", "text"):
            return text_type
        if kind == "name":
            return str | None
        if kind == "time":
            return time_type
        if kind == "year":
            return year_type
        if kind == "object":
            return struct(shape) | None
        if kind in ("modality", "person"):
            return struct(shape) | str | None
        if kind == "textmap":
            return dict[str, str | int | None] | None
        assert shape.item is not None
        item = as_type(shape.item)
        if kind == "objects":
            return list[item] | None
        if kind == "steps":  # a step, or a group of steps
            return list[item | list[item]] | None
        if kind == "texts":  # or one string alone
            return list[item] | str | None
        if kind in ("modalities", "persons"):  # or one string, or one object alone
            return list[item] | str | struct(shape.item) | None
        if kind == "links":  # an object of links, or a list of such objects or of URLs
            return struct(shape) | list[struct(shape.item) | str | None] | None
        if kind == "metricset":  # a list of metrics, or an object of metric values by name
            return list[item] | dict[str, Any] | None
        raise AssertionError(f"no msgspec type for the record field kind {kind!r}")

    return msgspec.convert, msgspec.ValidationError, struct(_shape_tree())


def json_record_passes(record: Any) -> bool:
    """Whether a record parsed from JSON passes :func:`check_record`, decided in C where it can be.

    True only if it does (every field the tables read fits :data:`RECORD_FIELDS`, checked by
    ``msgspec.convert`` into Structs generated from it, and it has an id). False if it may not: a time
    or year written otherwise than the common forms (:data:`_FAST_TIME`), or a value of the wrong shape;
    the caller then calls :func:`check_record`, which decides and words the reason. About 1.5x faster
    than :func:`check_record` on the synthetic corpus.

    Only for values that JSON parsing gives (dict, list, str, int, float, bool, None): ``msgspec`` reads
    a tuple as a list and an int subclass as an int, which :func:`check_record` refuses.
    """
    checker = _json_record_type()
    if checker is None or type(record) is not dict:
        return False
    convert, invalid, record_type = checker
    try:
        convert(record, record_type)
    except invalid:
        return False
    return record_key(record) is not None
