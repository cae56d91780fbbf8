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
import threading
import warnings
from typing import TYPE_CHECKING, Any

from intake.catalog import Catalog
from intake.catalog.local import YAMLFileCatalog, get_dir
from intake.source.base import NoEntry
from intake_parquet.source import ParquetSource

from biodata_cache._version import __version__
from biodata_cache.config import redacted
from biodata_cache.errors import ReleaseChangedError
from biodata_cache.partitions import folder_name
from biodata_cache.release_source import (  # noqa: F401  (RELEASE_ATTEMPTS, _MANIFESTS: moved, kept importable)
    _MANIFESTS,
    RELEASE_ATTEMPTS,
    ReleaseSource,
    _ReleaseMovedError,
    _with_key,
)
from biodata_cache.store import fetch, filesystem_options, open_filesystem

logger = logging.getLogger(__name__)
_DASK_CONFIG_LOCK = threading.Lock()

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

_SHELL_WARNING = "Shell command not executed"


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


class BiodataParquetSource(SafeDisplayMixin, ReleaseSource, ParquetSource):
    """Parquet table (one file, or a hive-partitioned folder) of a biodata-cache store.

    The reading logic is :class:`~biodata_cache.release_source.ReleaseSource`'s (release following,
    build checks, partitions, manifest); this class adds intake's ``DataSource`` API: ``discover()``,
    ``to_dask()``, entry parameters (``configure_new``), display.

    Parameters: those of :class:`~biodata_cache.release_source.ReleaseSource` (``urlpath``,
    ``partition_key``, ``partition_value``, ``metadata``, ``storage_options``, ``build``, ``manifest``,
    and ``columns`` / ``filters``; any other keyword raises
    :class:`~biodata_cache.errors.InvalidInputError`).
    """

    name = "biodata_parquet"
    version = __version__
    container = "dataframe"
    partition_access = True

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
        ParquetSource.__init__(
            self, urlpath, metadata=metadata, storage_options=storage_options, **parquet_kwargs
        )
        self._init_release(urlpath, partition_key, partition_value, build, manifest)

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
