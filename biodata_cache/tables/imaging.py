"""Light-sheet imaging platform tables built from records plus a listing of each asset's storage:
``platform_smartspim`` and ``platform_exaspim`` (biodata-cache 0.42's ``cache_table_helpers/
platform_smartspim.py`` and ``platform_exaspim.py``).

One row per raw SmartSPIM (exaSPIM) acquisition, joined to its newest stitched (fused) derived asset
through ``source_data``, with neuroglancer links to the outputs that exist under the assets' locations.
Which outputs exist is read from listings (:mod:`biodata_cache.listing`): each declaration's ``listing``
names the folders to list for an asset, and its ``listed_rows`` builds the rows from the ``asset_basics``
and ``source_data`` rows and the listings. An asset whose listing failed is never published as having no
outputs: its rows say so in ``listing_error``.

The declarations and their row functions live side by side in this module.
"""

from __future__ import annotations

from typing import Any

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
        listing=smartspim_listing,
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
        listing=exaspim_listing,
        listed_rows=exaspim_rows,
    ),
)
