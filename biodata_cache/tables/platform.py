"""Platform tables: tables of one acquisition platform's assets, built from their records.

- ``platform_qc``: tag-level QC status per platform (``spim``, ``fib``, ``vr``, ``dynamic_foraging``,
  ``slap2``), partitioned by ``platform``; an asset of two platforms has rows in both partitions.
- ``platform_fib``: fiber photometry, one row per (asset, fiber, channel) with the fiber's intended
  measurement and targeted structure.

The row functions live here, next to the declarations. They read the normal form
(:class:`~biodata_cache.records.Asset`) and, for values that have no normal form (a fiber's implant, a
patch cord's channels), the projected record with the helpers of :mod:`biodata_cache.records`; a missing
or odd value is a null, never an error. What each table computes follows biodata-cache 0.42
(``cache_table_helpers/platform_qc.py``, ``platform_fib.py``); its join with ``asset_basics`` is computed
here from the same normal form ``asset_basics`` is built from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from biodata_cache.records import (
    Asset,
    as_list,
    get,
    normal_instrument_id,
    normal_person_names,
    text,
)
from biodata_cache.tables.declaration import Column, Table, record_paths

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


def platform_qc_rows(asset: Asset) -> list[Row]:
    """One row per (platform, QC status key of that platform) of an asset; none for an asset of no
    platform or without ``quality_control.status``."""
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


def platform_fib_rows(asset: Asset) -> list[Row]:
    """One row per (fiber, patch cord channel) of a fiber photometry asset.

    An asset is one when a modality contains ``fib`` (as biodata-cache 0.42 selects them). Each
    ``acquisition.data_streams[]``'s connections map a patch cord (``source_device``) to an implanted
    fiber (``target_device``, a fiber of the probe implants); each ``Patch cord config`` names the
    channels and intended measurements of its patch cord. Channels whose measurement is the text
    ``"None"`` are left out; missing names and measurements are ``"missing"``, as in 0.42.
    """
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
            Column("_id", "string", "DocDB id of the record the row comes from."),
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
            Column("_id", "string", "DocDB id of the record the row comes from."),
        ),
        fields=(
            *record_paths("_id", "name", "modalities"),
            "procedures.subject_procedures",
            "acquisition.data_streams",
        ),
        rows=platform_fib_rows,
        record_key="_id",
    ),
)
