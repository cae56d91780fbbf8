"""The reading logic of a biodata-cache table, without intake: :class:`ReleaseSource`.

A release source reads one table (one file, or a hive-partitioned folder) of a version the way the
catalog entry names it: exactly the files of one release (``build`` / ``manifest``), following the
version's registry when a file is gone or records another build (:data:`RELEASE_ATTEMPTS` reads in all,
then :class:`~biodata_cache.errors.ReleaseChangedError`), fetching each parquet object whole in one GET
and parsing it in memory. The readers (:func:`biodata_cache.readers.read_table` and every function built
on it) use it directly, so a read in a fresh process never imports intake; the intake driver
:class:`biodata_cache.intake_driver.BiodataParquetSource` is this class plus intake's ``DataSource``.

Imports only the standard library and biodata-cache modules at import time; pyarrow loads on the
first read.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
    open_reader,
    protocol_of,
    translate_errors,
    with_retries,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

logger = logging.getLogger(__name__)

#: Reads of one call: the first with the files the catalog names, then after re-reading the registry.
RELEASE_ATTEMPTS = 4
_MANIFESTS: dict[str, dict[str, dict[str, Any]]] = {}  # url -> files; manifests never change
_MANIFESTS_LOCK = threading.Lock()
#: Projections found missing (releases written before projections); their names carry the build id.
_ABSENT_PROJECTIONS: dict[str, None] = {}
_ABSENT_LOCK = threading.Lock()


class _ReleaseMovedError(Exception):
    """A file the release names is gone or records another build (internal: the read is retried)."""


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
            if not filters:  # one file: no dataset (pyarrow.dataset imports pandas, ~0.1 s)
                return pq.ParquetFile(pa.BufferReader(data)).read(columns=columns)
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


class ReleaseSource:
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

    PARQUET_KWARGS = ("columns", "filters")  # keywords the source takes besides its named arguments

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
        self._urlpath = urlpath
        self._storage_options = storage_options or {}
        self._kwargs = parquet_kwargs or {}
        self.metadata = metadata or {}
        self._df = None
        self._init_release(urlpath, partition_key, partition_value, build, manifest)

    def _init_release(
        self,
        urlpath: str,
        partition_key: str | None,
        partition_value: str | None,
        build: str | None,
        manifest: str | None,
    ) -> None:
        """Set the release attributes (shared by this class and the intake driver)."""
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
        """What fetches whole objects at ``url`` (:func:`~biodata_cache.store.open_reader`), and its path."""
        if self._fs_options is None:
            self._fs_options = filesystem_options(self._urlpath, self._storage_options)
        return open_reader(url, self._fs_options)

    def _full_filesystem(self, url: str) -> tuple[Any, str]:
        """The fsspec filesystem of ``url`` (listings, ``open``), and its path."""
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
        fs, path = self._full_filesystem(self._urlpath)
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
        """The table's (unpartitioned) file, fetched whole and parsed with the columns and filters; on S3
        and in a local folder, a file of a release read with filters reads only the row groups that can
        match (:mod:`biodata_cache.parquet_ranges`), from the release's projection when one suits the
        filters."""
        columns, filters = self._kwargs.get("columns"), self._kwargs.get("filters") or None
        if filters and self._build is not None and _flat_filters(filters):
            from biodata_cache.parquet_ranges import read_filtered, reads_row_groups

            if reads_row_groups(fs):
                projected = self._read_projection(columns, filters)
                if projected is not None:
                    return projected
                return read_filtered(
                    fs, path, url, columns=columns, filters=filters, cache_footer=f"-{self._build}." in url
                )
        return fetch(fs, path, url=url, parse=_parquet_parser(url, columns, filters))

    def _read_projection(
        self, columns: list[str] | None, filters: list[tuple[str, str, Any]]
    ) -> pa.Table | None:
        """The answer from the release's projection that suits ``filters`` (``Table.projections``, read by
        ranges), or None: the table declares none that suits them, or the release has none (written
        before projections: its name is then remembered, so a process asks once per release).

        The projection of the release is found by its name (build id and column), not by the catalog:
        an entry of a release without one reads the table's file, as before. A projection that is gone
        (the release moved on) also falls back to the file, whose own 404 then follows the registry.
        Rows come in the order of the table's file (for several values of the projection's column, the
        answer is sorted back to it).
        """
        from biodata_cache import clustered
        from biodata_cache.parquet_ranges import read_filtered
        from biodata_cache.release import projection_file
        from biodata_cache.tables import TABLES_BY_NAME

        assert self._build is not None
        table = TABLES_BY_NAME.get(self._table_name)
        column = clustered.projection_for(table, filters)
        if table is None or column is None:
            return None
        url = self._release_url(projection_file(self._table_name, column, self._build))
        with _ABSENT_LOCK:
            if url in _ABSENT_PROJECTIONS:
                return None
        values = {repr(v) for c, op, v_ in filters if c == column for v in (v_ if op == "in" else [v_])}
        order = next(o for o in table.projections if o[0] == column)
        # One value's rows are in the file's order already when the projection then follows that order.
        reorder = len(values) > 1 or tuple(order[1:]) != tuple(table.clustered_by)
        wanted = columns
        if reorder and columns is not None:
            wanted = list(dict.fromkeys([*columns, *table.clustered_by]))
        fs, path = self._filesystem(url)
        try:
            data = read_filtered(fs, path, url, columns=wanted, filters=filters, cache_footer=True)
        except FileNotFoundError:
            logger.debug("%s: no projection %s; reading the table's file", self._table_name, url)
            with _ABSENT_LOCK:
                if len(_ABSENT_PROJECTIONS) >= 64:
                    _ABSENT_PROJECTIONS.pop(next(iter(_ABSENT_PROJECTIONS)))
                _ABSENT_PROJECTIONS[url] = None
            return None
        if reorder:
            data = clustered.arrange(table, data)
            if columns is not None:
                data = data.select(columns)
        return data

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

        fs, path = self._full_filesystem(url)

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

    def read_arrow(self) -> pa.Table:
        """Read the table (or the one partition) as an arrow table with the declared types.

        Each parquet object is fetched whole in one GET (concurrently for a partitioned table) and
        parsed in memory: one request per file on S3, and HTTP mirrors need no range support. On S3, a
        release's unpartitioned file read with filters is read by ranges instead: its footer (kept per
        process), then only the row groups that can match (:mod:`biodata_cache.parquet_ranges`; from the
        release's projection when one suits the filters); in a local folder, its footer, then only those
        row groups. Objects
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

    def read(self) -> pd.DataFrame:
        """Read the table (or the one partition) into a pandas DataFrame."""
        df = self.read_arrow().to_pandas()
        self._df = df.iloc[:0]
        return df
