"""Platform tables: tables of one acquisition platform's assets, built from their records.

- ``platform_qc``: tag-level QC status per platform (``spim``, ``fib``, ``vr``, ``dynamic_foraging``,
  ``slap2``), partitioned by ``platform``; an asset of two platforms has rows in both partitions.
- ``platform_fib``: fiber photometry, one row per (asset, fiber, channel) with the fiber's intended
  measurement and targeted structure.
- ``platform_smartspim_fiber_ccf``: fiber-tip CCF locations annotated as QC metrics of stitched SmartSPIM
  assets, one row per (asset, fiber probe).
- ``platform_smartspim_qc_metrics``: the standard SPIM QC metrics of derived SmartSPIM / exaSPIM assets.

The row functions live here, next to the declarations. They read the normal form
(:class:`~biodata_cache.records.Asset`) and, for values that have no normal form (a fiber's implant, a
patch cord's channels), the projected record with the helpers of :mod:`biodata_cache.records`; a missing
or odd value is a null, never an error. What each table computes follows biodata-cache 0.42
(``cache_table_helpers/platform_qc.py``, ``platform_fib.py``, ``platform_smartspim_fiber_ccf.py``,
``platform_smartspim_qc_metrics.py``); its join with ``asset_basics`` is computed
here from the same normal form ``asset_basics`` is built from.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from biodata_cache.records import (
    Asset,
    as_list,
    get,
    json_text,
    latest_status,
    local_timestamp,
    normal_instrument_id,
    normal_person_names,
    text,
)
from biodata_cache.rows import as_asset
from biodata_cache.tables.declaration import ROW_RECORD_COLUMN, Column, Table, record_paths

Row = dict[str, Any]


@dataclass(frozen=True)
class PlatformFilter:
    """Which assets belong to a platform (biodata-cache 0.42's ``PLATFORM_FILTERS``).

    Attributes
    ----------
    modalities
        QC modalities of the platform (today's abbreviations): an asset with any of them among its
        modalities belongs to the platform, and a QC status key belongs to it when a metric of one of
        these modalities carries that tag (or the key is the modality itself).
    acquisition_type
        If set, the asset's acquisition type must equal it.
    acquisition_type_pattern
        If set, the asset's acquisition type must match this regular expression from its start.
    """

    modalities: frozenset[str]
    acquisition_type: str | None = None
    acquisition_type_pattern: str | None = None

    def selects(self, asset: Asset) -> bool:
        """Whether ``asset`` belongs to the platform."""
        wanted = {m.casefold() for m in self.modalities}
        if not any(m.casefold() in wanted for m in asset.modalities):
            return False
        if self.acquisition_type is not None and asset.acquisition_type != self.acquisition_type:
            return False
        if self.acquisition_type_pattern is not None:
            return asset.acquisition_type is not None and bool(
                re.match(self.acquisition_type_pattern, asset.acquisition_type)
            )
        return True


#: The platforms of ``platform_qc``, as in biodata-cache 0.42 (``cache_table_helpers/platform_qc.py``).
PLATFORM_FILTERS: dict[str, PlatformFilter] = {
    "spim": PlatformFilter(frozenset({"SPIM"})),
    "fib": PlatformFilter(frozenset({"fib"})),
    "vr": PlatformFilter(frozenset({"behavior", "behavior-videos"}), acquisition_type="AindVrForaging"),
    "dynamic_foraging": PlatformFilter(
        frozenset({"behavior", "behavior-videos"}),
        acquisition_type_pattern=r"(Uncoupled|Coupled)( Without)? Baiting",
    ),
    "slap2": PlatformFilter(frozenset({"slap2"})),
}
PLATFORMS: tuple[str, ...] = tuple(PLATFORM_FILTERS)


def platform_tags(asset: Asset, modalities: frozenset[str]) -> list[tuple[str, str | None]]:
    """``(status key, status)`` of ``quality_control.status`` that belong to a platform's modalities.

    A key belongs when a metric of one of ``modalities`` carries it as a tag (``"<tag type>:<tag value>"``
    of a metric's ``tags`` dict) or the key is one of the modalities itself (the status of the whole
    modality), as biodata-cache 0.42's ``_filter_tags_by_modality`` does. Keys keep the record's order.
    """
    status = asset.qc_status
    if not isinstance(status, dict):
        return []
    key_modalities: dict[str, set[str]] = {}
    for metric in asset.metrics:
        modality = metric.modality or ""
        if isinstance(metric.tags, dict):
            for tag_type, tag_value in metric.tags.items():
                key_modalities.setdefault(f"{tag_type}:{tag_value}", set()).add(modality)
        if modality:
            key_modalities.setdefault(modality, set()).add(modality)
    return [
        (str(key), text(value))
        for key, value in status.items()
        if key_modalities.get(str(key), set()) & modalities or key in modalities
    ]


def platform_qc_rows(record: Row | Asset) -> list[Row]:
    """One row per (platform, QC status key of that platform) of an asset; none for an asset of no
    platform or without ``quality_control.status``."""
    asset = as_asset(record)
    rows: list[Row] = []
    for platform, selection in PLATFORM_FILTERS.items():
        if not selection.selects(asset):
            continue
        for tag, status in platform_tags(asset, selection.modalities):
            rows.append(
                {
                    "platform": platform,
                    "asset_name": asset.name,
                    "tag": tag,
                    "status": status,
                    "timestamp": asset.acquisition_start_time,
                    "instrument_id_normalized": normal_instrument_id(asset.instrument_id),
                    "experimenters_normalized": normal_person_names(asset.experimenters),
                    "_id": asset.id,
                }
            )
    return rows


# -- platform_fib ---------------------------------------------------------------------------------------

_COORDINATE_AXES = {
    "AP": "target_coordinate_ap",
    "ML": "target_coordinate_ml",
    "SI": "target_coordinate_si",
    "DEPTH": "target_coordinate_depth",
}
_COORDINATE_COLUMNS = (
    *_COORDINATE_AXES.values(),
    "target_coordinate_system",
    "target_coordinate_origin",
    "target_coordinate_unit",
)


def _dicts(value: Any) -> list[Row]:
    return [item for item in as_list(value) if isinstance(item, dict)]


def _fiber_key(name: str) -> str:
    """A fiber name compared across procedures and acquisition (``Fiber_0`` is ``Fiber 0``)."""
    return name.replace("_", " ")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _implants(record: Row) -> dict[str, Row]:
    """Fiber key -> targeted structure and implant coordinates, from the probe implants of
    ``procedures.subject_procedures[].procedures[]``."""
    implants: dict[str, Row] = {}
    for surgery in _dicts(get(record, "procedures.subject_procedures")):
        system = surgery.get("coordinate_system")
        system = system if isinstance(system, dict) else {}
        axes = _dicts(system.get("axes"))
        for procedure in _dicts(surgery.get("procedures")):
            if procedure.get("object_type") != "Probe implant":
                continue
            name = text(get(procedure, "implanted_device.name"))
            if not name:
                continue
            acronym = text(get(procedure, "device_config.primary_targeted_structure.acronym"))
            found: Row = {"targeted_structure": "missing" if acronym in (None, "root") else acronym}
            transforms = _dicts(get(procedure, "device_config.transform"))
            translation = next(
                (t.get("translation") for t in transforms if t.get("object_type") == "Translation"), None
            )
            if isinstance(translation, list) and axes and len(translation) == len(axes):
                for axis, value in zip(axes, translation, strict=True):
                    column = _COORDINATE_AXES.get((text(axis.get("name")) or "").upper())
                    if column:
                        found[column] = _number(value)
                found["target_coordinate_system"] = text(system.get("name"))
                found["target_coordinate_origin"] = text(system.get("origin"))
                found["target_coordinate_unit"] = text(system.get("axis_unit"))
            implants[_fiber_key(name)] = found
    return implants


def platform_fib_rows(record: Row | Asset) -> list[Row]:
    """One row per (fiber, patch cord channel) of a fiber photometry asset.

    An asset is one when a modality contains ``fib`` (as biodata-cache 0.42 selects them). Each
    ``acquisition.data_streams[]``'s connections map a patch cord (``source_device``) to an implanted
    fiber (``target_device``, a fiber of the probe implants); each ``Patch cord config`` names the
    channels and intended measurements of its patch cord. Channels whose measurement is the text
    ``"None"`` are left out; missing names and measurements are ``"missing"``, as in 0.42.
    """
    asset = as_asset(record)
    if not any("fib" in m.casefold() for m in asset.modalities):
        return []
    implants = _implants(asset.record)
    rows: list[Row] = []
    for stream in _dicts(get(asset.record, "acquisition.data_streams")):
        fibers: dict[str, str] = {}
        for connection in _dicts(stream.get("connections")):
            source, target = text(connection.get("source_device")), text(connection.get("target_device"))
            if source and target and _fiber_key(target) in implants:
                fibers[source] = _fiber_key(target)
        for configuration in _dicts(stream.get("configurations")):
            if configuration.get("object_type") != "Patch cord config":
                continue
            patch_cord = text(configuration.get("device_name")) or "missing"
            fiber = fibers.get(patch_cord)
            if fiber is None:
                continue
            implant = implants[fiber]
            for channel in _dicts(configuration.get("channels")):
                measurement = text(channel.get("intended_measurement")) or "missing"
                if measurement == "None":
                    continue
                rows.append(
                    {
                        "asset_name": asset.name,
                        "fiber": fiber,
                        "patch_cord": patch_cord,
                        "channel": text(channel.get("channel_name")) or "missing",
                        "intended_measurement": measurement,
                        "targeted_structure": implant["targeted_structure"],
                        **{column: implant.get(column) for column in _COORDINATE_COLUMNS},
                        "_id": asset.id,
                    }
                )
    return rows


# -- platform_smartspim_fiber_ccf -------------------------------------------------------------------------

#: The QC portal names a fiber's CCF location metric "<fiber> CCF Location" (0.42: web/src/qc/fiber-ccf.js).
CCF_METRIC_SUFFIX = " CCF Location"


def _fiber_probes(record: Row) -> list[tuple[str, str | None]]:
    """(fiber name, targeted structure acronym) of each fiber probe implant, first of each name."""
    fibers: dict[str, str | None] = {}
    for surgery in _dicts(get(record, "procedures.subject_procedures")):
        for procedure in _dicts(surgery.get("procedures")):
            if procedure.get("object_type") != "Probe implant":
                continue
            if get(procedure, "implanted_device.object_type") != "Fiber probe":
                continue
            name = text(get(procedure, "implanted_device.name"))
            if name and name not in fibers:
                fibers[name] = text(get(procedure, "device_config.primary_targeted_structure.acronym"))
    return list(fibers.items())


def _annotation(value: Any) -> dict[str, Any]:
    """A CCF location metric's value: a dict, or JSON text of one (optionally prefixed ``json:``)."""
    if isinstance(value, str):
        try:
            value = json.loads(value.removeprefix("json:"))
        except json.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}


def _index(value: Any) -> int | None:
    """A user-entered voxel index as an int (``"12"``, ``12.0``), or None when absent or not whole."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


def smartspim_fiber_ccf_rows(record: Row | Asset) -> list[Row]:
    """One row per fiber probe of a stitched SmartSPIM asset (``_stitched_`` in its name, modality SPIM),
    with the tip's CCF indices from its ``<fiber> CCF Location`` QC metric (null until annotated)."""
    asset = as_asset(record)
    if asset.name is None or "_stitched_" not in asset.name or "SPIM" not in asset.modalities:
        return []
    metrics: dict[str, Row] = {}
    for metric in asset.metrics:
        name = text(metric.metric.get("name"))
        if name is not None and name not in metrics:
            metrics[name] = metric.metric
    rows: list[Row] = []
    for fiber, structure in _fiber_probes(asset.record):
        metric = metrics.get(f"{fiber}{CCF_METRIC_SUFFIX}", {})
        value = _annotation(metric.get("value"))
        status = latest_status(metric)
        rows.append(
            {
                "subject_id": asset.subject_id,
                "name": asset.name,
                "fiber": fiber,
                "targeted_structure": structure,
                "ap": _index(value.get("AP")),
                "ml": _index(value.get("ML")),
                "dv": _index(value.get("DV")),
                "status": text(status.get("status")),
                "evaluator": text(status.get("evaluator")),
                "status_timestamp": local_timestamp(status.get("timestamp")),
                "ccf_link": text(metric.get("reference")),
                "_id": asset.id,
            }
        )
    return rows


# -- platform_smartspim_qc_metrics --------------------------------------------------------------------------

#: The standard SPIM QC metrics (0.42's ``BASE_METRIC_NAMES``); ``<channel> brightness`` metrics count too.
SPIM_METRICS = frozenset(
    {
        "Image and tissue quality",
        "Tissue perfusion",
        "Flatfield correction",
        "Image destriping",
        "Image stitching",
    }
)
BRIGHTNESS_SUFFIX = " brightness"
_SPIM_INSTRUMENT = re.compile(r"(smart|exa)", re.IGNORECASE)


def _channel(metric: Row) -> str | None:
    """A metric's channel: its ``channel`` tag (any case), else ``<channel>`` of a ``<channel> brightness``
    name (0.42 also looked the name up among ``acquisition.channels``, which gives the same channel)."""
    tags = metric.get("tags")
    if isinstance(tags, dict):
        tagged = next((v for k, v in tags.items() if isinstance(k, str) and k.casefold() == "channel"), None)
        if isinstance(tagged, str) and tagged.strip():
            return tagged.strip()
    name = text(metric.get("name"))
    if name is None or not name.endswith(BRIGHTNESS_SUFFIX):
        return None
    return name.removesuffix(BRIGHTNESS_SUFFIX) or None


def smartspim_qc_metrics_rows(record: Row | Asset) -> list[Row]:
    """One row per standard SPIM QC metric of a derived asset acquired on a SmartSPIM or exaSPIM
    instrument (its instrument id contains ``smart`` or ``exa``, any case)."""
    asset = as_asset(record)
    if asset.data_level != "derived" or not _SPIM_INSTRUMENT.search(asset.instrument_id or ""):
        return []
    rows: list[Row] = []
    for metric in asset.metrics:
        name = text(metric.metric.get("name"))
        if name is None or (name not in SPIM_METRICS and not name.endswith(BRIGHTNESS_SUFFIX)):
            continue
        value = metric.metric.get("value")
        status = metric.latest_status()
        rows.append(
            {
                "subject_id": asset.subject_id,
                "name": asset.name,
                "metric_name": name,
                "channel": _channel(metric.metric),
                "stage": metric.stage,
                "value": json_text(value.get("value") if isinstance(value, dict) else value),
                "status": text(status.get("status")),
                "evaluator": text(status.get("evaluator")),
                "status_timestamp": local_timestamp(status.get("timestamp")),
                "_id": asset.id,
            }
        )
    return rows


#: The parts of a fiber implant procedure (``procedures.subject_procedures[]``) the platform tables read.
IMPLANT_FIELDS = (
    "procedures.subject_procedures.coordinate_system",
    "procedures.subject_procedures.procedures.object_type",
    "procedures.subject_procedures.procedures.implanted_device.name",
    "procedures.subject_procedures.procedures.implanted_device.object_type",
    "procedures.subject_procedures.procedures.device_config.primary_targeted_structure.acronym",
    "procedures.subject_procedures.procedures.device_config.transform",
)
#: The parts of ``acquisition.data_streams[]`` platform_fib reads (not the bulky device configurations).
PATCH_CORD_FIELDS = (
    "acquisition.data_streams.connections.source_device",
    "acquisition.data_streams.connections.target_device",
    "acquisition.data_streams.configurations.object_type",
    "acquisition.data_streams.configurations.device_name",
    "acquisition.data_streams.configurations.channels.channel_name",
    "acquisition.data_streams.configurations.channels.intended_measurement",
)

TABLES: tuple[Table, ...] = (
    Table(
        name="platform_qc",
        description="Tag-level QC status per platform, partitioned by platform (spim, fib, vr, "
        "dynamic_foraging, slap2): one row per asset of the platform and key of its "
        "quality_control.status that a metric of the platform's modalities carries as a tag (or the "
        "modality itself). An asset of two platforms has rows in both partitions.",
        kind="frame",
        partition_key="platform",
        columns=(
            Column("platform", "string", f"Platform (the partition key): one of {', '.join(PLATFORMS)}."),
            Column("asset_name", "string", "Asset name, joinable with asset_basics.name."),
            Column("tag", "string", "QC status key: '<tag type>:<tag value>' or a modality."),
            Column("status", "string", "QC status of this key (Pass, Fail, Pending)."),
            Column("timestamp", "timestamp", "Acquisition start of the asset (UTC)."),
            Column(
                "instrument_id_normalized",
                "string",
                "Short instrument name derived from instrument_id (as asset_basics).",
            ),
            Column(
                "experimenters_normalized",
                "list<string>",
                "Normalized, deduplicated, sorted experimenter names (as asset_basics).",
            ),
            ROW_RECORD_COLUMN,
        ),
        fields=record_paths(
            "_id",
            "name",
            "modalities",
            "acquisition_type",
            "acquisition_start_time",
            "instrument_id",
            "experimenters",
            "qc_metrics",
            "qc_status",
        ),
        rows=platform_qc_rows,
        record_key="_id",
    ),
    Table(
        name="platform_fib",
        description="Fiber photometry assets in long form: one row per (asset, fiber, channel) with the "
        "channel's intended measurement (acquisition patch cord configs) and the fiber's targeted "
        "structure and implant coordinates (procedures' probe implants). Missing names, measurements "
        "and structures are 'missing'; unavailable coordinates are null.",
        kind="frame",
        columns=(
            Column("asset_name", "string", "Asset name, joinable with asset_basics.name."),
            Column("fiber", "string", "Implanted fiber (e.g. 'Fiber 0'), underscores read as spaces."),
            Column("patch_cord", "string", "Patch cord (Patch cord config device_name)."),
            Column("channel", "string", "Channel name (e.g. 'Fiber_0_Green')."),
            Column(
                "intended_measurement",
                "string",
                "Intended measurement of the channel (e.g. dopamine); 'missing' if unavailable.",
            ),
            Column(
                "targeted_structure",
                "string",
                "CCF acronym of the fiber's primary targeted structure; 'missing' if unavailable or 'root'.",
            ),
            Column("target_coordinate_ap", "float64", "Implant translation along the AP axis."),
            Column("target_coordinate_ml", "float64", "Implant translation along the ML axis."),
            Column("target_coordinate_si", "float64", "Implant translation along the SI axis."),
            Column("target_coordinate_depth", "float64", "Implant translation along the depth axis."),
            Column("target_coordinate_system", "string", "Surgery coordinate system of the translation."),
            Column("target_coordinate_origin", "string", "Origin of the surgery coordinate system."),
            Column("target_coordinate_unit", "string", "Unit of the coordinate system's axes."),
            ROW_RECORD_COLUMN,
        ),
        fields=(*record_paths("_id", "name", "modalities"), *IMPLANT_FIELDS, *PATCH_CORD_FIELDS),
        rows=platform_fib_rows,
        record_key="_id",
    ),
    Table(
        name="platform_smartspim_fiber_ccf",
        description="Fiber-tip CCF locations of stitched SmartSPIM assets: one row per (asset, fiber probe "
        "implant) with the tip's voxel indices in the CCF-aligned volume (25 um), annotated in the QC portal "
        "as the metric '<fiber> CCF Location' (null until annotated), and that metric's latest status.",
        kind="frame",
        columns=(
            Column("subject_id", "string", "Subject id."),
            Column("name", "string", "Stitched SmartSPIM asset name."),
            Column("fiber", "string", "Fiber probe name from the implant procedure (e.g. Fiber_0)."),
            Column("targeted_structure", "string", "Intended CCF structure acronym of the implant."),
            Column("ap", "int64", "Fiber tip AP index in the CCF-aligned volume; null until annotated."),
            Column("ml", "int64", "Fiber tip ML index in the CCF-aligned volume; null until annotated."),
            Column("dv", "int64", "Fiber tip DV index in the CCF-aligned volume; null until annotated."),
            Column("status", "string", "Latest status of the CCF Location metric; null if not created."),
            Column("evaluator", "string", "Evaluator of the latest status."),
            Column(
                "status_timestamp",
                "timestamp",
                "Time of the latest status (UTC; a time written without an offset is lab time, "
                "America/Los_Angeles, as every QC time).",
            ),
            Column("ccf_link", "string", "Link to the CCF-aligned volume used for annotation (reference)."),
            ROW_RECORD_COLUMN,
        ),
        fields=(*record_paths("_id", "name", "subject_id", "modalities", "qc_metrics"), *IMPLANT_FIELDS),
        rows=smartspim_fiber_ccf_rows,
        record_key="_id",
    ),
    Table(
        name="platform_smartspim_qc_metrics",
        description="Standard SPIM QC metrics of derived SmartSPIM and exaSPIM assets (instrument id "
        "containing 'smart' or 'exa'): one row per metric named Image and tissue quality, Tissue perfusion, "
        "Flatfield correction, Image destriping, Image stitching or '<channel> brightness'.",
        kind="frame",
        columns=(
            Column("subject_id", "string", "Subject id."),
            Column("name", "string", "Derived SmartSPIM or exaSPIM asset name."),
            Column("metric_name", "string", "Standard SPIM QC metric name."),
            Column("channel", "string", "Its channel tag, else the channel a brightness metric names."),
            Column("stage", "string", "QC stage."),
            Column("value", "string", "Metric value as text (a dict's 'value'; other dicts as JSON)."),
            Column("status", "string", "Latest status (Pass, Fail, Pending)."),
            Column("evaluator", "string", "Evaluator of the latest status."),
            Column(
                "status_timestamp",
                "timestamp",
                "Time of the latest status (UTC; a time written without an offset is lab time, "
                "America/Los_Angeles, as every QC time).",
            ),
            ROW_RECORD_COLUMN,
        ),
        fields=record_paths("_id", "name", "subject_id", "data_level", "instrument_id", "qc_metrics"),
        rows=smartspim_qc_metrics_rows,
        record_key="_id",
    ),
)
