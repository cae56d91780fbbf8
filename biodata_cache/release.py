"""Atomic releases: build ids, file names of a build, table manifests, and removing unreferenced files.

A build writes every data file under a new name that carries its build id, next to the files of the
release readers use; nothing a committed registry names is ever overwritten::

    <table>-<build>.pqt                                  an unpartitioned table
    <table>/<key>=<escaped value>/data-<build>.pqt       one partition (only changed partitions are new)
    _manifests/<table>-<build>.json                      the files of a partitioned table
    _projections/<table>-by-<column>-<build>.pqt         a second copy of a table's file in another
                                                         order (``Table.projections``)

``cache_registry.json`` is the one commit point (one PUT): each entry names its file (unpartitioned) or
its manifest (partitioned), with the build id, and its projections (``projections``: column -> file);
a manifest lists every partition file with its size, row count and build id. Every data file also
records its build id in its parquet key-value metadata (:data:`BUILD_METADATA`), so a reader can tell
a file of another build from the one it was told to read. Readers list nothing: they open exactly the
files the committed release names.

After the commit, files no committed entry names (the superseded files, and whatever a killed build
left) are removed by :func:`remove_unreferenced`, so one file per table or partition stays at rest.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

from biodata_cache.partitions import folder_name

if TYPE_CHECKING:
    import pyarrow as pa

    from biodata_cache.registry import Registry
    from biodata_cache.store import Store
    from biodata_cache.tables import Table

logger = logging.getLogger(__name__)

BUILD_METADATA = b"biodata_cache.build"
MANIFESTS = "_manifests"
#: Folder of the projections: outside every table's documented glob (``<table>-*.pqt``, ``qc/*/*.pqt``).
PROJECTIONS = "_projections"
#: Top-level entries of a version folder that are never data of a published table.
NOT_DATA = ("_build", "custom", "catalog.yaml", "cache_registry.json")


def new_build_id() -> str:
    """A new build id: UTC time to the second and 8 random hex digits (``20261124T173000Z-1a2b3c4d``)."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{uuid.uuid4().hex[:8]}"


def table_file(name: str, build: str) -> str:
    """Path of an unpartitioned table's file of a build, relative to the version folder."""
    return f"{name}-{build}.pqt"


def partition_file(table: Table, value: str | None, build: str) -> str:
    """Path of one partition's file of a build, relative to the version folder."""
    assert table.partition_key is not None
    return f"{table.name}/{folder_name(table.partition_key, value)}/data-{build}.pqt"


def projection_file(name: str, column: str, build: str) -> str:
    """Path of the projection of an unpartitioned table ordered by ``column`` first (see
    ``Table.projections``) of a build, relative to the version folder."""
    return f"{PROJECTIONS}/{name}-by-{column}-{build}.pqt"


def manifest_file(name: str, build: str) -> str:
    """Path of a partitioned table's manifest of a build, relative to the version folder."""
    return f"{MANIFESTS}/{name}-{build}.json"


def with_build(data: pa.Table, build: str) -> pa.Table:
    """``data`` with ``build`` recorded in its schema metadata (kept in the parquet footer)."""
    return data.replace_schema_metadata({**(data.schema.metadata or {}), BUILD_METADATA: build.encode()})


def build_of(schema: pa.Schema) -> str | None:
    """The build id a file records (None for files written before build ids)."""
    raw = (schema.metadata or {}).get(BUILD_METADATA)
    return raw.decode() if raw is not None else None


def manifest_document(name: str, build: str, key: str, files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The JSON document of a manifest: ``files`` maps a partition folder name to its file's
    ``{"path", "size", "rows", "build"}`` (path relative to the version folder)."""
    return {"table": name, "build": build, "partition_key": key, "files": dict(sorted(files.items()))}


def parse_manifest(document: Any) -> dict[str, dict[str, Any]]:
    """The ``files`` of a manifest document; ``ValueError`` if it is not one."""
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, dict) or not all(
        isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("build"), str)
        for f in files.values()
    ):
        raise ValueError(f"not a biodata-cache manifest: {str(document)[:200]}")
    return files


def read_manifest(store: Store, version: str, relpath: str) -> dict[str, dict[str, Any]]:
    """The files of a committed manifest (see :func:`manifest_document`)."""
    return parse_manifest(store.read_json(f"{version}/{relpath}"))


def referenced_files(store: Store, version: str, registry: Registry) -> tuple[set[str], set[str]] | None:
    """(paths the registry's release names, names of the tables whose files it manages), or None when
    a table's manifest cannot be read (then nothing may be removed)."""
    referenced: set[str] = set()
    managed: set[str] = set()
    for table in registry:
        if not getattr(table, "build", "") or table.kind == "custom":
            continue  # written before build ids, or a custom table: its files are not ours to remove
        managed.add(table.name)
        if table.partitioned:
            try:
                files = read_manifest(store, version, table.manifest)
            except (FileNotFoundError, ValueError):
                logger.warning(
                    "the manifest %s of %s cannot be read: nothing removed", table.manifest, version
                )
                return None
            referenced.add(table.manifest)
            referenced.update(f["path"] for f in files.values())
        else:
            referenced.add(table.path)
            referenced.update(getattr(table, "projections", {}).values())
    return referenced, managed


def _is_data_of(path: str, managed: set[str]) -> bool:
    """Whether ``path`` (relative to the version folder) is a file of one of the ``managed`` tables."""
    top, _, rest = path.partition("/")
    if top in NOT_DATA:
        return False
    if top == MANIFESTS:
        return True
    if top == PROJECTIONS:
        match = re.match(r"^(.+?)-by-", rest)
        return bool(match) and match.group(1) in managed
    if rest:
        return top in managed  # a partition file (or a temporary file) under a partitioned table
    match = re.match(r"^(.+?)(-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8})?\.pqt(\.tmp-.*)?$", top)
    return bool(match) and match.group(1) in managed


def remove_unreferenced(store: Store, version: str, registry: Registry) -> int:
    """Delete the data files of a version folder that its committed registry does not name; return how
    many.

    Run under the publish lease, after a commit (the superseded files) and before a build writes (what a
    killed build left). Only files of tables the registry manages with build ids are touched (never
    custom tables, ``_build/`` or files of a release written before build ids).
    """
    found = referenced_files(store, version, registry)
    if found is None:
        return 0
    referenced, managed = found
    stale = [p for p in store.find(version) if p not in referenced and _is_data_of(p, managed)]
    store.delete_many([f"{version}/{path}" for path in stale])
    # The folders of partitions the release no longer has (never custom/, written concurrently): only
    # the folders of the files just removed can have become empty.
    for table in registry:
        if table.name in managed and table.partitioned:
            removed = [f"{version}/{path}" for path in stale if path.startswith(f"{table.name}/")]
            store.remove_empty_parents(removed, f"{version}/{table.name}")
    if stale:
        logger.info("removed %d files of %s that no committed release names", len(stale), version)
    return len(stale)
