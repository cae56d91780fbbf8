"""The Intake driver of biodata-cache catalogs (registered as ``biodata_parquet``).

A small subclass of intake-parquet's ``ParquetSource``. It exists because, on intake 2.0.9 /
intake-parquet 0.3.0, ``discover()`` raises ``KeyError: 'extra_metadata'`` with the pyarrow engine (and
otherwise needs fastparquet), and hive partitions with numeric-looking values (AIND subject ids such as
``692478``) are inferred as integers. This driver reads with pyarrow, types partition keys as strings,
answers ``discover()`` from the parquet footer or the catalog metadata without reading data, and opens a
single partition directly when ``partition_value`` is given: one file, no listing of the table.
"""

from __future__ import annotations

import urllib.parse
import warnings
from typing import TYPE_CHECKING, Any

from intake.catalog import Catalog
from intake.catalog.local import YAMLFileCatalog
from intake_parquet.source import ParquetSource

from biodata_cache._version import __version__
from biodata_cache.store import cat_small

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd
    import pyarrow as pa

PARTITION_FILE = "data.pqt"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def partition_folder(key: str, value: str) -> str:
    """Folder name of a hive partition; the value is percent-escaped so ``/``, ``=`` never appear raw."""
    return f"{key}={urllib.parse.quote(value, safe='')}"


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


def _parse(data: bytes, columns: list[str] | None, filters: Any) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.read_table(pa.BufferReader(data), columns=columns, filters=filters)


def _partition_value(file: str, key: str) -> str | None:
    folder = file.rstrip("/").rsplit("/", 2)[-2]
    value = urllib.parse.unquote(folder[len(key) + 1 :])
    return None if value == NULL_PARTITION else value


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


class BiodataParquetSource(ParquetSource):
    """Parquet table (one file, or a hive-partitioned folder) of a biodata-cache store.

    Parameters
    ----------
    urlpath
        URL of the table's file (``.../asset_basics.pqt``) or partitioned folder (``.../qc``).
    partition_key
        Column whose values name the partition folders (``subject_id``), or None.
    partition_value
        Read only this partition (opens ``<urlpath>/<key>=<value>/data.pqt`` directly). Empty or None
        reads the whole table.
    metadata
        Catalog metadata; ``columns`` (name, dtype, description), ``rows`` and ``partitions`` are used.
    storage_options
        fsspec options for the urlpath.
    **parquet_kwargs
        ``columns`` (list of names) and ``filters`` (pyarrow DNF filters) are pushed down to parquet.
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
        **parquet_kwargs: Any,
    ) -> None:
        super().__init__(urlpath, metadata=metadata, storage_options=storage_options, **parquet_kwargs)
        self._partition_key = partition_key or None
        self._partition_value = str(partition_value) if partition_value not in (None, "") else None
        if self._partition_value is not None and self._partition_key is None:
            raise ValueError(f"{urlpath} is not partitioned; it takes no partition value")

    # -- helpers ----------------------------------------------------------------------------------

    @property
    def _declared(self) -> list[dict[str, str]]:
        return list((self.metadata or {}).get("columns") or [])

    def _declared_schema(self) -> pa.Schema:
        import pyarrow as pa

        from biodata_cache.tables import arrow_type

        return pa.schema([pa.field(c["name"], arrow_type(c["dtype"])) for c in self._declared])

    def _partition_url(self) -> str:
        assert self._partition_key is not None and self._partition_value is not None
        folder = partition_folder(self._partition_key, self._partition_value)
        return f"{self._urlpath.rstrip('/')}/{folder}/{PARTITION_FILE}"

    def _filesystem(self, url: str) -> tuple[Any, str]:
        import fsspec.core

        return fsspec.core.url_to_fs(url, **self._storage_options)

    def _hive_partitioning(self) -> Any:
        import pyarrow as pa
        import pyarrow.dataset as ds

        return ds.partitioning(pa.schema([(self._partition_key, pa.string())]), flavor="hive")

    # -- intake API -------------------------------------------------------------------------------

    def _get_schema(self):
        from intake.source import base

        meta = self.metadata or {}
        dtype = {c["name"]: c["dtype"] for c in self._declared} or None
        wanted = self._kwargs.get("columns")
        ncols = len(wanted) if wanted else len(self._declared) or None
        if self._partition_key and self._partition_value is None:
            rows, parts = meta.get("rows"), meta.get("partitions")
        else:
            import pyarrow.parquet as pq

            url = self._partition_url() if self._partition_value is not None else self._urlpath
            fs, path = self._filesystem(url)
            try:
                footer = pq.ParquetFile(path, filesystem=fs).metadata
                rows, parts = footer.num_rows, max(footer.num_row_groups, 1)
            except FileNotFoundError:
                if self._partition_value is None:
                    raise
                rows, parts = 0, 1
        return base.Schema(dtype=dtype, shape=(rows, ncols), npartitions=parts, extra_metadata=dict(meta))

    def read_arrow(self) -> pa.Table:
        """Read the table (or the one partition) as an arrow table with the declared types.

        Each parquet object is fetched whole in one GET (concurrently for a partitioned table) and
        parsed in memory: one request per file on S3, and HTTP mirrors need no range support.
        """
        columns = self._kwargs.get("columns")
        filters = self._kwargs.get("filters") or None
        key = self._partition_key
        file_columns = [c for c in columns if c != key] if columns and key else columns
        if file_columns == []:
            # Only the key was asked for: read one small column to know each file's row count.
            file_columns = [c["name"] for c in self._declared if c["name"] != key][:1] or None
        if self._partition_value is not None:
            fs, path = self._filesystem(self._partition_url())
            try:
                table = _parse(cat_small(fs, path), file_columns, filters)
            except FileNotFoundError:
                # A partition that does not exist holds no rows: the key has no data in this table.
                table = self._empty_file_table(file_columns)
            table = _with_key(table, key, [(self._partition_value, table.num_rows)])
        elif key:
            fs, path = self._filesystem(self._urlpath)
            folders = [
                f for f in fs.ls(path, detail=False) if f.rstrip("/").rsplit("/", 1)[-1].startswith(key + "=")
            ]
            files = [f"{f.rstrip('/')}/{PARTITION_FILE}" for f in sorted(folders)]
            contents = fs.cat(files, on_error="raise") if files else {}
            parts, values = [], []
            for file in files:
                part = _parse(contents[file], file_columns, filters)
                parts.append(part)
                values.append((_partition_value(file, key), part.num_rows))
            table = _concat(parts) if parts else self._empty_file_table(file_columns)
            table = _with_key(table, key, values)
        else:
            fs, path = self._filesystem(self._urlpath)
            table = _parse(fs.cat_file(path), columns, filters)
        order = columns or [c["name"] for c in self._declared] or table.column_names
        return table.select([c for c in order if c in table.column_names])

    def _empty_file_table(self, columns: list[str] | None) -> pa.Table:
        table = self._declared_schema().empty_table()
        if self._partition_key in table.column_names:
            table = table.drop_columns([self._partition_key])
        return table.select(columns) if columns is not None else table

    configure_new = _quietly(ParquetSource.configure_new)
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
        """A lazy Dask DataFrame: one partition per file (or row group)."""
        import dask.dataframe as dd

        kwargs = dict(self._kwargs)
        kwargs.pop("engine", None)
        if self._partition_value is not None:
            key = self._partition_key
            if kwargs.get("columns"):
                kwargs["columns"] = [c for c in kwargs["columns"] if c != key]
            frame = dd.read_parquet(self._partition_url(), storage_options=self._storage_options, **kwargs)
            frame = frame.assign(**{key: self._partition_value})
            frame[key] = frame[key].astype("string[pyarrow]")
            order = kwargs.get("columns") or [c["name"] for c in self._declared]
            frame = frame[[c for c in order if c in frame.columns] + ([key] if key not in order else [])]
        else:
            dataset = {"partitioning": self._hive_partitioning()} if self._partition_key else {}
            frame = dd.read_parquet(
                self._urlpath,
                storage_options=self._storage_options,
                parquet_file_extension=(".pqt", ".parquet"),
                dataset=dataset,
                **kwargs,
            )
        self._df = frame
        return frame


class HtmlCatalogMixin:
    """Displays an intake catalog as an HTML table of its entries.

    intake 2.0.9 shows catalogs only as YAML, and its ``_ipython_display_`` pre-empts other formatters;
    this takes over the display with a table of entries (name, description, rows, columns, partition
    key, parameters, build time).
    """

    _get_entry = _quietly(Catalog._get_entry)

    def _entry_rows(self) -> list[dict[str, Any]]:
        from biodata_cache.html import entry_metadata

        rows = []
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_SHELL_WARNING)
            for name, entry in self._get_entries().items():
                described = entry.describe()
                parameters = [p["name"] for p in described.get("user_parameters") or []]
                metadata = described.get("metadata") or {}
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
    """A biodata-cache catalog file (registered as ``biodata_catalog``) that displays as HTML."""

    name = "biodata_catalog"
