"""Light-sheet imaging platform tables built from records plus a listing of each asset's storage:
``platform_smartspim``, ``platform_exaspim`` and ``platform_exaspim_intermediates`` (biodata-cache
0.42's ``cache_table_helpers/platform_smartspim.py``, ``platform_exaspim.py`` and
``platform_exaspim_intermediates.py``).

``platform_smartspim`` / ``platform_exaspim``: one row per raw SmartSPIM (exaSPIM) acquisition, joined to its
newest stitched (fused) derived asset through ``source_data``, with neuroglancer links to the outputs that
exist under the assets' locations. ``platform_exaspim_intermediates``: which fusion and intermediate folders
exist under each derived asset of a raw exaSPIM acquisition's chain.
Which outputs exist is read from listings (:mod:`biodata_cache.asset_listing`): each declaration's
``asset_listing`` names the folders to list for an asset, and its ``listed_rows`` builds the rows from the
``asset_basics`` and ``source_data`` rows and the listings. An asset whose listing failed is never published
as having no outputs: its rows say so in ``listing_error``.

The declarations and their row functions live side by side in this module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from biodata_cache.asset_listing import NOT_LISTED
from biodata_cache.tables.declaration import Column, Table

NEUROGLANCER_BASE = "https://allen.neuroglass.io/new#!"
NEUROGLANCER_DEMO_BASE = "https://neuroglancer-demo.appspot.com/#!"
#: Folder of a stitched SmartSPIM asset holding one subfolder per segmented channel.
SEGMENTATION = "image_cell_segmentation"
#: Folder of a raw SmartSPIM asset holding its neuroglancer_config.json.
SPIM_DERIVATIVES = "SPIM/derivatives"
#: Files at the root of a raw exaSPIM asset that open it in neuroglancer, in order of preference.
EXASPIM_RAW_CONFIGS = ("neuroglancer.json", "process_output.json")


def _is_spim(row: dict[str, Any]) -> bool:
    names = list(row.get("modalities") or []) + list(row.get("recorded_modalities") or [])
    return any("SPIM" in str(name) for name in names)


def _raw_on(row: dict[str, Any], instrument: str) -> bool:
    """A raw SPIM acquisition whose instrument id contains ``instrument`` (0.42's selection)."""
    return (
        row.get("data_level") == "raw"
        and _is_spim(row)
        and instrument in (row.get("instrument_id") or "").lower()
    )


def _newest_derived(raw_names: set[str], sources: list[dict[str, Any]], word: str) -> dict[str, str]:
    """Raw name -> the newest derived asset made from it whose name contains ``word`` (by the
    ``processing_time`` in its name; 0.42 sorts newest first and takes the first, so undated ones last;
    ties go to the greater name)."""
    best: dict[str, tuple[bool, Any, str]] = {}
    for row in sources:
        raw, name = row.get("source_data"), row.get("name")
        if raw not in raw_names or not name or word not in name.lower():
            continue
        time = row.get("processing_time")
        rank = (time is not None, time or 0, name)
        if raw not in best or rank > best[raw]:
            best[raw] = rank
    return {raw: rank[2] for raw, rank in best.items()}


def _location(row: dict[str, Any] | None) -> str | None:
    location = (row or {}).get("location")
    return location.rstrip("/") if isinstance(location, str) and location.strip() else None


def _error(listings: Any, *names: str | None) -> str | None:
    errors = [f"{name}: {listings.failures[name]}" for name in names if name in listings.failures]
    return "; ".join(errors) or None


# -- platform_smartspim ----------------------------------------------------------------------------------


def smartspim_listing(row: dict[str, Any]) -> tuple[str, ...] | None:
    """Folders to list for ``platform_smartspim``: a raw SmartSPIM asset's ``SPIM/derivatives`` (its
    neuroglancer_config.json), a stitched asset's ``image_cell_segmentation`` (one folder per channel)."""
    if _location(row) is None:
        return None
    if _raw_on(row, "smartspim"):
        return (SPIM_DERIVATIVES,)
    if row.get("data_level") == "derived" and "stitched" in (row.get("name") or "").lower():
        return (SEGMENTATION,)
    return None


def smartspim_rows(
    assets: list[dict[str, Any]], sources: list[dict[str, Any]], listings: Any
) -> list[dict[str, Any]]:
    """One row per (raw SmartSPIM asset, channel of its newest stitched asset); a raw asset without a
    stitched one, or a stitched one without segmented channels, is one row with a null channel."""
    by_name = {row["name"]: row for row in assets if row.get("name")}
    raws = sorted(name for name, row in by_name.items() if _raw_on(row, "smartspim"))
    stitched_of = _newest_derived(set(raws), sources, "stitched")
    rows = []
    for raw_name in raws:
        raw_location = _location(by_name[raw_name])
        raw_listing = listings.by_name.get(raw_name)
        raw_link = None
        if raw_listing is not None and "neuroglancer_config.json" in raw_listing.names(SPIM_DERIVATIVES):
            raw_link = f"{NEUROGLANCER_BASE}{raw_location}/{SPIM_DERIVATIVES}/neuroglancer_config.json"
        name = stitched_of.get(raw_name)
        base = {"raw_name": raw_name, "raw_link": raw_link, "processed": name is not None}
        if name is None:
            rows.append({**base, "name": raw_name, "listing_error": _error(listings, raw_name)})
            continue
        stitched = by_name.get(name)
        location = _location(stitched)
        listing = listings.by_name.get(name)
        channels = listing.names(SEGMENTATION) if listing is not None else []
        base.update(
            name=name,
            processing_end_time=(stitched or {}).get("process_date"),
            listing_error=_error(listings, raw_name, name),
        )
        if location is not None:
            base.update(
                stitched_link=f"{NEUROGLANCER_BASE}{location}/neuroglancer_config.json",
                alignment_link=f"{NEUROGLANCER_BASE}{location}/image_atlas_alignment/neuroglancer_config.json",
                alignment_ccf_link=f"{NEUROGLANCER_BASE}{location}/image_atlas_alignment/ccf_visualization/"
                "neuroglancer_config.json",
            )
        if not channels:
            rows.append(base)
        for channel in channels:
            rows.append(
                {
                    **base,
                    "channel": channel,
                    "segmentation_link": f"{NEUROGLANCER_BASE}{location}/{SEGMENTATION}/{channel}/"
                    "visualization/neuroglancer_config.json",
                    "quantification_link": f"{NEUROGLANCER_BASE}{location}/image_cell_quantification/"
                    f"{channel}/visualization/neuroglancer_config.json",
                }
            )
    return rows


# -- platform_exaspim ------------------------------------------------------------------------------------


def exaspim_listing(row: dict[str, Any]) -> tuple[str, ...] | None:
    """Folders to list for ``platform_exaspim``: a raw exaSPIM asset's root (its neuroglancer.json or
    process_output.json)."""
    return ("",) if _location(row) is not None and _raw_on(row, "exa") else None


def exaspim_rows(
    assets: list[dict[str, Any]], sources: list[dict[str, Any]], listings: Any
) -> list[dict[str, Any]]:
    """One row per raw exaSPIM asset, with its newest fused derived asset if there is one."""
    by_name = {row["name"]: row for row in assets if row.get("name")}
    raws = sorted(name for name, row in by_name.items() if _raw_on(row, "exa"))
    fused_of = _newest_derived(set(raws), sources, "fused")
    rows = []
    for raw_name in raws:
        raw_location = _location(by_name[raw_name])
        listing = listings.by_name.get(raw_name)
        found = [f for f in EXASPIM_RAW_CONFIGS if listing is not None and f in listing.names("")]
        name = fused_of.get(raw_name)
        location = _location(by_name.get(name)) if name else None
        rows.append(
            {
                "name": name or raw_name,
                "raw_name": raw_name,
                "processed": name is not None,
                "raw_link": f"{NEUROGLANCER_DEMO_BASE}{raw_location}/{found[0]}" if found else None,
                "fused_link": f"{NEUROGLANCER_DEMO_BASE}{location}" if location else None,
                "listing_error": _error(listings, raw_name),
            }
        )
    return rows


# -- platform_exaspim_intermediates ----------------------------------------------------------------------

#: Output folders 0.42 checks under each derived exaSPIM asset: column -> (folder listed, name in it).
EXASPIM_FOLDERS = {
    "fused_present": ("fusion", "fused.zarr"),
    "fused_ccf_present": ("fusion", "fused_ccf_ch.zarr"),
    "flatfield_present": ("flatfield_correction", "SPIM.ome.zarr"),
    "denoised_present": ("denoised", "SPIM.ome.zarr"),
}
REQUIRED_FOLDERS = ("fused_present", "fused_ccf_present")
INTERMEDIATE_FOLDERS = ("flatfield_present", "denoised_present")


def _s3_root(location: Any) -> tuple[str, str] | None:
    """``(bucket, prefix/)`` of an ``s3://bucket/prefix`` location, else None (0.42's ``_s3_root``)."""
    if not isinstance(location, str):
        return None
    parts = urlsplit(location)
    prefix = parts.path.strip("/")
    if parts.scheme != "s3" or not parts.netloc or not prefix or parts.query or parts.fragment:
        return None
    return parts.netloc, prefix + "/"


def _exaspim_derived(row: dict[str, Any]) -> bool:
    return row.get("data_level") == "derived" and (row.get("name") or "").startswith("exaSPIM_")


def exaspim_intermediates_listing(row: dict[str, Any]) -> tuple[str, ...] | None:
    """Folders to list for ``platform_exaspim_intermediates``: ``fusion``, ``flatfield_correction`` and
    ``denoised`` of each derived exaSPIM asset (0.42 inspects derived assets named ``exaSPIM_*``)."""
    if not _exaspim_derived(row) or _s3_root(row.get("location")) is None:
        return None
    return tuple(dict.fromkeys(folder for folder, _ in EXASPIM_FOLDERS.values()))


def _descendants(raw_name: str, children: dict[str, set[str]]) -> set[str]:
    seen, frontier = {raw_name}, [raw_name]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    return seen - {raw_name}


def _inspect(raw: dict[str, Any], candidate: dict[str, Any], listings: Any) -> dict[str, Any]:
    """One row: which of the four output folders exist under ``candidate`` (0.42's ``_inspect``)."""
    row: dict[str, Any] = {
        "raw_name": raw["name"],
        "subject_id": raw.get("subject_id"),
        "project_name": raw.get("project_name"),
        "name": candidate["name"],
        "location": candidate.get("location"),
        "discovery_source": "docdb",
        "docdb_id": candidate.get("_id"),
        "missing_required_folders": [],
        "intermediate_uris": [],
        "output_uris": [],
    }
    root = _s3_root(candidate.get("location"))
    if root is None:
        return {**row, "status": "invalid_location"}
    if candidate["name"] in listings.failures:
        code = listings.failures[candidate["name"]].split(":", 1)[0]
        return {**row, "status": "not_listed" if code == NOT_LISTED else "s3_error", "error_code": code}
    listing = listings.by_name.get(candidate["name"])
    if listing is None:  # a renamed descendant the listing declaration did not select
        return {**row, "status": "not_listed"}
    bucket, prefix = root
    row["checked_at"] = datetime.fromisoformat(listing.listed_at)
    for column, (folder, name) in EXASPIM_FOLDERS.items():
        row[column] = name in listing.names(folder)
    row["missing_required_folders"] = [
        "/".join(EXASPIM_FOLDERS[c]) + "/" for c in REQUIRED_FOLDERS if not row[c]
    ]
    row["intermediate_uris"] = [
        f"s3://{bucket}/{prefix}{'/'.join(EXASPIM_FOLDERS[c])}/" for c in INTERMEDIATE_FOLDERS if row[c]
    ]
    row["has_intermediates"] = bool(row["intermediate_uris"])
    required = all(row[c] for c in REQUIRED_FOLDERS)
    row["eligible_for_cleanup"] = required and row["has_intermediates"]
    row["output_uris"] = row["intermediate_uris"] if row["eligible_for_cleanup"] else []
    row["status"] = (
        "missing_required" if not required else "ok" if row["has_intermediates"] else "no_intermediates"
    )
    return row


def exaspim_intermediates_rows(
    assets: list[dict[str, Any]], sources: list[dict[str, Any]], listings: Any
) -> list[dict[str, Any]]:
    """For each raw exaSPIM acquisition, one row per derived asset of its chain (descendants through
    source_data, and derived ``exaSPIM_*`` assets named ``<raw>_...`` with their descendants); one row
    with status ``no_processed`` when it has none."""
    by_name = {row["name"]: row for row in assets if row.get("name")}
    children: dict[str, set[str]] = {}
    for row in sources:
        if row.get("source_data") and row.get("name"):
            children.setdefault(row["source_data"], set()).add(row["name"])
    derived = sorted(name for name, row in by_name.items() if _exaspim_derived(row))
    rows = []
    for raw_name in sorted(name for name, row in by_name.items() if _raw_on(row, "exa")):
        raw = by_name[raw_name]
        names = _descendants(raw_name, children)
        for name in derived:
            if name.startswith(raw_name + "_"):
                names |= {name} | _descendants(name, children)
        candidates = [
            by_name[n] for n in sorted(names) if n in by_name and by_name[n].get("data_level") == "derived"
        ]
        if not candidates:
            rows.append(
                {
                    "raw_name": raw_name,
                    "subject_id": raw.get("subject_id"),
                    "project_name": raw.get("project_name"),
                    "status": "no_processed",
                    "missing_required_folders": [],
                    "intermediate_uris": [],
                    "output_uris": [],
                }
            )
        rows += [_inspect(raw, candidate, listings) for candidate in candidates]
    return rows


_LISTING_ERROR = Column(
    "listing_error",
    "string",
    "Why the asset's storage could not be listed (the link columns that depend on the listing are then "
    "unknown, not absent); null when the listing succeeded.",
)

TABLES: tuple[Table, ...] = (
    Table(
        name="platform_smartspim",
        description="SmartSPIM assets including processing status and neuroglancer links: one row per "
        "(raw SmartSPIM asset, segmented channel of its newest stitched asset).",
        kind="frame",
        columns=(
            Column("name", "string", "Asset name (the newest stitched derived asset if any, else the raw)."),
            Column("raw_name", "string", "Raw asset name."),
            Column(
                "processed", "bool", "Whether a stitched derived asset exists (name contains 'stitched')."
            ),
            Column(
                "processing_end_time",
                "timestamp",
                "Processing end time of the stitched asset (asset_basics.process_date; UTC).",
            ),
            Column("stitched_link", "string", "Neuroglancer link to the stitched asset."),
            Column(
                "raw_link",
                "string",
                "Neuroglancer link to the raw asset's SPIM/derivatives/neuroglancer_config.json, when it "
                "exists.",
            ),
            Column(
                "channel",
                "string",
                "Channel folder under image_cell_segmentation/ (e.g. Ex_561_Em_593); null if none.",
            ),
            Column("segmentation_link", "string", "Neuroglancer cell segmentation link for this channel."),
            Column(
                "quantification_link", "string", "Neuroglancer cell quantification link for this channel."
            ),
            Column(
                "alignment_link",
                "string",
                "Neuroglancer link to image_atlas_alignment/neuroglancer_config.json.",
            ),
            Column(
                "alignment_ccf_link",
                "string",
                "Neuroglancer link to image_atlas_alignment/ccf_visualization/neuroglancer_config.json.",
            ),
            _LISTING_ERROR,
        ),
        asset_listing=smartspim_listing,
        listed_rows=smartspim_rows,
    ),
    Table(
        name="platform_exaspim",
        description="ExaSPIM assets including processing status and neuroglancer links: one row per raw "
        "exaSPIM asset, with its newest fused derived asset.",
        kind="frame",
        columns=(
            Column("name", "string", "Asset name (the newest fused derived asset if any, else the raw)."),
            Column("raw_name", "string", "Raw asset name."),
            Column("processed", "bool", "Whether a fused derived asset exists (name contains 'fused')."),
            Column(
                "raw_link",
                "string",
                "Neuroglancer link to the raw asset's neuroglancer.json, else its process_output.json, when "
                "one exists.",
            ),
            Column("fused_link", "string", "Neuroglancer link to the fused asset's location."),
            _LISTING_ERROR,
        ),
        asset_listing=exaspim_listing,
        listed_rows=exaspim_rows,
    ),
    Table(
        name="platform_exaspim_intermediates",
        description="ExaSPIM intermediate-folder presence and fusion prerequisites, seeded by raw "
        "acquisition metadata: one row per (raw exaSPIM acquisition, derived asset of its chain).",
        kind="frame",
        columns=(
            Column("raw_name", "string", "Raw acquisition seeding this asset chain."),
            Column("subject_id", "string", "Subject ID from the raw acquisition."),
            Column("project_name", "string", "Project from the raw acquisition."),
            Column("name", "string", "Inspected derived asset name, null when no candidate was found."),
            Column("location", "string", "Inspected asset's S3 root."),
            Column(
                "discovery_source",
                "string",
                "docdb (found through the records), null when no candidate was found. 0.42 also looked "
                "for unregistered '<raw>_processed_*' folders beside the raw asset ('s3'); this build "
                "does not.",
            ),
            Column("docdb_id", "string", "Derived asset's DocDB ID."),
            Column("checked_at", "timestamp", "UTC time of the listing the row was computed from."),
            Column("fused_present", "bool", "Whether fusion/fused.zarr/ exists."),
            Column("fused_ccf_present", "bool", "Whether fusion/fused_ccf_ch.zarr/ exists."),
            Column("flatfield_present", "bool", "Whether flatfield_correction/SPIM.ome.zarr/ exists."),
            Column("denoised_present", "bool", "Whether denoised/SPIM.ome.zarr/ exists."),
            Column(
                "has_intermediates", "bool", "Whether either intermediate folder exists; null when unknown."
            ),
            Column(
                "eligible_for_cleanup",
                "bool",
                "Both fusion folders and at least one intermediate exist; not a completeness check.",
            ),
            Column(
                "status",
                "string",
                "ok, missing_required, no_intermediates, no_processed (no derived asset in the records), "
                "invalid_location, s3_error (the listing failed: see error_code) or not_listed (the build "
                "did not list storage, or a descendant not named exaSPIM_*, which is not listed).",
            ),
            Column("error_code", "string", "Type of the error that stopped the listing (s3_error)."),
            Column("missing_required_folders", "list<string>", "Required fusion paths confirmed absent."),
            Column(
                "intermediate_uris",
                "list<string>",
                "S3 URIs of intermediate folders confirmed present, regardless of fusion prerequisites.",
            ),
            Column(
                "output_uris",
                "list<string>",
                "Intermediate S3 URIs meeting the original script's fusion prerequisites.",
            ),
        ),
        record_key="name",
        asset_listing=exaspim_intermediates_listing,
        listed_rows=exaspim_intermediates_rows,
    ),
)
