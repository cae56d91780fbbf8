"""Publishing: write table data, then the registry, then the catalogs, in the order of DESIGN §2.

1. data files under names of this build (``<table>-<build>.pqt`` or
   ``<table>/<key>=<value>/data-<build>.pqt``, then the table's manifest), each one atomic PUT, next to
   the files of the release readers use (:mod:`biodata_cache.release`);
2. ``bdc-v{X}/cache_registry.json``: the commit point;
3. ``bdc-v{X}/catalog.yaml``, generated from the registry;
4. ``cache_versions.json`` and the top-level ``catalog.yaml``, last, with conditional writes;
5. files no committed entry names any more are removed.

A catalog therefore never points at a file that has not been written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from biodata_cache import clustered
from biodata_cache._version import __version__
from biodata_cache.catalog import CATALOG_FILE, render_registry_catalog, render_top_catalog, table_path
from biodata_cache.errors import InvalidInputError
from biodata_cache.partitions import PARTITION_FILE, PARTITION_WRITE_OPTIONS, file_metadata, folder_name
from biodata_cache.registry import (
    VERSIONS_FILE,
    CacheTable,
    Registry,
    add_version,
    lists_version,
    read_registry,
    registry_bytes,
    registry_from_bytes,
    registry_path,
)
from biodata_cache.release import (
    manifest_document,
    manifest_file,
    new_build_id,
    partition_file,
    projection_file,
    remove_unreferenced,
    table_file,
    with_build,
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


def columns_to_arrow(table: Table, columns: dict[str, list[Any]]) -> pa.Table:
    """An arrow table of rows given as one list per column, with the table's declared schema (the same
    table as :func:`rows_to_arrow` of those rows); a missing column is null."""
    import pyarrow as pa

    schema = table.arrow_schema()
    count = len(next(iter(columns.values()))) if columns else 0
    try:
        arrays = [
            pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(count, f.type)
            for f in schema
        ]
        return pa.Table.from_arrays(arrays, schema=schema)
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
    build: str | None = None,
) -> CacheTable:
    """Write one declared table's data (conformed to its schema) under names of ``build`` (a new build
    id by default) and return its registry entry.

    A partitioned table is written one file per partition, then its manifest. Nothing is published and
    nothing is deleted: call :func:`publish_registry` once every table is written (it then removes the
    files of the previous release).
    """
    build = build or new_build_id()
    data = conform(table, data)
    if table.partitioned:
        files = {}
        for value, rows in split_partitions(table, data):
            relpath = partition_file(table, value, build)
            size = store.write_parquet(
                f"{version}/{relpath}", with_build(rows, build), **PARTITION_WRITE_OPTIONS
            )
            files[relpath.split("/")[1]] = {
                "path": relpath,
                "size": size,
                "rows": rows.num_rows,
                "build": build,
            }
        manifest = write_manifest(store, version, table, build, files)
        return table_entry(
            store,
            version,
            table,
            rows=data.num_rows,
            partitions=len(files),
            source=source,
            built_at=built_at,
            build=build,
            manifest=manifest,
        )
    relpath, size, projections = write_table_files(store, version, table, with_build(data, build), build)
    return table_entry(
        store,
        version,
        table,
        rows=data.num_rows,
        partitions=1,
        source=source,
        built_at=built_at,
        build=build,
        path=relpath,
        size=size,
        projections=projections,
    )


def write_table_files(
    store: Store, version: str, table: Table, data: pa.Table, build: str
) -> tuple[str, int, dict[str, str]]:
    """Write an unpartitioned table's file of ``build`` (``data`` conformed, recording the build) in its
    declared layout, then its projections; return the file's path relative to the version folder, its
    size, and the projections (first column -> path) for the registry entry."""
    relpath = table_file(table.name, build)
    if not table.clustered_by:
        return relpath, store.write_parquet(f"{version}/{relpath}", data), {}
    # Sorted, small row groups and a lookup index in the footer (biodata_cache.clustered).
    payload = clustered.parquet_bytes(table, data)
    store.write_bytes(f"{version}/{relpath}", payload)
    projections = {}
    for columns in table.projections:
        projection = projection_file(table.name, columns[0], build)
        store.write_bytes(f"{version}/{projection}", clustered.projection_bytes(table, data, columns))
        projections[columns[0]] = projection
    return relpath, len(payload), projections


def write_manifest(store: Store, version: str, table: Table, build: str, files: dict[str, dict]) -> str:
    """Write a partitioned table's manifest of ``build`` (see :mod:`biodata_cache.release`); return its
    path relative to the version folder."""
    assert table.partition_key is not None
    relpath = manifest_file(table.name, build)
    store.write_json(f"{version}/{relpath}", manifest_document(table.name, build, table.partition_key, files))
    return relpath


def table_entry(
    store: Store,
    version: str,
    table: Table,
    *,
    rows: int,
    partitions: int,
    source: str,
    built_at: str | None = None,
    build: str = "",
    path: str | None = None,
    size: int = 0,
    manifest: str = "",
    projections: dict[str, str] | None = None,
) -> CacheTable:
    """The registry entry of a declared table that has been written (``path``: its file, relative to
    the version folder, for an unpartitioned table of a build; ``projections``: its projections)."""
    path = path or table_path(table)
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
        build=build,
        size=size,
        manifest=manifest,
        projections=dict(projections or {}),
    )


def publish_registry(
    store: Store,
    version: str,
    tables: Iterable[CacheTable],
    *,
    source: str,
    built_at: str | None = None,
    removed: Iterable[str] = (),
) -> Registry:
    """Publish a version: its registry, its catalog, then the version list and top-level catalog.

    Tables of the previous registry that are not in ``tables`` (custom tables, tables not rebuilt) are
    kept, except those named in ``removed`` (tables this build no longer publishes: their files are
    then removed with the superseded ones). This registry write is the release's commit point; once the
    catalogs follow, the files of the previous release that the new one no longer names are removed.
    Returns the published registry.
    """
    from biodata_cache.store import StoreError

    built_at = built_at or utc_now()
    new = {t.name: t for t in tables}

    parsed: dict[str, Registry | None] = {}

    def change(current: bytes | None) -> bytes:
        before = registry_from_bytes(store, version, current) if current else None
        gone = set(removed)
        kept = [t for t in (before.tables if before else []) if t.name not in new and t.name not in gone]
        after = Registry(version, [*new.values(), *kept], built_at, source, __version__)
        parsed.update(before=before, after=after)  # the last call's are the committed ones
        return registry_bytes(after)

    store.make_durable()  # the data files reach the disk before the registry that names them
    store.update_bytes(registry_path(version), change)
    registry = parsed["after"]
    assert registry is not None
    write_version_catalog(store, version, registry, parsed["before"])
    add_version(store, version)
    publish_top_catalog(store)
    try:
        remove_unreferenced(store, version, registry)
    except StoreError as error:  # the release is committed: the next build removes them
        logger.warning(
            "%s is published, but the files it superseded could not be removed (%s): the next build "
            "removes them; until then the DuckDB globs of the how-to also count them.",
            store.url(version),
            error,
        )
    logger.info("published %s with %d tables at %s", version, len(registry), store.url(version))
    return registry


def publish_catalogs(store: Store, version: str) -> None:
    """Regenerate a version's catalog from its registry, then the version list and top catalog."""
    _update_version_catalog(store, version)
    add_version(store, version)
    publish_top_catalog(store)


def _update_version_catalog(store: Store, version: str) -> None:
    """Regenerate a version's catalog from its registry as it is now (read inside the conditional
    update, so a concurrent publisher's newer registry is never overwritten by an older catalog)."""
    store.update_bytes(
        f"{version}/{CATALOG_FILE}",
        lambda _current: render_registry_catalog(read_registry(store, version)).encode(),
    )


def write_version_catalog(store: Store, version: str, registry: Registry, previous: Registry | None) -> None:
    """Write the catalog of ``registry``, which this process just committed in place of ``previous``
    (``None``: the version had no registry).

    If the catalog is still the one generated from ``previous`` (no other publisher wrote one since),
    the new one replaces it in one conditional PUT (:meth:`Store.replace_if_current`). Otherwise (another
    publisher got there first, a catalog written by another release of biodata-cache, a store without
    that check) it is regenerated from the registry as it is then, with a conditional update: a newer
    registry's catalog is never replaced by an older one.
    """
    relpath = f"{version}/{CATALOG_FILE}"
    expected = render_registry_catalog(previous).encode() if previous is not None else None
    if store.replace_if_current(relpath, render_registry_catalog(registry).encode(), expected):
        return
    _update_version_catalog(store, version)


def publish_top_catalog(store: Store) -> None:
    """Regenerate the top-level catalog from ``cache_versions.json`` (not rewritten when unchanged)."""

    def top(_current: bytes | None) -> bytes:
        # Re-read the version list inside the conditional update so a concurrent publisher's
        # version is never dropped from the top-level catalog.
        versions = json.loads(store.read_bytes(VERSIONS_FILE))
        return render_top_catalog(versions).encode()

    store.update_bytes(CATALOG_FILE, top)


@dataclass(frozen=True)
class _Committed:
    """A version's registry and catalog as this process's last :func:`publish_custom_table` committed
    them, with the ETags S3 gave them."""

    registry: Registry
    registry_etag: str
    catalog_etag: str


#: Per registry URL, what this process's last custom() committed there (S3 only). The next custom() of the
#: process sends its conditional PUTs against these ETags without reading first; if another publisher wrote
#: since, a condition fails and it reads. Only :func:`publish_custom_table` uses it.
_COMMITTED: dict[str, _Committed] = {}


def forget_committed() -> None:
    """Forget what this process's custom() calls committed: the next one reads the registry first."""
    _COMMITTED.clear()


def publish_custom_table(store: Store, version: str, entry: CacheTable, data: bytes) -> Registry:
    """Publish one custom table's file (``data``, at ``entry.path``) in as few round trips as the store
    allows; return the committed registry.

    1. the file is written while the registry and ``cache_versions.json`` are read (on S3, one round
       trip of three requests);
    2. the registry with the entry added or replaced (the commit) and the version's catalog generated
       from it, in one round trip of two conditional PUTs: the registry on the ETag read in step 1, the
       catalog on being the one generated from the registry read (:meth:`Store.write_if_unchanged`);
    3. only when a condition failed (another publisher wrote since): the registry is read and applied
       again, and the catalog regenerated from the registry as it is then (:func:`write_version_catalog`);
    4. only when ``cache_versions.json`` does not list the version yet: the version list and the
       top-level catalog (a build also repairs them).

    Five requests in two round trips on S3 for a version that is listed, whatever the size of the
    registry. When this process's last custom() on the version committed both objects, nothing is read:
    the file PUT alone (the new registry and catalog are generated while it is in flight), then the two
    PUTs on the ETags of that commit (three requests in two round trips); a failed condition there goes on
    at step 1 without writing the file again.

    Sending the catalog with the registry never lets a reader see a table whose file is not there (the
    file is written first); a process stopped between the two leaves a catalog that the next publish
    regenerates from the registry, as one stopped between two sequential PUTs would. Other stores take
    the steps one after the other, under their lock.
    """
    from biodata_cache.store import s3_etag

    registry_file = registry_path(version)
    writes = {f"{version}/{entry.path}": data}
    remembered = _COMMITTED.pop(store.url(registry_file), None)
    if remembered is not None:
        registry = remembered.registry.with_table(entry)
        documents = store.write_during(writes, lambda: _documents(registry))
        written = _commit(
            store, version, registry, documents, remembered.registry_etag, remembered.catalog_etag
        )
        if written is not None and written[registry_file]:
            return registry
        writes = {}  # the file is written; a catalog PUT that landed is replaced by the commit below
    known = store.write_while_reading(writes, [registry_file, VERSIONS_FILE])
    parsed: dict[str, Registry | None] = {}

    def change(current: bytes | None) -> bytes:
        before = registry_from_bytes(store, version, current) if current else None
        after = (before or Registry(version, [], None, None, __version__)).with_table(entry)
        parsed.update(before=before, after=after)  # the last call's are the committed ones
        return registry_bytes(after)

    current, etag = known[registry_file]
    new = change(current)
    written = None
    if new != current and (etag or current is None):
        before, after = parsed["before"], parsed["after"]
        assert after is not None
        catalog_etag = s3_etag(render_registry_catalog(before).encode()) if before is not None else None
        written = _commit(store, version, after, _documents(after), etag, catalog_etag)
    if written is None or not written[registry_file]:
        store.update_bytes(registry_file, change, known=None if written is not None else known[registry_file])
        registry = parsed["after"]
        assert registry is not None
        if written is not None:  # the catalog PUT may have landed with a registry that was not committed
            _update_version_catalog(store, version)
        else:
            write_version_catalog(store, version, registry, parsed["before"])
    if not lists_version(known[VERSIONS_FILE][0], version):
        _COMMITTED.pop(store.url(registry_file), None)  # the next custom() checks the listing again
        add_version(store, version, known=known[VERSIONS_FILE])
        publish_top_catalog(store)
    registry = parsed["after"]
    assert registry is not None
    return registry


def _documents(registry: Registry) -> tuple[bytes, bytes]:
    """The bytes of a registry and of the version catalog generated from it."""
    return registry_bytes(registry), render_registry_catalog(registry).encode()


def _commit(
    store: Store,
    version: str,
    registry: Registry,
    documents: tuple[bytes, bytes],
    registry_etag: str | None,
    catalog_etag: str | None,
) -> dict[str, str | None] | None:
    """Send a version's registry and the catalog generated from it (``documents``: their bytes) together,
    each on its condition (:meth:`Store.write_if_unchanged`): what was written, ``None`` on a store
    without conditional writes.

    When the registry was written and the catalog was not (another publisher's catalog, or none), the
    catalog is regenerated from the registry as it is now. When both were, the next custom() of this
    process starts from them (:data:`_COMMITTED`).
    """
    registry_file = registry_path(version)
    catalog_file = f"{version}/{CATALOG_FILE}"
    registry_document, catalog = documents
    written = store.write_if_unchanged(
        {registry_file: (registry_document, registry_etag), catalog_file: (catalog, catalog_etag)}
    )
    if written is None or not written[registry_file]:
        return written
    new_registry_etag, new_catalog_etag = written[registry_file], written[catalog_file]
    if new_registry_etag and new_catalog_etag:
        _COMMITTED[store.url(registry_file)] = _Committed(registry, new_registry_etag, new_catalog_etag)
    else:
        _update_version_catalog(store, version)
    return written
