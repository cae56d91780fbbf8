"""Course tables: the SWDB (Summer Workshop on the Dynamic Brain) data sets.

- ``swdb_2025_bci`` and ``swdb_2025_v1dd``: curated sessions selected from the records, with the
  columns of the SWDB 2025 metadata notebooks (biodata-cache 0.42's ``public_collections.py`` ran the
  notebooks' DocDB aggregations; here the same selection is a row function over every record shape);
- the seven ``swdb_2026_*`` tables: membership of the public SWDB 2026 Code Ocean collections, from the
  versioned lists in ``biodata_cache/data/course/`` (each file says where its list comes from).

Row functions are side by side with the declarations.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from biodata_cache import records
from biodata_cache.records import Asset
from biodata_cache.rows import as_asset
from biodata_cache.tables.declaration import ID_COLUMN, Column, Table, record_paths

Row = dict[str, Any]

#: Assets with known-bad metadata that the SWDB 2025 BCI notebook removes by hand (as 0.42 did).
BCI_PROBLEM_ASSETS = frozenset(
    {
        "single-plane-ophys_731015_2025-01-28_17-40-57_processed_2025-08-04_04-38-08",
        "single-plane-ophys_772414_2025-02-04_13-21-29_processed_2025-08-12_06-14-42",
    }
)
BCI_SESSION_TYPE = "BCI single neuron stim"
BCI_PROCESSED_SINCE = "2025-08-03"
BCI_CONDITIONING_EPOCH = "single neuron BCI conditioning"
V1DD_PROJECT = "V1 Deep Dive"
#: Subject id of the reference ("golden") mouse of the V1 Deep Dive data set.
V1DD_GOLDEN_MOUSE = "409828"


def values_at(record: Any, path: str) -> list[Any]:
    """Every value at a dotted path, descending into lists (MongoDB semantics); missing and null parts
    give nothing, list values are flattened one level."""
    current = [record]
    for key in path.split("."):
        found: list[Any] = []
        for value in current:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and item.get(key) is not None:
                    found.append(item[key])
        current = found
    return [item for value in current for item in (value if isinstance(value, list) else [value])]


def _label(value: Any) -> str | None:
    """A value as text; a dict (a structure or material object) by its name or acronym."""
    if isinstance(value, dict):
        return records.text(value.get("name")) or records.text(value.get("acronym"))
    return records.text(value)


def _written_time(asset: Asset) -> dt.time | None:
    """The time of day of the acquisition start as written (lab time, as the notebooks printed it)."""
    value = records.first_text(asset.record, records.PATHS["acquisition_start_time"])
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1)).time()
    except ValueError:
        return None


def _session_columns(asset: Asset) -> Row:
    written = _written_time(asset)
    return {
        "_id": asset.id,
        "name": asset.name,
        "project_name": asset.project_name,
        "subject_id": asset.subject_id,
        "genotype": asset.genotype,
        "date_of_birth": asset.date_of_birth.isoformat() if asset.date_of_birth else None,
        "sex": records.first_text(asset.record, ("subject.subject_details.sex", "subject.sex")),
        "session_date": asset.acquisition_date.isoformat() if asset.acquisition_date else None,
        "age": asset.age_days,
        "session_time": written.isoformat() if written else None,
    }


def _int(value: Any) -> int | None:
    try:
        return int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def bci_rows(record: Row | Asset) -> list[Row]:
    """The asset's ``swdb_2025_bci`` row: a derived BCI single-neuron-stim session processed since
    2025-08-03 that has FOV, virus, modality and targeted structure values (0.42's aggregation unwinds
    them and keeps the first row per asset), except the notebook's problem assets. FOVs, targeted
    structures and epochs are read from the v1 ``session`` (the paths the notebook's query reads)."""
    asset = as_asset(record)
    record = asset.record
    starts = [
        records.text(value)
        for path in ("processing.processing_pipeline.data_processes", "processing.data_processes")
        for value in values_at(record, path + ".start_date_time")
    ]
    if (
        asset.acquisition_type != BCI_SESSION_TYPE
        or asset.data_level != "derived"
        or asset.name in BCI_PROBLEM_ASSETS
        or not any(start is not None and start >= BCI_PROCESSED_SINCE for start in starts)
    ):
        return []
    streams = values_at(record, "session.data_streams")
    fovs = [fov.get("notes") for fov in values_at(streams, "ophys_fovs") if isinstance(fov, dict)]
    viruses = values_at(record, "procedures.subject_procedures.procedures.injection_materials.name")
    modalities = values_at(record, "data_description.modality.name") or values_at(
        record, "data_description.modalities.name"
    )
    structures = values_at(streams, "stack_parameters.targeted_structure")
    if not (fovs and viruses and modalities and structures):
        return []
    epochs = values_at(record, "session.stimulus_epochs")
    numbers = [
        epoch.get("session_number")
        for epoch in epochs
        if isinstance(epoch, dict) and epoch.get("stimulus_name") == BCI_CONDITIONING_EPOCH
    ]
    return [
        {
            **_session_columns(asset),
            "session_type": asset.acquisition_type,
            "virus": _label(viruses[0]),
            "modality": _label(modalities[0]),
            "targeted_structure": _label(structures[0]),
            "ophys_fov": records.text(fovs[0]),
            "session_number": _int(numbers[0]) if numbers else None,
        }
    ]


def _tag_number(tag: Any) -> int | None:
    """``"Column 2"`` -> 2: the number after the last space of a V1DD tag (None if there is none)."""
    value = records.text(tag)
    return _int(value.split(" ")[-1]) if value else None


def v1dd_rows(record: Row | Asset) -> list[Row]:
    """The asset's ``swdb_2025_v1dd`` row, for every asset of the V1 Deep Dive project."""
    asset = as_asset(record)
    if asset.project_name != V1DD_PROJECT:
        return []
    tags = records.get(asset.record, "data_description.tags")
    tags = tags if isinstance(tags, list) else []
    modalities = values_at(asset.record, "data_description.modalities.name") or values_at(
        asset.record, "data_description.modality.name"
    )
    return [
        {
            **_session_columns(asset),
            "golden_mouse": asset.subject_id == V1DD_GOLDEN_MOUSE if asset.subject_id else None,
            "modality": [m for m in map(_label, modalities) if m],
            "column": _tag_number(tags[0]) if len(tags) > 0 else None,
            "volume": _tag_number(tags[1]) if len(tags) > 1 else None,
        }
    ]


_IDENTITY = (
    Column("project_name", "string", "data_description.project_name."),
    ID_COLUMN,
    Column("name", "string", "Asset name, joinable with asset_basics.name."),
    Column("subject_id", "string", "Subject id, as a string."),
)
_SUBJECT = (
    Column("genotype", "string", "Subject genotype (subject_details, else v1 subject.genotype)."),
    Column("date_of_birth", "string", "Subject date of birth, YYYY-MM-DD."),
    Column("sex", "string", "Subject sex (subject.subject_details.sex, else v1 subject.sex)."),
)
_SESSION = (
    Column("session_date", "string", "Acquisition date as written (lab time), YYYY-MM-DD."),
    Column("age", "int64", "Subject age in days at the session (session_date - date_of_birth)."),
    Column(
        "session_time", "string", "Acquisition start time of day as written (lab time), HH:MM:SS[.ffffff]."
    ),
)
_SESSION_FIELDS = (
    *record_paths(
        "_id",
        "name",
        "project_name",
        "subject_id",
        "genotype",
        "date_of_birth",
        "acquisition_type",
        "acquisition_start_time",
        "data_level",
        "processes",
    ),
    "subject.subject_details.sex",
    "subject.sex",
)


def _collection_table(name: str, title: str) -> Table:
    return Table(
        name=name,
        description=f"Members of the public SWDB 2026 Code Ocean collection {title}: one row per derived "
        "asset inside the collection's data assets (a list kept in the package, "
        f"biodata_cache/data/course/{name}.json, which names its source). Join with asset_basics on "
        "name (asset_basics.name) for each member's record; a member may have no record.",
        kind="frame",
        columns=(
            Column("collection_id", "string", "Public Code Ocean collection id."),
            Column("collection_url", "string", "Public Code Ocean collection URL."),
            Column("data_asset_id", "string", "Code Ocean data asset id holding the derived asset."),
            Column("collection_asset_name", "string", "Name of that Code Ocean data asset."),
            Column("name", "string", "Derived asset name inside the data asset (asset_basics.name)."),
        ),
        data_file=f"course/{name}.json",
    )


TABLES: tuple[Table, ...] = (
    Table(
        name="swdb_2025_bci",
        description="SWDB 2025 Brain Computer Interface sessions (bci_metadata.ipynb): one row per derived "
        f"asset whose session type is {BCI_SESSION_TYPE!r}, processed on or after {BCI_PROCESSED_SINCE}, "
        "with FOV notes, an injection material, a modality and a targeted structure (the first of each, as "
        "0.42's aggregation kept the first unwound row per asset); the notebook's two problem assets are "
        "left out.",
        kind="frame",
        columns=(
            _IDENTITY[0],
            Column("session_type", "string", "Session type (acquisition_type: v1 session.session_type)."),
            *_IDENTITY[1:],
            _SUBJECT[0],
            Column("virus", "string", "First injection material name of the subject procedures."),
            *_SUBJECT[1:],
            Column("modality", "string", "First modality name (data_description.modality[].name)."),
            *_SESSION,
            Column("targeted_structure", "string", "First targeted structure of the session's data streams."),
            Column("ophys_fov", "string", "Notes of the first ophys FOV of the session's data streams."),
            Column("session_number", "int64", f"session_number of the {BCI_CONDITIONING_EPOCH!r} epoch."),
        ),
        fields=(
            *_SESSION_FIELDS,
            "session.data_streams.stack_parameters.targeted_structure",
            "session.data_streams.ophys_fovs.notes",
            "session.stimulus_epochs.stimulus_name",
            "session.stimulus_epochs.session_number",
            "procedures.subject_procedures.procedures.injection_materials.name",
            "data_description.modality",
            "data_description.modalities",
        ),
        rows=bci_rows,
        record_key="_id",
    ),
    Table(
        name="swdb_2025_v1dd",
        description=f"SWDB 2025 V1 Deep Dive assets (V1DD_metadata.ipynb): one row per asset of the project "
        f"{V1DD_PROJECT!r}, with its column and volume from data_description.tags ('Column 1', 'Volume 3').",
        kind="frame",
        columns=(
            *_IDENTITY,
            Column(
                "golden_mouse", "bool", f"Whether the subject is the reference mouse {V1DD_GOLDEN_MOUSE}."
            ),
            *_SUBJECT,
            Column("modality", "list<string>", "Modality names (data_description.modalities[].name)."),
            *_SESSION,
            Column("column", "int64", "V1DD column: the number in data_description.tags[0]."),
            Column("volume", "int64", "V1DD volume: the number in data_description.tags[1]."),
        ),
        fields=(
            *_SESSION_FIELDS,
            "data_description.tags",
            "data_description.modalities",
            "data_description.modality",
        ),
        rows=v1dd_rows,
        record_key="_id",
    ),
    _collection_table("swdb_2026_bci", "Brain Computer Interface (brain-computer-interface-v2)"),
    _collection_table("swdb_2026_v1dd", "V1 Deep Dive (four <subject>_V1DD_Filtered data assets)"),
    _collection_table("swdb_2026_visual_learning", "Visual Learning (Visual-Learning-SWDB)"),
    _collection_table("swdb_2026_visual_coding_neuropixels", "Visual Coding Neuropixels"),
    _collection_table("swdb_2026_visual_coding_ophys", "Visual Coding Ophys"),
    _collection_table("swdb_2026_dynamic_routing", "Dynamic Routing (swdb_dynamicrouting_datacube)"),
    _collection_table(
        "swdb_2026_neuropixels_opto", "Neuropixels Opto (Neuropixels_Opto_ecephys_nwb_combined)"
    ),
)
