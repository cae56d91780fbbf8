"""The cache registry (``bdc-v{X}/cache_registry.json``) and the version list (``cache_versions.json``).

The registry is the source of truth of a version folder: which tables exist, where, with which columns,
how many rows and when they were built. The version's Intake catalog is generated from it.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from biodata_cache.config import version_sort_key
from biodata_cache.errors import BiodataCacheError, InvalidInputError, TableNotFoundError

if TYPE_CHECKING:
    import pandas as pd

    from biodata_cache.store import Store

logger = logging.getLogger(__name__)

REGISTRY_FILE = "cache_registry.json"
VERSIONS_FILE = "cache_versions.json"
CUSTOM_PREFIX = "custom_"
VERSION_FOLDER = re.compile(r"bdc-v[0-9]+\.[0-9]+")  # use fullmatch: "$" also matches before a final newline

#: Names biodata-cache 0.42 gave tables that are published here under another name.
TABLE_ALIASES: dict[str, str] = {"quality_control": "qc"}

#: ``type`` of a table as biodata-cache 0.42 reported it (its ``CacheTableType``), for tables that are
#: not ``metadata`` there; custom tables (not in 0.42's registry) are ``custom``.
ORIGINAL_TYPES: dict[str, str] = {"qc": "asset"}


def canonical_table_name(name: Any) -> Any:
    """The published name of a table: ``"quality_control"`` (biodata-cache 0.42's name) is ``"qc"``.

    Any other value is returned unchanged.
    """
    return TABLE_ALIASES.get(name, name) if isinstance(name, str) else name


class Column(dict):
    """One column of a :class:`CacheTable`: a dict (``column["name"]``) that also reads as attributes.

    Keys: ``name``, ``dtype``, ``description``; ``column.name`` is ``column["name"]`` (as in
    biodata-cache 0.42's ``Column`` model).
    """

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"column has no attribute {key!r}; keys: {', '.join(self)}") from None

    def model_dump(self) -> dict[str, Any]:
        """The column as a plain dict."""
        return dict(self)


@dataclass
class CacheTable:
    """One table of a version folder, as recorded in ``cache_registry.json``.

    Attributes
    ----------
    name
        Catalog entry name (``custom_<name>`` for user tables).
    description
        What the table holds.
    location
        URL of the table's file or folder when it was written.
    path
        Location relative to the version folder (what the catalog uses).
    partitioned, partition_key
        Whether and by which column the table is hive-partitioned.
    kind
        ``list``, ``frame`` or ``custom``: how biodata-cache reads the table (written as ``type`` in
        ``cache_registry.json`` and the catalog).
    type
        (read-only) The table's type as biodata-cache 0.42 reported it: ``asset`` for ``qc``,
        ``metadata`` for the other published tables, ``custom`` for custom tables.
    columns
        :class:`Column` objects, ``{"name", "dtype", "description"}`` dicts that also read as
        attributes (``table.columns[0].name``).
    rows
        Number of rows.
    built_at
        UTC ISO time the table was written.
    source
        What it was built from (a source description, or ``custom()``).
    partitions
        Number of partitions (1 for an unpartitioned table).
    build
        Id of the build that wrote the table's data (its file, or its manifest's files, record it in
        their parquet metadata); empty for tables written before build ids and custom tables.
    size
        Size in bytes of an unpartitioned table's file (0 when not recorded).
    manifest
        A partitioned table's manifest, relative to the version folder: every partition file with its
        size, rows and build id (see :mod:`biodata_cache.release`); empty when not recorded.
    projections
        An unpartitioned table's projections, relative to the version folder: first column -> file
        (``{"project_name": "_projections/asset_basics-by-project_name-<build>.pqt"}``), written by the
        same build as :attr:`path` and removed with it; never in the catalog. Empty (and left out of
        ``cache_registry.json``) for tables without projections and releases written before them.
    """

    name: str
    description: str
    location: str
    path: str
    partitioned: bool
    partition_key: str | None
    kind: str
    columns: list[dict[str, str]]
    rows: int
    built_at: str
    source: str
    partitions: int = 1
    build: str = ""
    size: int = 0
    manifest: str = ""
    projections: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.columns = [c if isinstance(c, Column) else Column(c) for c in self.columns]

    @property
    def type(self) -> str:
        """The table's type as biodata-cache 0.42 reported it: ``asset``, ``metadata`` or ``custom``."""
        if self.kind == "custom":
            return "custom"
        return ORIGINAL_TYPES.get(self.name, "metadata")

    def to_json(self) -> dict[str, Any]:
        """The entry as written to ``cache_registry.json`` (``kind`` under the key ``type``)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}  # asdict deep-copies
        data["columns"] = [dict(c) for c in self.columns]
        if not data["projections"]:
            del data["projections"]
        else:
            data["projections"] = dict(data["projections"])
        return {("type" if key == "kind" else key): value for key, value in data.items()}

    def model_dump(self) -> dict[str, Any]:
        """The entry as a dict, with biodata-cache 0.42's keys first.

        ``name``, ``description``, ``location``, ``partitioned``, ``partition_key``, ``type`` (0.42's
        value, see :attr:`type`) and ``columns`` (each ``name``, ``description``, ``dtype``), then
        ``path``, ``kind``, ``rows``, ``built_at``, ``source``, ``partitions``.
        """
        return {
            "name": self.name,
            "description": self.description,
            "location": self.location,
            "partitioned": self.partitioned,
            "partition_key": self.partition_key,
            "type": self.type,
            "columns": [
                {"name": c["name"], "description": c.get("description", ""), "dtype": c["dtype"]}
                for c in self.columns
            ],
            "path": self.path,
            "kind": self.kind,
            "rows": self.rows,
            "built_at": self.built_at,
            "source": self.source,
            "partitions": self.partitions,
        }

    def model_dump_json(self, *, indent: int | None = None) -> str:
        """:meth:`model_dump` as a JSON string (``indent`` as in :func:`json.dumps`)."""
        return json.dumps(self.model_dump(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CacheTable:
        """Build from a registry JSON entry, ignoring keys this version does not know.

        Raises
        ------
        InvalidInputError
            If ``data`` is not an object, lacks a field or holds one of the wrong type.
        """
        problem = _entry_problem(data)
        if problem:
            raise InvalidInputError(f"a cache registry entry {problem}")
        known = {f for f in cls.__dataclass_fields__} - {"kind"}
        return cls(kind=data["type"], **{k: v for k, v in data.items() if k in known})

    @property
    def column_names(self) -> list[str]:
        """Column names, in order."""
        return [c["name"] for c in self.columns]


@dataclass
class Registry:
    """The registry of one version folder: its tables, in publish order.

    Index it by table name (``registry["qc"]``; ``"quality_control"``, biodata-cache 0.42's name, is
    ``"qc"``), iterate it, or turn it into a DataFrame with :meth:`to_frame`. :func:`get_cache_registry`
    returns the tables sorted by name. Like 0.42's ``CacheRegistry``, it has :attr:`tables` and
    :meth:`model_dump_json`.
    """

    release: str
    tables: list[CacheTable] = field(default_factory=list)
    built_at: str | None = None
    source: str | None = None
    package_version: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Registry:
        """Parse the JSON document of ``cache_registry.json``."""
        if not isinstance(data, dict) or not isinstance(data.get("tables"), list):
            raise InvalidInputError(
                f"a cache registry must be an object with a 'tables' list, found: {str(data)[:200]}"
            )
        return cls(
            release=str(data.get("release", "")),
            tables=[CacheTable.from_dict(t) for t in data["tables"]],
            built_at=data.get("built_at"),
            source=data.get("source"),
            package_version=data.get("package_version"),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON document written to ``cache_registry.json``."""
        return {
            "release": self.release,
            "package_version": self.package_version,
            "built_at": self.built_at,
            "source": self.source,
            "tables": [t.to_json() for t in self.tables],
        }

    def model_dump(self) -> dict[str, Any]:
        """The registry as a dict: ``tables`` (each :meth:`CacheTable.model_dump`), then ``release``,
        ``package_version``, ``built_at`` and ``source``.
        """
        return {
            "tables": [t.model_dump() for t in self.tables],
            "release": self.release,
            "package_version": self.package_version,
            "built_at": self.built_at,
            "source": self.source,
        }

    def model_dump_json(self, *, indent: int | None = None) -> str:
        """:meth:`model_dump` as a JSON string (``indent`` as in :func:`json.dumps`)."""
        return json.dumps(self.model_dump(), indent=indent)

    def sorted_by_name(self) -> Registry:
        """A copy with the tables sorted by name."""
        tables = sorted(self.tables, key=lambda t: t.name)
        return Registry(self.release, tables, self.built_at, self.source, self.package_version)

    @property
    def names(self) -> list[str]:
        """Table names, in order."""
        return [t.name for t in self.tables]

    def __iter__(self) -> Iterator[CacheTable]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    def __contains__(self, name: object) -> bool:
        return canonical_table_name(name) in self.names

    def __getitem__(self, name: str) -> CacheTable:
        name = canonical_table_name(name)
        for table in self.tables:
            if table.name == name:
                return table
        raise TableNotFoundError(
            f"table {name!r} is not in the registry of {self.release}; tables there: "
            f"{', '.join(self.names) or '(none)'}."
        )

    def with_table(self, table: CacheTable) -> Registry:
        """A copy with ``table`` added, or replacing the table of the same name."""
        tables = [t for t in self.tables if t.name != table.name] + [table]
        return Registry(self.release, tables, self.built_at, self.source, self.package_version)

    def _repr_html_(self) -> str:
        from biodata_cache.html import tables_html

        rows = [
            t.to_json() | {"parameters": [t.partition_key] if t.partition_key else []} for t in self.tables
        ]
        footer = f"<p>built {escape(str(self.built_at or ''))} from {escape(str(self.source or ''))}</p>"
        return tables_html(f"cache registry {self.release}", rows, footer)

    def to_frame(self) -> pd.DataFrame:
        """One row per table: name, type (biodata-cache 0.42's), kind, rows, partitions, partition_key,
        built_at and description.
        """
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "name": t.name,
                    "type": t.type,
                    "kind": t.kind,
                    "rows": t.rows,
                    "partitions": t.partitions,
                    "partition_key": t.partition_key or "",
                    "built_at": t.built_at,
                    "description": t.description,
                }
                for t in self.tables
            ]
        )


_ENTRY_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "description": (str,),
    "location": (str,),
    "path": (str,),
    "partitioned": (bool,),
    "partition_key": (str, type(None)),
    "type": (str,),
    "columns": (list,),
    "rows": (int,),
    "built_at": (str,),
    "source": (str,),
    "partitions": (int,),
    "build": (str,),
    "size": (int,),
    "manifest": (str,),
    "projections": (dict,),
}
_OPTIONAL: dict[str, Any] = {"partitions": 1, "build": "", "size": 0, "manifest": "", "projections": {}}


def _entry_problem(data: Any) -> str | None:
    """What is wrong with a registry entry (``must ...``), or None."""
    if not isinstance(data, dict):
        return f"must be an object, found {type(data).__name__} {data!r:.60}"
    missing = [key for key in _ENTRY_TYPES if key not in data and key not in _OPTIONAL]
    if missing:
        return f"{data.get('name')!r} lacks {', '.join(missing)}"
    for key, types in _ENTRY_TYPES.items():
        value = data.get(key, _OPTIONAL.get(key))
        if not isinstance(value, types) or (types == (int,) and isinstance(value, bool)):
            expected = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            return f"{data.get('name')!r}: {key} must be {expected}, found {value!r:.60}"
    for column in data["columns"]:
        if not isinstance(column, dict) or not all(isinstance(column.get(k), str) for k in ("name", "dtype")):
            return f"{data['name']!r}: columns must be objects with a name and a dtype, found {column!r:.60}"
    projections = data.get("projections", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in projections.items()):
        return f"{data['name']!r}: projections must map column names to paths, found {projections!r:.60}"
    return None


def _damaged(store: Store, relpath: str, problem: str) -> BiodataCacheError:
    from biodata_cache.store import DamagedObjectError

    return DamagedObjectError(
        f"{store.url(relpath)} is damaged: {problem}. Republish the version (`biodata-cache build --root "
        f"{store.root}`) or restore the file from a copy of the store."
    )


def registry_path(version: str) -> str:
    """Path of a version's registry, relative to the root."""
    return f"{version}/{REGISTRY_FILE}"


def registry_bytes(registry: Registry) -> bytes:
    """The bytes of ``cache_registry.json`` for ``registry``: ``json.dumps(registry.to_json(), indent=2)``.

    Python's JSON encoder is pure Python when it indents; each table's text is therefore made once per
    process and reused (a ``custom()`` or a build rewrites a registry in which most tables are unchanged).
    """
    document = registry.to_json()
    tables = document.pop("tables")
    head = json.dumps(document, indent=2)
    assert head.endswith("\n}")
    if not tables:
        return (head[:-2] + ',\n  "tables": []\n}').encode()
    texts = ",\n".join(_indented_table(json.dumps(table)) for table in tables)
    return (head[:-2] + ',\n  "tables": [\n' + texts + "\n  ]\n}").encode()


@functools.lru_cache(maxsize=4096)
def _indented_table(compact: str) -> str:
    """One table entry (given as compact JSON) as it is indented inside the registry's ``tables``."""
    return "\n".join("    " + line for line in json.dumps(json.loads(compact), indent=2).split("\n"))


def read_registry(store: Store, version: str) -> Registry:
    """Read a version's registry. Raises ``FileNotFoundError`` if the version has none.

    Raises
    ------
    DamagedObjectError
        (a :class:`~biodata_cache.BiodataCacheError`) naming the file, if it is not JSON or not a registry.
    """
    return parse_registry(store, registry_path(version), store.read_json(registry_path(version)))


def parse_registry(store: Store, relpath: str, document: Any) -> Registry:
    """A parsed registry document as a :class:`Registry`, or an error naming the file and the fix."""
    try:
        return Registry.from_json(document)
    except InvalidInputError as error:
        raise _damaged(store, relpath, str(error)) from None


def registry_from_bytes(store: Store, version: str, data: bytes) -> Registry:
    """The registry in ``data`` (the bytes of a version's ``cache_registry.json``), or an error naming it."""
    try:
        document = json.loads(data)
    except ValueError as error:
        raise _damaged(store, registry_path(version), f"not valid JSON ({error})") from None
    return parse_registry(store, registry_path(version), document)


def parse_versions(store: Store, document: Any) -> list[str]:
    """The version folders of a parsed ``cache_versions.json``, or an error naming the file and the fix."""
    if not isinstance(document, list) or not all(isinstance(v, str) for v in document):
        raise _damaged(
            store, VERSIONS_FILE, f"expected a JSON array of version folder names, found {document!r:.200}"
        )
    bad = [v for v in document if not VERSION_FOLDER.fullmatch(v)]
    if bad:
        raise _damaged(store, VERSIONS_FILE, f"{bad!r:.100} are not version folder names (bdc-vMAJOR.MINOR)")
    return sorted(set(document), key=version_sort_key)


def read_versions(store: Store) -> list[str]:
    """Version folders listed in ``cache_versions.json``, sorted by version; empty if there is none."""
    try:
        versions = store.read_json(VERSIONS_FILE)
    except FileNotFoundError:
        return []
    return parse_versions(store, versions)


def lists_version(data: bytes | None, version: str) -> bool:
    """Whether ``data`` (the bytes of ``cache_versions.json``, ``None`` if there is none) lists ``version``;
    ``False`` for content that is not a JSON list (:func:`add_version` then says what is wrong)."""
    try:
        document = json.loads(data) if data else []
    except ValueError:
        return False
    return isinstance(document, list) and version in document


def add_version(
    store: Store, version: str, *, known: tuple[bytes | None, str | None] | None = None
) -> list[str]:
    """Add a version folder to ``cache_versions.json`` with a conditional write; return the new list.

    ``known``: the file's content and ETag read already (see :meth:`Store.update_bytes`). A file whose
    content would not change is not rewritten.
    """

    def change(current: bytes | None) -> bytes:
        try:
            versions = parse_versions(store, json.loads(current)) if current else []
        except ValueError as error:  # a damaged file is never overwritten: other versions would be lost
            raise _damaged(store, VERSIONS_FILE, f"not valid JSON ({error})") from None
        return (json.dumps(sorted(set(versions) | {version}, key=version_sort_key)) + "\n").encode()

    return json.loads(store.update_bytes(VERSIONS_FILE, change, known=known))


class CacheVersions(list):
    """The version folders of a store, oldest to newest (a list of str).

    In Jupyter it displays newest first with each version's build time and table count (read from the
    versions' registries when displayed).
    """

    def __init__(self, versions: list[str], store: Store | None = None) -> None:
        super().__init__(versions)
        self._store = store

    def details(self) -> list[dict[str, Any]]:
        """``{"version", "built_at", "tables"}`` per version, newest first."""
        rows = []
        for version in reversed(self):
            try:
                registry = read_registry(self._store, version) if self._store is not None else None
            except FileNotFoundError:
                registry = None
            rows.append(
                {
                    "version": version,
                    "built_at": registry.built_at if registry else None,
                    "tables": len(registry) if registry else None,
                }
            )
        return rows

    def _repr_html_(self) -> str:
        from biodata_cache.html import versions_html

        return versions_html(self.details())
