"""The declaration of a table: :class:`Table` and its its columns (:class:`Column`), and the column dtypes.

This module imports no third-party package: arrow types are built on demand by :meth:`Table.arrow_schema`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

from biodata_cache import records
from biodata_cache.errors import InvalidInputError

if TYPE_CHECKING:
    import pyarrow as pa

#: Column dtypes a declaration may use, with their arrow spelling.
DTYPES = {
    "string": "string",
    "int64": "int64",
    "float64": "double",
    "bool": "bool",
    "timestamp": "timestamp[us, tz=UTC]",
    "list<string>": "list<string>",
}


def arrow_type(dtype: str) -> pa.DataType:
    """Return the arrow type of a declared dtype (see :data:`DTYPES`)."""
    import pyarrow as pa

    return {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "list<string>": pa.list_(pa.string()),
    }[dtype]


@dataclass(frozen=True)
class Column:
    """One column of a table: name, declared dtype (a key of :data:`DTYPES`) and description."""

    name: str
    dtype: str
    description: str

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"column {self.name!r}: dtype {self.dtype!r} is not one of {list(DTYPES)}")


@dataclass(frozen=True)
class Listing:
    """A listing of the top-level folders of a storage location that a derived table reads.

    Attributes
    ----------
    name
        Identifier of the listing, the key under which ``derive`` receives it.
    description
        What is listed, for the docs.
    variable
        Environment variable that sets the location (any fsspec URL; ``none`` turns the listing off).
    default
        The location listed when the variable is unset and the source is DocDB (the production records
        describe this location); other sources (the sample, files of records) list nothing by default.
    """

    name: str
    description: str
    variable: str
    default: str


@dataclass(frozen=True)
class Listed:
    """What a :class:`Listing` found: the location listed and the names of its top-level folders, or,
    when the location could not be listed, the error (``names`` is then empty and the checks that read
    the listing are not evaluated)."""

    location: str
    names: tuple[str, ...]
    error: str | None = None

    def uri(self, name: str) -> str:
        """The URL of a listed folder (``s3://aind-open-data`` + ``name``)."""
        return f"{self.location.rstrip('/')}/{name}"


@dataclass(frozen=True)
class Table:
    """Declaration of one published table.

    Attributes
    ----------
    name
        Table name; also the file name (``<name>.pqt``) and the catalog entry name.
    description
        One-paragraph description shown in the registry, the catalog and the docs.
    kind
        ``"list"`` for a one-column table of distinct values that the reader returns as a list of
        str, ``"frame"`` for a table read as a DataFrame.
    columns
        The columns, in order. The partition key, if any, is one of them.
    partition_key
        Column whose values split the table into hive partitions (``<key>=<value>/data-<build>.pqt``).
    fields
        Record fields (dotted paths) the table is built from; their union is the source's projection.
    rows
        Pure function from one record to the rows it contributes (see :mod:`biodata_cache.rows`).
    row_columns
        Optional column-wise form of ``rows`` for many records at once: ``(records) -> {column: values}``
        with the same rows in the same order (e.g. :func:`rows.qc_columns`). A build uses it instead of
        ``rows`` where a dict per row would cost more than computing the row (the ``qc`` table).
    record_key
        Column that identifies the record a row came from (``_id``; two records may share an asset name);
        an incremental build replaces a changed record's rows by this key. Rows are ordered by the first
        column, then this key.
    derived_from
        ``(table, column)`` for a table computed from another table after every build: by default the
        distinct non-null values of that column.
    derive
        For a ``derived_from`` table that is not a list of distinct values: pure function from all the
        rows of the ``derived_from`` table (dicts) to this table's rows (e.g. :func:`rows.qc_status_wide`).
    index_of
        The partitioned table this table indexes (computed while that table's partitions are written).
    derive_columns
        The columns of the ``derived_from`` table that ``derive`` reads (default: all of them).
    listings
        Listings of a bucket's top-level folders that ``derive`` also reads (see :class:`Listing`): the
        builder lists each once per build and passes them as ``derive(rows, listings={name: Listed or
        None})`` (``None``: no location configured for that listing).
    asset_listing
        For a table built from a listing of assets' storage: pure function from an ``asset_basics`` row
        (dict) to the folders under the asset's ``location`` to list (``""``: the location itself), or
        None when the asset is not for this table. The builder lists them
        (:mod:`biodata_cache.asset_listing`).
    listed_rows
        For an ``asset_listing`` table: pure function ``(asset_basics rows, source_data rows, listings)``
        to the table's rows, where ``listings`` is a :class:`~biodata_cache.asset_listing.Listings`
        (listing by asset name, and the assets whose listing failed).
    data_file
        A table that is not built from records: a JSON file of the package (path under
        ``biodata_cache/data/``) holding ``columns`` (the declared column names, in order), ``rows`` (lists
        of values) and ``source`` (where the rows come from). Read on every build (:meth:`data_rows`) and
        written only when its content changed.
    custom_input
        A table computed from a custom table of the version being built (``custom(<custom_input>, df)``)
        by ``combine``; not published while that custom table does not exist.
    custom_columns
        Columns the ``custom_input`` table must have (a build fails naming the one it lacks).
    joins
        For a ``custom_input`` table: the table (computed earlier in the same build) whose rows
        ``combine`` receives, e.g. ``asset_basics``.
    combine
        For a ``custom_input`` table: pure function ``(custom rows, rows of the joins table, this
        table's previously published rows) -> rows``.
    clustered_by
        Columns the rows of an unpartitioned table's file are ordered by (nulls last), written in row
        groups of :data:`biodata_cache.clustered.ROW_GROUP_ROWS` rows, so the row-group statistics of the
        first column tell which few row groups hold a value: a filtered read on S3 (or in a local
        folder) reads only those (:mod:`biodata_cache.parquet_ranges`).
    indexed_by
        Columns with a lookup index ``value -> row groups`` in the file's footer (for values scattered
        over the clustered order, e.g. ``project_name``); an index over its size cap is left out (the read
        then fetches every row group: right, only slower).
    names_embed
        ``(name column, clustered column)`` when a name embeds its row's value of the first
        ``clustered_by`` column (AIND: ``<platform>_<subject>_<date>_<time>``): a name is looked up in
        that value's row groups, and the rows whose name does not give their value are listed in the
        footer (an exact lookup, never a guess).
    projections
        Column orders of second copies of an unpartitioned clustered table's file, e.g.
        ``(("project_name", "subject_id", "name"),)``: the same rows ordered by those columns, written by
        the same build next to the file (:func:`biodata_cache.release.projection_file`, listed in the
        registry entry, never in the catalog). A filtered read with an equality filter on a projection's
        first column reads that copy (on S3 and in a local folder), where the column's values are
        contiguous, so its bytes grow with the answer (:mod:`biodata_cache.clustered`).
    """

    name: str
    description: str
    kind: str
    columns: tuple[Column, ...]
    partition_key: str | None = None
    fields: tuple[str, ...] = field(default=())
    rows: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None
    row_columns: Callable[[list[Any]], dict[str, list[Any]]] | None = None
    record_key: str | None = None
    derived_from: tuple[str, str] | None = None
    derive: Callable[..., list[dict[str, Any]]] | None = None
    index_of: str | None = None
    derive_columns: tuple[str, ...] | None = None
    listings: tuple[Listing, ...] = ()
    asset_listing: Callable[[dict[str, Any]], tuple[str, ...] | None] | None = None
    listed_rows: Callable[[list[dict[str, Any]], list[dict[str, Any]], Any], list[dict[str, Any]]] | None = (
        None
    )
    data_file: str | None = None
    custom_input: str | None = None
    custom_columns: tuple[str, ...] = ()
    joins: str | None = None
    combine: (
        Callable[[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]], list[dict[str, Any]]]
        | None
    ) = None
    clustered_by: tuple[str, ...] = ()
    indexed_by: tuple[str, ...] = ()
    names_embed: tuple[str, str] | None = None
    projections: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> list[str]:
        """The column names, in declared order."""
        return [column.name for column in self.columns]

    @property
    def partitioned(self) -> bool:
        """Whether the table is hive-partitioned."""
        return self.partition_key is not None

    @property
    def file_columns(self) -> list[Column]:
        """Columns stored inside the parquet files (a partition key lives in the folder name)."""
        return [c for c in self.columns if c.name != self.partition_key]

    def data_rows(self) -> list[dict[str, Any]]:
        """The rows of a ``data_file`` table, read from the package.

        Raises
        ------
        ValueError
            If the file's ``columns`` are not the declared columns, or a row has another length.
        """
        if self.data_file is None:
            raise ValueError(f"table {self.name!r} is not declared from a data file (data_file=None)")
        document = json.loads(resources.files("biodata_cache").joinpath("data", self.data_file).read_text())
        columns, rows = document.get("columns"), document.get("rows")
        if columns != self.column_names or not isinstance(rows, list):
            raise ValueError(
                f"data file {self.data_file!r} of table {self.name!r} must hold 'columns' equal to the "
                f"declared columns {self.column_names} and a list of 'rows'; found columns {columns!r}. "
                f"Fix the file or the declaration."
            )
        bad = [i for i, row in enumerate(rows) if not isinstance(row, list) or len(row) != len(columns)]
        if bad:
            raise ValueError(
                f"data file {self.data_file!r} of table {self.name!r}: row {bad[0]} is not a list of "
                f"{len(columns)} values ({rows[bad[0]]!r}); fix the file."
            )
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def arrow_schema(self, *, include_partition_key: bool = True) -> pa.Schema:
        """The explicit arrow schema every file of this table is written and read with."""
        import pyarrow as pa

        columns = self.columns if include_partition_key else self.file_columns
        return pa.schema([pa.field(c.name, arrow_type(c.dtype)) for c in columns])

    def check_columns(self, columns: list[str] | tuple[str, ...] | None) -> list[str] | None:
        """Validate a user's column selection against the declaration.

        Raises
        ------
        InvalidInputError
            If ``columns`` is not a list of str, is empty, repeats a name or names a column the table
            does not have.
        """
        if columns is None:
            return None
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise InvalidInputError(
                f"columns must be a list of column names of table {self.name!r}, got {columns!r}."
            )
        if not columns or len(set(columns)) != len(columns):
            raise InvalidInputError(
                f"columns must name at least one column of table {self.name!r}, each once; got {columns!r}."
            )
        unknown = [c for c in columns if c not in self.column_names]
        if unknown:
            raise InvalidInputError(
                f"table {self.name!r} has no column {', '.join(map(repr, unknown))}; its columns are: "
                f"{', '.join(self.column_names)}."
            )
        return list(columns)


#: Columns many tables share: the record a row came from and when it last changed.
ID_COLUMN = Column("_id", "string", "DocDB record id.")
#: ``_id`` in tables with several rows per record (the key an incremental build replaces rows by).
ROW_RECORD_COLUMN = Column("_id", "string", "DocDB id of the record the row comes from.")
LAST_MODIFIED_COLUMN = Column(
    "_last_modified",
    "timestamp",
    "When the record last changed in DocDB (_last_modified, else v1 last_modified; UTC).",
)


def record_paths(*values: str) -> tuple[str, ...]:
    """The record paths (all shapes) a table's values are read from (:data:`records.PROJECTIONS`): a
    declaration's ``fields``."""
    return tuple(dict.fromkeys(path for value in values for path in records.PROJECTIONS[value]))
