"""Metadata upgrade tables: the v1 -> v2 upgrade status of each record (``metadata_upgrade``).

The upgrade runs outside biodata-cache and publishes its results as the custom table
``metadata_upgrade_status_prod`` (``custom("metadata_upgrade_status_prod", df)``) in the version folder;
each build computes ``metadata_upgrade`` from it and ``asset_basics``. The combine function is side by
side with the declaration.
"""

from __future__ import annotations

from typing import Any

from biodata_cache import records
from biodata_cache.tables.declaration import Column, Table

Row = dict[str, Any]

#: The custom table the upgrade publishes its results in.
UPGRADE_STATUS_TABLE = "metadata_upgrade_status_prod"
#: Columns that custom table must have (0.42 read them all; it returned an empty frame without one).
UPGRADE_STATUS_COLUMNS = ("v1_id", "v2_id", "upgrader_version", "status")
#: Columns read when present (null when the custom table has none).
UPGRADE_OPTIONAL_COLUMNS = ("upgrade_datetime", "last_modified")


def upgrade_rows(custom: list[Row], asset_basics: list[Row], previous: list[Row]) -> list[Row]:
    """``metadata_upgrade`` rows: one per v1 record and upgrader version.

    Parameters
    ----------
    custom
        Rows of the custom table ``metadata_upgrade_status_prod`` (the latest upgrade run); of rows with
        the same ``(v1_id, upgrader_version)`` the last one is kept.
    asset_basics
        ``asset_basics`` rows of this build (``_id``, ``name``, ``project_name``, ``data_level``): a
        successful upgrade takes them from its v2 record (``v2_id``), the others from the v1 record
        when the source holds it, else null.
    previous
        The previously published ``metadata_upgrade`` rows: those of a ``(v1 id, upgrader version)`` the
        custom table no longer holds are kept with ``current`` false (0.42 kept earlier versions'
        columns the same way).
    """
    basics = {row["_id"]: row for row in asset_basics if row.get("_id") is not None}
    latest: dict[tuple[str | None, str | None], Row] = {}
    for row in custom:
        v1_id = records.text(row.get("v1_id"))
        version = records.text(row.get("upgrader_version"))
        latest[(v1_id, version)] = {
            "_id": v1_id,
            "v2_id": records.text(row.get("v2_id")),
            "upgrader_version": version,
            "status": records.text(row.get("status")),
            "upgrade_datetime": records.timestamp(row.get("upgrade_datetime")),
            "last_modified": records.timestamp(row.get("last_modified")),
            "current": True,
        }
    kept = [
        {**row, "current": False}
        for row in previous
        if (row.get("_id"), row.get("upgrader_version")) not in latest
    ]
    result = []
    for row in [*latest.values(), *kept]:
        basic = basics.get(row["v2_id"]) or basics.get(row["_id"]) or {}
        result.append(
            {
                **row,
                "name": basic.get("name"),
                "project_name": basic.get("project_name"),
                "data_level": basic.get("data_level"),
            }
        )
    return sorted(result, key=lambda r: (r["_id"] or "", r["upgrader_version"] or ""))


TABLES: tuple[Table, ...] = (
    Table(
        name="metadata_upgrade",
        description="Metadata upgrade status (v1 -> v2): one row per v1 record and upgrader version, from "
        f"the custom table {UPGRADE_STATUS_TABLE!r} that the upgrade publishes "
        f"(custom({UPGRADE_STATUS_TABLE!r}, df), with columns v1_id, v2_id, upgrader_version, status and "
        "optionally upgrade_datetime and "
        "last_modified), joined with asset_basics. Long form, where biodata-cache 0.42 added one column per "
        "upgrader version: the columns stay fixed and declared, so the schema, the catalog and filters do "
        "not change with each upgrader release (pivot on upgrader_version for 0.42's wide form). Rows of "
        "earlier upgrader versions are kept from the previous release (current = false): the history "
        "lives only in published releases, so a build into a new root or version starts it again from the "
        "custom table. Not published while the custom table does not exist.",
        kind="frame",
        columns=(
            Column("_id", "string", "DocDB id of the v1 record (the custom table's v1_id)."),
            Column("name", "string", "Asset name (asset_basics of the v2 record, else of the v1 record)."),
            Column("project_name", "string", "Project name (as name)."),
            Column("data_level", "string", "Data level (as name)."),
            Column("v2_id", "string", "DocDB id of the upgraded v2 record; null when the upgrade failed."),
            Column("upgrader_version", "string", "Version of the upgrader of this run."),
            Column("status", "string", "Status of the upgrade by this upgrader version."),
            Column("upgrade_datetime", "timestamp", "When the upgrade ran (UTC)."),
            Column("last_modified", "timestamp", "DocDB last modified time the custom table gives (UTC)."),
            Column(
                "current",
                "bool",
                f"Whether the row is in {UPGRADE_STATUS_TABLE!r} now (false: kept from an earlier run).",
            ),
        ),
        joins="asset_basics",
        custom_input=UPGRADE_STATUS_TABLE,
        custom_columns=UPGRADE_STATUS_COLUMNS,
        combine=upgrade_rows,
    ),
)
