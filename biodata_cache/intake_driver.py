"""The Intake driver of biodata-cache catalogs (registered as ``biodata_parquet``).

A small subclass of intake-parquet's ``ParquetSource``. It exists because, on intake 2.0.9 /
intake-parquet 0.3.0, ``discover()`` raises ``KeyError: 'extra_metadata'`` with the pyarrow engine (and
otherwise needs fastparquet), and hive partitions with numeric-looking values (AIND subject ids such as
``692478``) are inferred as integers. This driver reads with pyarrow, types partition keys as strings,
answers ``discover()`` from the parquet footer or the catalog metadata without reading data, and opens a
single partition directly when ``partition_value`` is given: one file, no listing of the table.

Both drivers (``biodata_parquet`` and the catalog driver ``biodata_catalog``) read ``s3://`` anonymously
when their ``storage_options`` choose no credentials and botocore finds none (the store's rule,
:func:`biodata_cache.store.filesystem_options`), and never display secrets: ``repr()``, ``yaml()``,
``describe()`` and the HTML views show ``storage_options`` through :func:`biodata_cache.config.redacted`.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from intake.catalog import Catalog
from intake.catalog.local import YAMLFileCatalog, get_dir
from intake.source.base import NoEntry
from intake_parquet.source import ParquetSource

from biodata_cache._version import __version__
from biodata_cache.config import redacted
from biodata_cache.errors import InvalidInputError, ReleaseChangedError, TableNotFoundError
from biodata_cache.partitions import PARTITION_FILE, folder_name, value_of_file, value_of_folder
from biodata_cache.release import build_of, parse_manifest
from biodata_cache.store import (
    READ_ONLY_PROTOCOLS,
    DamagedObjectError,
    fetch,
    filesystem_options,
    get_objects,
    is_s3,
    open_filesystem,
    protocol_of,
    translate_errors,
    with_retries,
)

logger = logging.getLogger(__name__)
_DASK_CONFIG_LOCK = threading.Lock()

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd
    import pyarrow as pa

_SHELL_WARNING = "Shell command not executed"
#: Reads of one call: the first with the files the catalog names, then after re-reading the registry.
RELEASE_ATTEMPTS = 4
_MANIFESTS: dict[str, dict[str, dict[str, Any]]] = {}  # url -> files; manifests never change
_MANIFESTS_LOCK = threading.Lock()


class _ReleaseMovedError(Exception):
    """A file the release names is gone or records another build (internal: the read is retried)."""


def _quietly(method: Any) -> Any:
    """Run an intake method without intake 2.0.9's spurious "Shell command not executed" warning.

    intake warns for every str parameter value when ``getshell`` is off (its default), although no
    shell command is involved; the filter is local to the call.
    """

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_SHELL_WARNING)
            return method(self, *args, **kwargs)

    wrapper.__name__, wrapper.__doc__ = method.__name__, method.__doc__
    return wrapper


def _parquet_parser(url: str, columns: list[str] | None, filters: Any) -> Callable[[bytes], pa.Table]:
    """Parse a fetched parquet object; content that is not a whole parquet file counts as damaged."""

    def parse(data: bytes) -> pa.Table:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if len(data) < 12 or data[:4] != b"PAR1" or data[-4:] != b"PAR1":
            raise DamagedObjectError(
                f"{url} is not a whole parquet file ({len(data)} bytes, no parquet header and footer)"
            )
        try:
            return pq.read_table(pa.BufferReader(data), columns=columns, filters=filters)
        except OSError as error:  # ArrowInvalid on a damaged footer or page
            if columns is None and not filters:
                raise DamagedObjectError(f"{url} is not a readable parquet file: {error}") from error
            raise

    return parse


def _flat_filters(filters: Any) -> bool:
    """Whether ``filters`` is one AND of ``(column, operator, value)`` triples (what the readers pass)."""
    return isinstance(filters, list) and all(
        isinstance(f, tuple) and len(f) == 3 and isinstance(f[0], str) for f in filters
    )


def _with_key(table: pa.Table, key: str | None, values: list[tuple[str | None, int]]) -> pa.Table:
    """Append the partition key column: each value repeated for its number of rows."""
    import pyarrow as pa

    if key is None:
        return table
    column = pa.array([v for v, count in values for _ in range(count)], pa.string())
    return table.append_column(pa.field(key, pa.string()), column)


def _concat(parts: list[pa.Table]) -> pa.Table:
    import pyarrow as pa

    return pa.concat_tables(parts, promote_options="permissive")


def _url_segment(folder: str, protocol: str) -> str:
    """A folder name as a URL path segment: web servers decode ``%XX`` once, so escape ``%`` for them."""
    if protocol in READ_ONLY_PROTOCOLS:
        return urllib.parse.quote(folder, safe="=~")
    return folder


def _redacted_args(args: dict[str, Any]) -> dict[str, Any]:
    """Open arguments as displayed: ``storage_options`` and URLs with their credentials redacted."""
    return {
        name: redacted(value) if name == "storage_options" or isinstance(value, str) else value
        for name, value in args.items()
    }


class SafeDisplayMixin:
    """What a source or catalog displays (``repr()``, ``yaml()``, ``describe()``) holds no secret.

    intake builds all three from the arguments the object was created with, ``storage_options``
    included; these are shown redacted (the object keeps the real values for fsspec). ``describe()`` also
    shows the entry's metadata as intake renders it (user text exactly as written, see
    :func:`biodata_cache.catalog.from_catalog_text`) and, for an object not made from a catalog entry,
    describes the object itself instead of raising ``NoEntry``.
    """

    def _yaml(self) -> dict[str, Any]:
        data = super()._yaml()  # type: ignore[misc]
        for spec in data["sources"].values():
            spec["args"] = _redacted_args(spec.get("args") or {})
        return data

    def describe(self) -> dict[str, Any]:
        """Description from the catalog entry (or of this object), with secrets redacted."""
        from biodata_cache.catalog import from_catalog_text

        try:
            described = dict(super().describe())  # type: ignore[misc]
        except NoEntry:
            spec = next(iter(self._yaml()["sources"].values()))
            return {"name": self.name, "container": self.container, **spec}  # type: ignore[attr-defined]
        described["args"] = _redacted_args(described.get("args") or {})
        described["metadata"] = from_catalog_text(described.get("metadata") or {})
        return described


class BiodataParquetSource(SafeDisplayMixin, ParquetSource):
    """Parquet table (one file, or a hive-partitioned folder) of a biodata-cache store.

    Parameters
    ----------
    urlpath
        URL of the table's file (``.../asset_basics-<build>.pqt``) or partitioned folder (``.../qc``).
    partition_key
        Column whose values name the partition folders (``subject_id``), or None.
    partition_value
        Read only this partition (opens the one file the manifest names for it,
        ``<urlpath>/<key>=<value>/data-<build>.pqt``). Empty or None reads the whole table.
    metadata
        Catalog metadata; ``columns`` (name, dtype, description), ``rows`` and ``partitions`` are used.
    storage_options
        fsspec options for the urlpath.
    build, manifest
        The release's build id and, for a partitioned table, the URL of its manifest (the files of the
        release, see :mod:`biodata_cache.release`): the source then lists nothing and opens exactly
        those files. A file that is gone or records another build makes it re-read the version's
        registry and try again (:data:`RELEASE_ATTEMPTS` reads in all), then raise
        :class:`~biodata_cache.errors.ReleaseChangedError`. Without them (releases written before build
        ids, custom tables) a partitioned table is listed; a file of such a release that is gone once the
        registry names a build for the table (the first build with build ids replaced every file) is
        followed the same way, never read as an empty partition.
    **parquet_kwargs
        ``columns`` (list of names) and ``filters`` (pyarrow DNF filters) are pushed down to parquet.
        Any other name raises :class:`~biodata_cache.errors.InvalidInputError`: intake passes a
        parameter the entry does not declare (``cat.qc(subjectid=...)``) straight to the driver, which
        would otherwise ignore it and read the whole table.
    """

    name = "biodata_parquet"
    version = __version__
    container = "dataframe"
    partition_access = True
    PARQUET_KWARGS = ("columns", "filters")  # keywords the driver takes besides its named arguments

    def __init__(
        self,
        urlpath: str,
        partition_key: str | None = None,
        partition_value: str | None = None,
        metadata: dict[str, Any] | None = None,
        storage_options: dict[str, Any] | None = None,
        build: str | None = None,
        manifest: str | None = None,
        **parquet_kwargs: Any,
    ) -> None:
        self._reject_unknown_parameters(urlpath, partition_key, metadata, parquet_kwargs)
        super().__init__(urlpath, metadata=metadata, storage_options=storage_options, **parquet_kwargs)
        self._partition_key = partition_key or None
        self._partition_value = str(partition_value) if partition_value not in (None, "") else None
        self._fs_options: dict[str, Any] | None = None
        self._build = build or None
        self._manifest = manifest or None
        self._table_name = urlpath.rstrip("/").rpartition("/")[2]
        if not self._partition_key:
            suffix = f"-{self._build}.pqt" if self._build else ".pqt"
            self._table_name = self._table_name.removesuffix(suffix)
        if self._partition_value is not None and self._partition_key is None:
            raise ValueError(f"{urlpath} is not partitioned; it takes no partition value")

    @classmethod
    def _reject_unknown_parameters(
        cls, urlpath: str, key: str | None, metadata: dict[str, Any] | None, kwargs: dict[str, Any]
    ) -> None:
        """Raise for a keyword that is neither an entry parameter nor a driver option.

        Every call style (``cat.qc(...)``, ``cat["qc"](...)``, ``.get(...)``, ``src(...)``, the entry
        itself) reaches the driver here: intake renders the entry's declared parameters (``subject_id``
        of a partitioned entry) into its arguments and passes every other keyword through.
        """
        import difflib

        unknown = [k for k in kwargs if k not in cls.PARQUET_KWARGS]
        if not unknown:
            return
        folder, _, leaf = urlpath.rstrip("/").rpartition("/")
        leaf = re.sub(r"-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$", "", leaf.removesuffix(".pqt"))  # a build's file
        table = ("custom_" if folder.endswith("/custom") else "") + leaf
        parameters = [key] if key else []  # the catalog names a partitioned entry's parameter after its key
        valid = [*parameters, *cls.PARQUET_KWARGS, "storage_options"]
        columns = [c.get("name") for c in (metadata or {}).get("columns") or []]
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, valid, n=1)
            if close:
                hints.append(f"did you mean {close[0]!r}" + ("?" if len(unknown) == 1 else f" for {name!r}?"))
            elif name in columns:
                hints.append(
                    f"to keep rows by column {name!r}, pass filters=[({name!r}, '==', {kwargs[name]!r})]"
                )
        names = ", ".join(map(repr, unknown))
        message = f"{table} got an unknown parameter{'s' if len(unknown) > 1 else ''} {names}" + (
            f" ({'; '.join(hints)})" if hints else ""
        )
        if parameters:
            message += (
                f". Valid parameters: {key} (the entry's parameter: read only this {key}'s partition), and "
                f"columns, filters, storage_options (passed to the driver)."
            )
        else:
            message += (
                f". {table} takes no entry parameters; valid parameters are columns, filters, "
                f"storage_options (passed to the driver)."
            )
        raise InvalidInputError(message)

    # -- helpers ----------------------------------------------------------------------------------

    @property
    def _declared(self) -> list[dict[str, str]]:
        return list((self.metadata or {}).get("columns") or [])

    def _declares_types(self) -> bool:
        """Whether every declared column has a dtype of the table declarations (not a custom table)."""
        from biodata_cache.tables import DTYPES

        return bool(self._declared) and all(c.get("dtype") in DTYPES for c in self._declared)

    def _declared_schema(self) -> pa.Schema:
        import pyarrow as pa

        from biodata_cache.tables import arrow_type

        return pa.schema([pa.field(c["name"], arrow_type(c["dtype"])) for c in self._declared])

    def _partition_url(self, value: str | None = None) -> str:
        assert self._partition_key is not None
        value = self._partition_value if value is None else value
        folder = _url_segment(folder_name(self._partition_key, value), protocol_of(self._urlpath))
        return f"{self._urlpath.rstrip('/')}/{folder}/{PARTITION_FILE}"

    def _filesystem(self, url: str) -> tuple[Any, str]:
        if self._fs_options is None:
            self._fs_options = filesystem_options(self._urlpath, self._storage_options)
        return open_filesystem(url, self._fs_options)

    # -- the release's files -----------------------------------------------------------------------

    def _version_url(self) -> str:
        return self._urlpath.rstrip("/").rpartition("/")[0]

    def _release_url(self, relpath: str) -> str:
        """URL of a file named relative to the version folder (segments escaped for web servers)."""
        protocol = protocol_of(self._urlpath)
        return "/".join([self._version_url(), *(_url_segment(s, protocol) for s in relpath.split("/"))])

    def _manifest_files(self) -> dict[str, dict[str, Any]]:
        """The manifest's files (partition folder name -> path, size, rows, build); fetched once per
        process, since a manifest is never rewritten (its name carries its build id), and dropped from
        the cache when a source follows the registry away from it (it is about to be removed)."""
        assert self._manifest is not None
        url = self._manifest
        with _MANIFESTS_LOCK:
            files = _MANIFESTS.get(url)
        if files is not None:
            return files
        fs, path = self._filesystem(url)

        def parse(data: bytes) -> dict[str, dict[str, Any]]:
            import json

            try:
                return parse_manifest(json.loads(data))
            except ValueError as error:
                raise DamagedObjectError(f"{url} is not a biodata-cache manifest: {error}") from error

        try:
            files = fetch(fs, path, url=url, parse=parse)
        except FileNotFoundError as error:
            raise _ReleaseMovedError(url) from error
        with _MANIFESTS_LOCK:
            if len(_MANIFESTS) >= 16:
                _MANIFESTS.pop(next(iter(_MANIFESTS)))
            _MANIFESTS[url] = files
        return files

    def _release_partitions(self, value: Any = ...) -> list[tuple[str, str, str, str]]:
        """``(path, url, folder name, build)`` of the release's partition files: all, or of one value."""
        files = self._manifest_files()
        if value is not ...:
            name = folder_name(self._partition_key, value)
            files = {name: files[name]} if name in files else {}
        found = []
        for name, entry in sorted(files.items()):
            url = self._release_url(entry["path"])
            found.append((self._filesystem(url)[1], url, name, entry["build"]))
        return found

    def _check_build(self, table: pa.Table, url: str, expected: str | None) -> pa.Table:
        if expected is not None and build_of(table.schema) != expected:
            raise _ReleaseMovedError(f"{url} records build {build_of(table.schema)!r}, not {expected!r}")
        return table

    def _registry_entry(self) -> dict[str, Any] | None:
        """This table's entry in the version's registry (the commit point), read now; None if the
        registry or the entry does not exist."""
        import json

        url = f"{self._version_url()}/cache_registry.json"
        fs, path = self._filesystem(url)
        try:
            document = fetch(fs, path, url=url, parse=json.loads)
        except FileNotFoundError:
            return None
        tables = document.get("tables") if isinstance(document, dict) else None
        entries = [t for t in (tables or []) if isinstance(t, dict) and t.get("name") == self._table_name]
        return entries[0] if entries else None

    def _files_of(self, entry: dict[str, Any]) -> tuple[str | None, str, str | None]:
        """``(build, urlpath, manifest)`` a registry entry names for this source."""
        build = entry.get("build") or None
        if self._partition_key:
            manifest = f"{self._version_url()}/{entry['manifest']}" if entry.get("manifest") else None
            return build, self._urlpath, manifest
        return build, self._release_url(entry["path"]), None

    def _follow_release(self, why: str, entry: dict[str, Any] | None = None) -> None:
        """Re-read the version's registry (unless ``entry`` was just read from it) and take this table's
        files, and the catalog metadata that describes them (rows, partitions, build time), from it."""
        entry = self._registry_entry() if entry is None else entry
        if entry is None:
            raise TableNotFoundError(
                f"table {self._table_name!r} is no longer in {self._version_url()}/cache_registry.json "
                f"(a file of the release read was gone: {why})."
            )
        logger.debug("%s: re-reading its files from the registry (%s)", self._table_name, why)
        self.followed_release = True  # this source now reads a newer release than its catalog entry
        if self._manifest is not None:
            with _MANIFESTS_LOCK:  # a release that moved on: its manifest is about to be removed
                _MANIFESTS.pop(self._manifest, None)
        self._build, self._urlpath, self._manifest = self._files_of(entry)
        if entry.get("built_at"):
            described = {name: entry[name] for name in ("rows", "partitions", "built_at") if name in entry}
            self.metadata = {**(self.metadata or {}), **described}
            self._schema = None  # discover() answers from the new release

    def _moved_on(self, why: str) -> None:
        """For a file of a release written before build ids that is gone: raise ``_ReleaseMovedError``
        if the registry now names a build for this table (the first build with build ids committed and
        removed the old files); return if it does not (the caller decides what the missing file means).
        """
        entry = self._registry_entry()
        if entry is not None and entry.get("build"):
            raise _ReleaseMovedError(why)

    def _confirm_release(self) -> None:
        """Read the registry (one small GET) and follow it if it names other files than this source's:
        a source resolved before a commit then plans its reads on the committed release."""
        entry = self._registry_entry()
        if entry is None:
            if self._build is None:
                return  # a custom table or a source made from a bare URL: no registry names its files
            self._follow_release("confirming the release")  # raises TableNotFoundError
            return
        if self._files_of(entry) != (self._build, self._urlpath, self._manifest):
            self._follow_release("the registry names another release", entry)

    def _in_release(self, read: Callable[[], Any]) -> Any:
        """Run ``read``; while it finds files of another release, follow the registry and run it again."""
        for attempt in range(RELEASE_ATTEMPTS):
            try:
                return read()
            except _ReleaseMovedError as moved:
                if attempt == RELEASE_ATTEMPTS - 1:
                    raise ReleaseChangedError(
                        f"reading {self._table_name!r} from {self._version_url()} kept finding files of "
                        f"another release ({moved}) after {RELEASE_ATTEMPTS} reads of its registry. "
                        f"Publishers may be committing faster than the read; try again, or republish "
                        f"the version (biodata-cache build --full) if it persists."
                    ) from None
                before = (self._build, self._urlpath, self._manifest)
                self._follow_release(str(moved))
                if (self._build, self._urlpath, self._manifest) == before:
                    # The committed release itself names the file: it is missing or damaged, not moved.
                    if isinstance(moved.__cause__, FileNotFoundError):
                        raise moved.__cause__ from None
                    raise DamagedObjectError(
                        f"{moved}, although the committed release names it for that build. Republish the "
                        f"version (biodata-cache build --full)."
                    ) from None
        raise AssertionError("unreachable")

    def partition_location(self, value: str | None) -> str:
        """URL of the file of one partition (``None``: rows without a key) in the release read; for a
        partition the release does not have, where it would be (its folder's ``*.pqt``)."""
        key = self._partition_key
        assert key is not None
        if self._manifest is not None:
            files = self._in_release(lambda: self._release_partitions(value))
            if files:
                return files[0][1]
            return self._release_url(f"{self._table_name}/{folder_name(key, value)}") + "/*.pqt"
        folder = _url_segment(folder_name(key, value), protocol_of(self._urlpath))
        return f"{self._urlpath.rstrip('/')}/{folder}/{PARTITION_FILE}"

    def _partition_files(self) -> list[tuple[str, str, str]]:
        """``(path, url, folder name)`` of every partition file of the table, from a fresh listing.

        fsspec caches listings for the life of a filesystem instance (and s3fs shares instances across
        a process): the cache is dropped first so a long-lived reader never reads an earlier release's
        set of partitions.
        """
        key = self._partition_key
        assert key is not None
        fs, path = self._filesystem(self._urlpath)
        web = protocol_of(self._urlpath) in READ_ONLY_PROTOCOLS

        def listing() -> list[str]:
            fs.invalidate_cache(path)
            return fs.ls(path, detail=False)

        with translate_errors(self._urlpath):
            entries = with_retries(listing, what=self._urlpath, transport=not is_s3(fs))
        files = []
        for entry in sorted(entries):
            base = entry.rstrip("/")
            name = base.rsplit("/", 1)[-1]
            if web:  # web servers percent-encode the names in their listings
                name = urllib.parse.unquote(name)
            if name.startswith(key + "="):
                url = f"{self._urlpath.rstrip('/')}/{base.rsplit('/', 1)[-1]}/{PARTITION_FILE}"
                files.append((f"{base}/{PARTITION_FILE}", url, name))
        return files

    def _read_file(self, fs: Any, path: str, url: str) -> pa.Table:
        """The table's (unpartitioned) file, fetched whole and parsed with the columns and filters; on S3,
        a file of a release read with filters fetches only the row groups that can match
        (:mod:`biodata_cache.parquet_ranges`)."""
        columns, filters = self._kwargs.get("columns"), self._kwargs.get("filters") or None
        if filters and self._build is not None and is_s3(fs) and _flat_filters(filters):
            from biodata_cache.parquet_ranges import read_filtered

            return read_filtered(
                fs, path, url, columns=columns, filters=filters, cache_footer=f"-{self._build}." in url
            )
        return fetch(fs, path, url=url, parse=_parquet_parser(url, columns, filters))

    def _read_partition(
        self, fs: Any, path: str, url: str, folder: str, data: Any = None, build: str | None = None
    ) -> pa.Table:
        """One partition file with its key column; the value is the one recorded in the file (a file of
        a release must record ``build``, and the value of the folder the manifest files it under)."""
        key = self._partition_key
        assert key is not None
        columns, filters = self._file_columns(), self._kwargs.get("filters") or None
        table = fetch(fs, path, url=url, parse=_parquet_parser(url, columns, filters), data=data)
        table = self._check_build(table, url, build)
        recorded, value = value_of_file(table.schema, key)
        if not recorded:
            value = value_of_folder(folder, key)
        elif build is not None and folder_name(key, value) != folder:
            # Rows of another partition's value would be returned as this one's (the manifest names
            # the file under the folder of the value asked for).
            raise DamagedObjectError(
                f"{url} holds the partition of {key}={value!r}, not the {folder!r} the release files it "
                f"under. Republish the version (biodata-cache build --full)."
            )
        return _with_key(table.replace_schema_metadata(None), key, [(value, table.num_rows)])

    def _file_columns(self) -> list[str] | None:
        columns = self._kwargs.get("columns")
        key = self._partition_key
        file_columns = [c for c in columns if c != key] if columns and key else columns
        if file_columns == []:
            # Only the key was asked for: read one small column to know each file's row count.
            file_columns = [c["name"] for c in self._declared if c["name"] != key][:1] or None
        return file_columns

    # -- intake API -------------------------------------------------------------------------------

    def _footer(self, url: str) -> Any:
        """The parquet footer (``FileMetaData``) of the file at ``url``, with the store's retries.

        Raises ``FileNotFoundError`` if the file does not exist, a biodata-cache error otherwise.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        fs, path = self._filesystem(url)

        def read_footer() -> Any:
            # fs.open, not pyarrow's fsspec wrapper: that answers "not found" for any error of the
            # existence check (a 503, a refusal), which would read as an empty partition.
            with fs.open(path, "rb") as handle:
                try:
                    return pq.ParquetFile(handle).metadata
                except pa.ArrowInvalid as error:  # no parquet magic, an unreadable footer
                    raise DamagedObjectError(f"{url} has no readable parquet footer: {error}") from error

        with translate_errors(url):
            return with_retries(read_footer, what=url, transport=not is_s3(fs))

    def _release_footer(self) -> tuple[int, int]:
        """(rows, row groups) of the release's file of this source (one partition, or the table)."""
        if self._partition_key:
            files = self._release_partitions(self._partition_value)
            if not files:
                return 0, 1
            url, build = files[0][1], files[0][3]
        else:
            url, build = self._urlpath, self._build
        try:
            footer = self._footer(url)
        except FileNotFoundError as error:
            raise _ReleaseMovedError(f"{url} is gone") from error
        recorded = (footer.metadata or {}).get(b"biodata_cache.build")
        if recorded is not None and recorded.decode() != build:
            raise _ReleaseMovedError(f"{url} records build {recorded.decode()!r}, not {build!r}")
        return footer.num_rows, max(footer.num_row_groups, 1)

    def _footer_rows(self) -> tuple[int, int]:
        """(rows, row groups) of this source's file (one partition, or the table), from its footer."""
        if self._build is not None and (self._manifest is not None or not self._partition_key):
            return self._release_footer()
        url = self._partition_url() if self._partition_value is not None else self._urlpath
        try:
            footer = self._footer(url)
        except FileNotFoundError:
            self._moved_on(f"{url} is gone")
            if self._partition_value is None:
                raise
            return 0, 1
        return footer.num_rows, max(footer.num_row_groups, 1)

    def _get_schema(self):
        from intake.source import base

        dtype = {c["name"]: c["dtype"] for c in self._declared} or None
        wanted = self._kwargs.get("columns")
        ncols = len(wanted) if wanted else len(self._declared) or None
        if self._partition_key and self._partition_value is None:
            rows, parts = (self.metadata or {}).get("rows"), (self.metadata or {}).get("partitions")
        else:
            rows, parts = self._in_release(self._footer_rows)  # may follow the registry (and metadata)
        meta = dict(self.metadata or {})
        return base.Schema(dtype=dtype, shape=(rows, ncols), npartitions=parts, extra_metadata=meta)

    def read_arrow(self) -> pa.Table:
        """Read the table (or the one partition) as an arrow table with the declared types.

        Each parquet object is fetched whole in one GET (concurrently for a partitioned table) and
        parsed in memory: one request per file on S3, and HTTP mirrors need no range support. On S3, a
        release's unpartitioned file read with filters is read by ranges instead: its footer (kept per
        process), then only the row groups that can match (:mod:`biodata_cache.parquet_ranges`). Objects
        that arrive damaged are fetched again; errors are translated as the store translates them.
        Exactly the files of one release are read (see ``build`` and ``manifest`` above). A source of a
        release written before build ids whose file is gone follows the registry the same way once it
        names a build (the first build with build ids replaced every file): never an empty answer for
        files that were removed.
        """
        return self._in_release(lambda: self._read_arrow() if self._build is None else self._read_release())

    def _read_release(self) -> pa.Table:
        """:meth:`read_arrow` of the files the release names (raises ``_ReleaseMovedError``)."""
        columns = self._kwargs.get("columns")
        key = self._partition_key
        if key is None:
            fs, path = self._filesystem(self._urlpath)
            try:
                table = self._read_file(fs, path, self._urlpath)
            except FileNotFoundError as error:
                raise _ReleaseMovedError(f"{self._urlpath} is gone") from error
            table = self._check_build(table, self._urlpath, self._build)
        else:
            value = self._partition_value if self._partition_value is not None else ...
            if value is not ... and self._manifest is None:
                return self._read_arrow()
            files = self._release_partitions(value)
            fs, _ = self._filesystem(self._urlpath)
            contents: dict[str, Any] = {}
            if len(files) > 1:
                with translate_errors(self._urlpath):
                    contents = get_objects(fs, [p for p, _, _, _ in files])
            parts = []
            for path, url, folder, build in files:
                try:
                    part = self._read_partition(fs, path, url, folder, data=contents.get(path), build=build)
                except FileNotFoundError as error:
                    raise _ReleaseMovedError(f"{url} is gone") from error
                parts.append(part)
            empty = _with_key(self._empty_file_table(self._file_columns()), key, [])
            table = _concat(parts) if parts else empty
        order = columns or [c["name"] for c in self._declared] or table.column_names
        return table.select([c for c in order if c in table.column_names])

    def _read_arrow(self) -> pa.Table:
        """:meth:`read_arrow` of a release written before build ids: partitions are listed."""
        columns = self._kwargs.get("columns")
        key = self._partition_key
        if self._partition_value is not None:
            url = self._partition_url()
            fs, path = self._filesystem(url)
            try:
                table = self._read_partition(fs, path, url, folder_name(key, self._partition_value))
            except FileNotFoundError:
                self._moved_on(f"{url} is gone")
                # A partition that does not exist holds no rows: the key has no data in this table.
                table = _with_key(self._empty_file_table(self._file_columns()), key, [])
            else:
                found = table.column(key)[0].as_py() if table.num_rows else self._partition_value
                if found != self._partition_value:
                    raise DamagedObjectError(
                        f"{url} holds the partition of {key}={found!r}, not {self._partition_value!r}. "
                        f"Republish the version (biodata-cache build --full)."
                    )
        elif key:
            files = self._partition_files()
            fs, _ = self._filesystem(self._urlpath)
            with translate_errors(self._urlpath):
                contents = get_objects(fs, [p for p, _, _ in files])
            parts, missing = [], []
            for path, url, folder in files:
                try:
                    parts.append(self._read_partition(fs, path, url, folder, data=contents.get(path)))
                except FileNotFoundError:
                    missing.append(url)
            if missing:
                # Gone because the registry now names a build (its files replaced these): read that.
                self._moved_on(f"{missing[0]} is gone")
                # Otherwise a folder without the file is a partition that a build not yet committed is
                # writing (only its build-named file exists): it holds no committed rows.
                logger.debug("%s have no data file; skipped", ", ".join(missing))
            empty = _with_key(self._empty_file_table(self._file_columns()), key, [])
            table = _concat(parts) if parts else empty
        else:
            fs, path = self._filesystem(self._urlpath)
            try:
                table = self._read_file(fs, path, self._urlpath)
            except FileNotFoundError:
                self._moved_on(f"{self._urlpath} is gone")
                raise
        order = columns or [c["name"] for c in self._declared] or table.column_names
        return table.select([c for c in order if c in table.column_names])

    def _empty_file_table(self, columns: list[str] | None) -> pa.Table:
        table = self._declared_schema().empty_table()
        if self._partition_key in table.column_names:
            table = table.drop_columns([self._partition_key])
        return table.select(columns) if columns is not None else table

    _configure_new = _quietly(ParquetSource.configure_new)

    def configure_new(self, **kwargs: Any) -> BiodataParquetSource:
        """A new source from the same catalog entry with these parameters changed.

        The entry parameter this source was opened with (``subject_id``) is kept unless it is given
        again: intake 2.0.8 re-opens the entry with only the arguments the driver received, so
        ``cat.qc(subject_id="692478")(columns=[...])`` would otherwise read every subject.
        """
        key = self._partition_key
        passed = getattr(self, "_passed_kwargs", None) or ()
        if self._entry is not None and key and key in passed and key not in kwargs:
            kwargs = {key: self._partition_value or "", **kwargs}
        return self._configure_new(**kwargs)

    __call__ = get = configure_new

    def _repr_html_(self) -> str:
        from biodata_cache.html import entry_html

        parameters = [self._partition_key] if self._partition_key else []
        return entry_html(self.name, self.description, self.metadata or {}, parameters)

    def _ipython_display_(self) -> None:
        from biodata_cache.html import display_html

        display_html(self, self._repr_html_())

    def read(self) -> pd.DataFrame:
        """Read the table (or the one partition) into a pandas DataFrame."""
        df = self.read_arrow().to_pandas()
        self._df = df.iloc[:0]
        return df

    def to_dask(self) -> dd.DataFrame:
        """A lazy Dask DataFrame: one partition per file (each partition file, or the table's file).

        Files are read by the same code as :meth:`read` (one GET, exact key values, HTTP mirrors,
        retries, translated errors), one Dask partition each. The registry is read first (one small
        GET): a source resolved before a commit plans the committed release's files. A graph computed
        after a later commit removed its files raises
        :class:`~biodata_cache.errors.ReleaseChangedError`; ``to_dask()`` again reads the new release.
        """
        import dask
        import dask.dataframe as dd

        self._confirm_release()
        files: list[tuple[str, str, str, str | None]]
        if self._partition_key and self._manifest is not None:
            value = self._partition_value if self._partition_value is not None else ...
            files = self._in_release(lambda: self._release_partitions(value))
        elif self._partition_key:
            if self._partition_value is not None:
                url = self._partition_url()
                _, path = self._filesystem(url)
                files = [(path, url, folder_name(self._partition_key, self._partition_value), None)]
            else:
                files = [(*file, None) for file in self._partition_files()]
        else:
            _, path = self._filesystem(self._urlpath)
            files = [(path, self._urlpath, "", self._build)]
        meta = self._dask_meta()
        # Each partition is the frame read() gives, with its dtypes: dask's conversion of object
        # columns to strings would turn list columns (modalities) into their text. dask's config is
        # global and from_map reads it when called: the lock keeps concurrent to_dask() calls from
        # restoring it under each other.
        with _DASK_CONFIG_LOCK, dask.config.set({"dataframe.convert-string": False}):
            frame = (
                dd.from_map(_DaskPartition(self), files, meta=meta, divisions=[None] * (len(files) + 1))
                if files
                else dd.from_pandas(meta, npartitions=1)
            )
        self._df = frame
        return frame

    def _dask_meta(self) -> pd.DataFrame:
        key = self._partition_key
        if key is None and not self._declares_types():
            # The file's own schema: custom tables record their dtypes as arrow type names.
            table = self._footer(self._urlpath).schema.to_arrow_schema().empty_table()
        elif key is None:
            table = self._declared_schema().empty_table()
        else:
            table = _with_key(self._empty_file_table(self._file_columns()), key, [])
        order = self._kwargs.get("columns") or [c["name"] for c in self._declared] or table.column_names
        return table.select([c for c in order if c in table.column_names]).to_pandas()


class _DaskPartition:
    """Reads one file of a source (a partition file, or the table's file) for ``dd.from_map``."""

    def __init__(self, source: BiodataParquetSource) -> None:
        self.source = source

    def __call__(self, file: tuple[str, str, str, str | None]) -> pd.DataFrame:
        source = self.source
        path, url, folder, build = file
        fs, _ = source._filesystem(url)
        try:
            if not source._partition_key:
                try:
                    table = source._check_build(source._read_file(fs, path, url), url, build)
                except FileNotFoundError as error:
                    raise _ReleaseMovedError(f"{url} is gone") from error
            else:
                try:
                    table = source._read_partition(fs, path, url, folder, build=build)
                except FileNotFoundError as error:
                    if build is not None:
                        raise _ReleaseMovedError(f"{url} is gone") from error
                    source._moved_on(f"{url} is gone")  # a release before build ids, replaced
                    return source._dask_meta()  # a partition a build not yet committed is writing
        except _ReleaseMovedError as moved:
            # One Dask partition cannot follow the release alone: the frame would mix two releases.
            raise ReleaseChangedError(
                f"a newer release of {source._table_name!r} was committed after to_dask() was called "
                f"({moved}); call to_dask() again to read it."
            ) from None
        order = source._kwargs.get("columns") or [c["name"] for c in source._declared] or table.column_names
        return table.select([c for c in order if c in table.column_names]).to_pandas()


class HtmlCatalogMixin(SafeDisplayMixin):
    """Displays an intake catalog as an HTML table of its entries.

    intake 2.0.9 shows catalogs only as YAML, and its ``_ipython_display_`` pre-empts other formatters;
    this takes over the display with a table of entries (name, description, rows, columns, partition
    key, parameters, build time).
    """

    _get_entry = _quietly(Catalog._get_entry)

    def _entry_rows(self) -> list[dict[str, Any]]:
        from biodata_cache.catalog import from_catalog_text
        from biodata_cache.html import entry_metadata

        rows = []
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_SHELL_WARNING)
            for name, entry in self._get_entries().items():
                described = entry.describe()
                parameters = [p["name"] for p in described.get("user_parameters") or []]
                metadata = from_catalog_text(described.get("metadata") or {})
                rows.append(entry_metadata(name, described.get("description"), metadata, parameters))
        return rows

    def _repr_html_(self) -> str:
        from biodata_cache.html import tables_html

        release = (self.metadata or {}).get("release") or self.name or ""
        footer = (
            "<p>Read an entry: <code>cat.asset_basics.read()</code>, "
            '<code>cat.qc(subject_id="692478").read()</code>, <code>.discover()</code>, '
            "<code>.to_dask()</code>.</p>"
        )
        return tables_html(f"biodata-cache catalog {release}", self._entry_rows(), footer)

    def _ipython_display_(self) -> None:
        from biodata_cache.html import display_html

        display_html(self, self._repr_html_())


class BiodataCatalog(HtmlCatalogMixin, YAMLFileCatalog):
    """A biodata-cache catalog file (registered as ``biodata_catalog``) that displays as HTML.

    Opened from ``s3://`` with no credentials in ``storage_options`` and none found by botocore, it reads
    anonymously, and so do its entries (intake hands them the catalog's filesystem options).

    The file is fetched like every other store object (:func:`~biodata_cache.store.fetch`: one GET,
    retries, translated errors) instead of through intake's ``open_files``.
    """

    name = "biodata_catalog"

    def __init__(self, path: Any = None, **kwargs: Any) -> None:
        if isinstance(path, str):
            kwargs["storage_options"] = filesystem_options(path, kwargs.get("storage_options")) or None
        super().__init__(path, **kwargs)

    def _load(self, reload: bool = False) -> None:
        given = self.filesystem is not None and self.filesystem is not getattr(self, "_fetched_with", None)
        if self.access is False or not isinstance(self.path, str) or given:
            return super()._load(reload)
        if self.autoreload or reload:
            fs, path = open_filesystem(self.path, filesystem_options(self.path, self.storage_options))
            self.filesystem = self._fetched_with = fs  # entries inherit its storage options
            self._dir = get_dir(self.path)
            self.parse(fetch(fs, path, url=self.path).decode())
        return None
