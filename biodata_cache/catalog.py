"""Intake catalogs generated from the registry (or, for ``catalogs/``, from the table declarations).

Two files per store, both legacy Intake v1 YAML (``metadata:`` + ``sources:``), which intake 2.x and 0.7
both read:

* ``bdc-v{X}/catalog.yaml``: one entry per table, driver ``biodata_parquet``, every urlpath relative to
  ``{{ CATALOG_DIR }}`` so ``storage_options`` reach the entries and a copied folder keeps working. The
  partitioned ``qc`` entry takes a ``subject_id`` parameter and opens only that partition.
* ``catalog.yaml`` at the root: one nested catalog per version plus ``latest``.

Catalog metadata says ``release``, never ``version`` (a ``version`` above 1 makes intake 2.0.9 parse the
file as its v2 format).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import yaml

from biodata_cache._version import __version__
from biodata_cache.registry import CacheTable, Registry

if TYPE_CHECKING:
    from intake.catalog import Catalog

    from biodata_cache.tables import Table

logger = logging.getLogger(__name__)

CATALOG_FILE = "catalog.yaml"
DRIVER = "biodata_parquet"
CATALOG_DRIVER = "biodata_catalog"


def table_path(table: Table) -> str:
    """Path of a declared table relative to its version folder."""
    return table.name if table.partitioned else f"{table.name}.pqt"


def spec_entry(table: Table) -> CacheTable:
    """A registry entry for a declared table that has not been built (no rows, no build time)."""
    return CacheTable(
        name=table.name,
        description=table.description,
        location="",
        path=table_path(table),
        partitioned=table.partitioned,
        partition_key=table.partition_key,
        type=table.kind,
        columns=[{"name": c.name, "dtype": c.dtype, "description": c.description} for c in table.columns],
        rows=0,
        built_at="",
        source="",
        partitions=0,
    )


def _entry(table: CacheTable) -> dict[str, Any]:
    metadata: dict[str, Any] = {"type": table.type}
    if table.built_at:
        metadata.update(rows=table.rows, partitions=table.partitions, built_at=table.built_at)
        metadata["source"] = table.source
    if table.partition_key:
        metadata["partition_key"] = table.partition_key
    metadata["columns"] = table.columns
    entry: dict[str, Any] = {
        "description": table.description,
        "driver": DRIVER,
        "args": {"urlpath": "{{ CATALOG_DIR }}/" + table.path},
    }
    if table.partition_key:
        key = table.partition_key
        # No default: intake 2.0.9 warns about shell commands for every str default it sees.
        entry["parameters"] = {
            key: {
                "description": f"Read only the partition of this {key} (opens one file); "
                f"empty reads every partition.",
                "type": "str",
            }
        }
        entry["args"]["partition_key"] = key
        entry["args"]["partition_value"] = "{{ " + key + " }}"
    entry["metadata"] = metadata
    return entry


def _dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110)


def render_version_catalog(tables: Iterable[CacheTable], *, release: str, built_at: str | None = None) -> str:
    """The YAML text of a version's ``catalog.yaml``.

    Parameters
    ----------
    tables
        Registry entries, in the order the catalog lists them.
    release
        The version folder name (``bdc-v0.1``).
    built_at
        When the version was built (omitted for the catalogs generated from the declarations).
    """
    metadata: dict[str, Any] = {
        "release": release,
        "description": f"biodata-cache {release}: tables of AIND data-asset metadata.",
        "generated_by": f"biodata-cache {'.'.join(__version__.split('.')[:2])}",
    }
    if built_at:
        metadata["built_at"] = built_at
    document = {"metadata": metadata, "sources": {t.name: _entry(t) for t in tables}}
    return _dump(document)


def render_registry_catalog(registry: Registry) -> str:
    """The YAML text of a version's ``catalog.yaml``, generated from its registry."""
    return render_version_catalog(registry.tables, release=registry.release, built_at=registry.built_at)


def render_top_catalog(versions: list[str]) -> str:
    """The YAML text of the top-level ``catalog.yaml``: one nested catalog per version plus ``latest``.

    Parameters
    ----------
    versions
        Version folder names, sorted oldest to newest.
    """
    sources: dict[str, Any] = {}
    for version in versions:
        sources[version] = {
            "description": f"biodata-cache tables, release {version}.",
            "driver": CATALOG_DRIVER,
            "args": {"path": "{{ CATALOG_DIR }}/" + f"{version}/{CATALOG_FILE}"},
        }
    if versions:
        sources["latest"] = {
            "description": f"The newest release ({versions[-1]}).",
            "driver": CATALOG_DRIVER,
            "args": {"path": "{{ CATALOG_DIR }}/" + f"{versions[-1]}/{CATALOG_FILE}"},
        }
    document = {
        "metadata": {
            "release": versions[-1] if versions else "",
            "description": "biodata-cache: versioned tables of AIND data-asset metadata.",
            "versions": list(versions),
        },
        "sources": sources,
    }
    return _dump(document)


def open_intake_catalog(url: str, storage_options: dict[str, Any] | None = None) -> Catalog:
    """Open a catalog YAML as a :class:`~biodata_cache.intake_driver.BiodataCatalog` (HTML display)."""
    from biodata_cache.intake_driver import BiodataCatalog

    return BiodataCatalog(url, storage_options=storage_options or None)


def write_repository_catalogs(folder: str | os.PathLike[str]) -> list[str]:
    """Write the catalogs generated from the table declarations (the repository's ``catalogs/``).

    ``catalog.yaml`` is the production top-level catalog listing the installed version, and
    ``bdc-v{X}/catalog.yaml`` that version's catalog (no row counts: those come from a build).

    Returns
    -------
    list of str
        The paths written.
    """
    from biodata_cache.config import version_folder
    from biodata_cache.tables import TABLES

    version = version_folder()
    files = {
        CATALOG_FILE: render_top_catalog([version]),
        f"{version}/{CATALOG_FILE}": render_version_catalog([spec_entry(t) for t in TABLES], release=version),
    }
    written = []
    for relative, text in files.items():
        path = os.path.join(os.fspath(folder), relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(path)
    return written
