"""Table declarations: the one place a table is described.

Each :class:`Table` names a table, describes it and its columns (with arrow dtypes), says how it is
partitioned and which record fields it needs. The builder, the registry, the Intake catalog, the readers
and the reference docs are all generated from these declarations. Tables come in families, one module
each, holding the family's declarations (and, for new families, their row functions side by side):

- :mod:`biodata_cache.tables.core`: ``asset_basics``, ``source_data``, ``metadata_core``, ``unique_*``;
- :mod:`biodata_cache.tables.qc`: ``qc``, ``qc_raw_assets``, ``qc_status_long``, ``qc_status``,
  ``time_to_qc``, ``qc_tag_status``;
- :mod:`biodata_cache.tables.platform`: ``platform_qc``, ``platform_fib``, ``platform_smartspim_fiber_ccf``,
  ``platform_smartspim_qc_metrics``;
- :mod:`biodata_cache.tables.imaging`: ``platform_smartspim``, ``platform_exaspim``,
  ``platform_exaspim_intermediates`` (built from records plus a listing of each asset's storage);
- :mod:`biodata_cache.tables.course`: ``swdb_2025_*`` (sessions selected from records) and ``swdb_2026_*``
  (course collection membership, from package data files);
- :mod:`biodata_cache.tables.upgrade`: ``metadata_upgrade`` (from a custom table and ``asset_basics``);
- :mod:`biodata_cache.tables.consistency`: ``record_consistency_results``, ``record_consistency_checks``.

Adding a table is adding one declaration to its family (and a family module to :data:`TABLES`).

This package imports no third-party package: arrow types are built on demand by :meth:`Table.arrow_schema`.
"""

from __future__ import annotations

from typing import Any

from biodata_cache.errors import InvalidInputError
from biodata_cache.tables import consistency, core, course, imaging, platform, qc, upgrade
from biodata_cache.tables.declaration import DTYPES, Column, Listed, Listing, Table, arrow_type, record_paths

__all__ = [
    "DTYPES",
    "TABLES",
    "TABLES_BY_NAME",
    "Column",
    "Listed",
    "Listing",
    "Table",
    "arrow_type",
    "derivation_order",
    "get_table",
    "project",
    "projection",
    "record_paths",
]

#: Every published table, in the order of the registry, the catalog and the docs.
TABLES: tuple[Table, ...] = (
    *core.TABLES,
    *qc.TABLES,
    *platform.TABLES,
    *imaging.TABLES,
    *upgrade.TABLES,
    *course.TABLES,
    *consistency.TABLES,
)

TABLES_BY_NAME: dict[str, Table] = {table.name: table for table in TABLES}


def derivation_order(tables: tuple[Table, ...] = TABLES) -> list[Table]:
    """The ``derived_from`` tables, each after the table it is derived from (declared order otherwise).

    Raises
    ------
    ValueError
        If a table is derived from a table that is not declared, or derivations form a cycle.
    """
    names = {table.name for table in tables}
    pending = [table for table in tables if table.derived_from]
    ready = {table.name for table in tables if not table.derived_from}
    order: list[Table] = []
    while pending:
        step = [table for table in pending if table.derived_from and table.derived_from[0] in ready]
        if not step:
            unknown = sorted({t.derived_from[0] for t in pending if t.derived_from} - names)
            raise ValueError(
                f"tables {[t.name for t in pending]} cannot be derived: "
                + (f"{unknown} are not declared" if unknown else "their derived_from form a cycle")
                + "; fix their derived_from declarations."
            )
        order.extend(step)
        ready.update(table.name for table in step)
        pending = [table for table in pending if table not in step]
    return order


def projection() -> list[str]:
    """Record fields every table needs together (dotted paths, no path inside another one)."""
    paths = sorted({f for table in TABLES for f in table.fields})
    return [p for p in paths if not any(p.startswith(other + ".") for other in paths if other != p)]


def get_table(name: str) -> Table:
    """Return the declaration of a published table.

    Raises
    ------
    InvalidInputError
        If no table has that name; the message lists the valid names.

    Notes
    -----
    ``"quality_control"`` (biodata-cache 0.42's name of ``qc``) is ``qc``.
    """
    if name == "quality_control":
        name = "qc"
    if not isinstance(name, str) or name not in TABLES_BY_NAME:
        raise InvalidInputError(
            f"{name!r} is not a biodata-cache table; valid tables: {', '.join(TABLES_BY_NAME)}."
        )
    return TABLES_BY_NAME[name]


def project(record: dict[str, Any], paths: list[list[str]]) -> dict[str, Any]:
    """The parts of a record at the given paths (split dotted paths), descending into lists.

    Like a MongoDB inclusion projection: what the tables need, without the bulky rest, so a record is
    cheap to send to a worker process.
    """
    result: dict[str, Any] = {}
    for key in dict.fromkeys(path[0] for path in paths):
        if key not in record:
            continue
        rest = [path[1:] for path in paths if path[0] == key]
        value = record[key]
        if any(not r for r in rest):
            result[key] = value
        elif isinstance(value, dict):
            result[key] = project(value, rest)
        elif isinstance(value, list):
            result[key] = [project(item, rest) if isinstance(item, dict) else item for item in value]
        else:
            result[key] = value
    return result
