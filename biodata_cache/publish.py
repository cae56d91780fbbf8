"""Publishing: write table data, then the registry, then the catalogs, in the order of DESIGN §2.

1. data files (``<table>.pqt`` or ``<table>/<key>=<value>/data.pqt``), each one atomic PUT;
2. ``bdc-v{X}/cache_registry.json``;
3. ``bdc-v{X}/catalog.yaml``, generated from the registry;
4. ``cache_versions.json`` and the top-level ``catalog.yaml``, last, with conditional writes.

A catalog therefore never points at a file that has not been written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from biodata_cache._version import __version__
from biodata_cache.catalog import CATALOG_FILE, render_registry_catalog, render_top_catalog, table_path
from biodata_cache.errors import InvalidInputError
from biodata_cache.partitions import PARTITION_FILE, file_metadata, folder_name
from biodata_cache.registry import (
    VERSIONS_FILE,
    CacheTable,
    Registry,
    add_version,
    read_registry,
    registry_from_bytes,
    registry_path,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from biodata_cache.store import Store
    from biodata_cache.tables import Table

logger = logging.getLogger(__name__)


def utc_now() -> str:
    """The current UTC time as ISO 8601 with a ``Z``, to the second."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def conform(table: Table, data: pa.Table) -> pa.Table:
    """Cast ``data`` to the table's declared schema (column order and types).

    Raises
    ------
    InvalidInputError
        If a declared column is missing or a value cannot be cast to its declared type.
    """
    schema = table.arrow_schema()
    missing = [name for name in schema.names if name not in data.column_names]
    if missing:
        raise InvalidInputError(
            f"data for table {table.name!r} lacks declared column(s) {missing}; it has {data.column_names}."
        )
    try:
        return data.select(schema.names).cast(schema)
    except (ValueError, TypeError, NotImplementedError) as error:
        raise InvalidInputError(f"data for table {table.name!r} does not fit its schema: {error}") from error


def rows_to_arrow(table: Table, rows: Iterable[dict]) -> pa.Table:
    """An arrow table of ``rows`` (dicts) with the table's declared schema; missing keys become null."""
    import pyarrow as pa

    try:
        return pa.Table.from_pylist(list(rows), schema=table.arrow_schema())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise InvalidInputError(f"rows for table {table.name!r} do not fit its schema: {error}") from error


def split_partitions(table: Table, data: pa.Table) -> Iterator[tuple[str | None, pa.Table]]:
    """Yield ``(partition value, rows without the key column)`` for each partition of ``data``.

    The value is ``None`` for rows whose key is null. Each part records its value in its parquet
    metadata (see :mod:`biodata_cache.partitions`).
    """
    import pyarrow.compute as pc

    key = table.partition_key
    assert key is not None
    data = data.sort_by(key)
    keys = data[key]
    if len(keys) == 0:
        return
    runs = pc.run_end_encode(keys.combine_chunks())
    start = 0
    rest = data.drop_columns([key])
    for end, value in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
        part = rest.slice(start, end - start)
        yield value, part.replace_schema_metadata(file_metadata(key, value))
        start = end


def partition_path(table: Table, value: str | None) -> str:
    """Path of one partition file relative to the version folder (``None``: the null partition)."""
    assert table.partition_key is not None
    return f"{table.name}/{folder_name(table.partition_key, value)}/{PARTITION_FILE}"


def write_table(
    store: Store,
    version: str,
    table: Table,
    data: pa.Table,
    *,
    source: str,
    built_at: str | None = None,
) -> CacheTable:
    """Write one declared table's data (conformed to its schema) and return its registry entry.

    A partitioned table is written one file per partition; partitions that no longer have rows are
    deleted. Nothing is published: call :func:`publish_registry` once every table is written.
    """
    data = conform(table, data)
    partitions = 1
    if table.partitioned:
        written = set()
        for value, rows in split_partitions(table, data):
            relpath = partition_path(table, value)
            store.write_parquet(f"{version}/{relpath}", rows)
            written.add(relpath.split("/")[1])
        delete_stale_partitions(store, version, table, written)
        partitions = len(written)
    else:
        store.write_parquet(f"{version}/{table_path(table)}", data)
    return table_entry(
        store, version, table, rows=data.num_rows, partitions=partitions, source=source, built_at=built_at
    )


def delete_stale_partitions(store: Store, version: str, table: Table, written: set[str]) -> int:
    """Delete the partition folders of ``table`` that a full write did not produce; return how many.

    Safe before the registry is published: catalogs never name single partitions.
    """
    stale = [name for name in store.list_names(f"{version}/{table.name}") if name not in written]
    for name in stale:
        store.delete(f"{version}/{table.name}/{name}", recursive=True)
    return len(stale)


def table_entry(
    store: Store,
    version: str,
    table: Table,
    *,
    rows: int,
    partitions: int,
    source: str,
    built_at: str | None = None,
) -> CacheTable:
    """The registry entry of a declared table that has been written."""
    path = table_path(table)
    return CacheTable(
        name=table.name,
        description=table.description,
        location=store.url(version, path),
        path=path,
        partitioned=table.partitioned,
        partition_key=table.partition_key,
        kind=table.kind,
        columns=[{"name": c.name, "dtype": c.dtype, "description": c.description} for c in table.columns],
        rows=rows,
        built_at=built_at or utc_now(),
        source=source,
        partitions=partitions,
    )


def publish_registry(
    store: Store, version: str, tables: Iterable[CacheTable], *, source: str, built_at: str | None = None
) -> Registry:
    """Publish a version: its registry, its catalog, then the version list and top-level catalog.

    Tables of the previous registry that are not in ``tables`` (custom tables, tables not rebuilt) are
    kept. Returns the published registry.
    """
    built_at = built_at or utc_now()
    new = {t.name: t for t in tables}

    def change(current: bytes | None) -> bytes:
        previous = registry_from_bytes(store, version, current).tables if current else []
        kept = [t for t in previous if t.name not in new]
        registry = Registry(version, [*new.values(), *kept], built_at, source, __version__)
        return json.dumps(registry.to_json(), indent=2).encode()

    registry = registry_from_bytes(store, version, store.update_bytes(registry_path(version), change))
    publish_catalogs(store, version)
    logger.info("published %s with %d tables at %s", version, len(registry), store.url(version))
    return registry


def publish_catalogs(store: Store, version: str) -> None:
    """Regenerate a version's catalog from its registry, then the version list and top catalog."""
    store.update_bytes(
        f"{version}/{CATALOG_FILE}",
        lambda _current: render_registry_catalog(read_registry(store, version)).encode(),
    )
    add_version(store, version)

    def top(_current: bytes | None) -> bytes:
        # Re-read the version list inside the conditional update so a concurrent publisher's
        # version is never dropped from the top-level catalog.
        versions = json.loads(store.read_bytes(VERSIONS_FILE))
        return render_top_catalog(versions).encode()

    store.update_bytes(CATALOG_FILE, top)
