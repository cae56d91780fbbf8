"""Clustered parquet files: the layout of tables declared with ``clustered_by`` and their footer index.

A clustered table's file is ordered by its ``clustered_by`` columns and written in row groups of
:data:`ROW_GROUP_ROWS` rows, with the row-group statistics parquet writes anyway (min / max per column).
Its footer (key-value metadata :data:`INDEX_METADATA`, immutable like the build-named file) also holds a
small lookup index: for each ``indexed_by`` column, ``value -> [row groups]``, and, for a table whose
names embed the clustered value (``names_embed``), the names that do not give their row's value.

A table may also declare ``projections``: second copies of its file ordered by other columns
(:func:`projection_bytes`; ``asset_basics`` by ``project_name, subject_id, name``), in row groups sized
to the file (:func:`projection_row_group_rows`). A project's assets are spread over every subject id in
the file, so the index sends a read of one project to most row groups; in the projection they are
contiguous and the row-group statistics of ``project_name`` choose only the row groups that hold them.
:func:`projection_for` tells which copy a read's filters should use.

:func:`row_groups_to_read` turns a read's filters into the row groups that can hold a matching row, from
the index and the statistics; the read then fetches only those and applies the filters exactly. The
selection may only be too wide, never too narrow: a value it cannot place (no statistics, an index left
out for its size) selects every row group.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biodata_cache.tables.declaration import Table

logger = logging.getLogger(__name__)

#: Rows per row group of a clustered file: at 1M assets one row group is 1.6% of the file.
ROW_GROUP_ROWS = 16384
#: A projection is written in about this many row groups (of at most :data:`ROW_GROUP_ROWS` rows and at
#: least a sixteenth of that): a read of one project fetches about its share of the file at 100k assets
#: too, while the footer (about 3 kB per row group) stays near 1% of the file.
PROJECTION_ROW_GROUPS = 32
#: Footer key of the lookup index (JSON).
INDEX_METADATA = b"biodata_cache.index"
#: An index of one column larger than this (JSON bytes) is left out: reads of it fetch every row group.
MAX_INDEX_BYTES = 512 * 1024
_EQUALITY = ("==", "=", "in")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


def embedded_value(name: str | None) -> str | None:
    """The value an AIND asset name embeds before its date: ``"692478"`` for
    ``"ecephys_692478_2024-01-02_10-00-00"`` (and for its derived ``..._sorted_2024-...``); None when
    the name has no ``_<value>_<YYYY-MM-DD>`` part."""
    if not name:
        return None
    parts = name.split("_")
    for i in range(1, len(parts)):
        if _DATE.match(parts[i]):
            return parts[i - 1] or None
    return None


def arrange(table: Table, data: pa.Table) -> pa.Table:
    """``data`` ordered as the table declares (``clustered_by``, nulls last)."""
    if not table.clustered_by or data.num_rows == 0:
        return data
    return data.sort_by([(c, "ascending", "at_end") for c in table.clustered_by])


def lookup_index(table: Table, data: pa.Table, row_group_rows: int) -> dict[str, Any]:
    """The footer index of ``data`` (already arranged) written in row groups of ``row_group_rows``."""
    index: dict[str, Any] = {"row_group_rows": row_group_rows, "columns": {}}
    for column in table.indexed_by:
        groups: dict[str, list[int]] = {}
        for row, value in enumerate(data.column(column).to_pylist()):
            if value is not None:
                found = groups.setdefault(value, [])
                if not found or found[-1] != row // row_group_rows:
                    found.append(row // row_group_rows)
        if len(json.dumps(groups)) <= MAX_INDEX_BYTES:
            index["columns"][column] = groups
        else:
            logger.info("%s: the index of %s is over %d bytes; left out", table.name, column, MAX_INDEX_BYTES)
    if table.names_embed is not None:
        name_column, value_column = table.names_embed
        exceptions: dict[str, list[int]] = {}
        names, values = data.column(name_column).to_pylist(), data.column(value_column).to_pylist()
        for row, (name, value) in enumerate(zip(names, values, strict=True)):
            if name is not None and (value is None or embedded_value(name) != value):
                found = exceptions.setdefault(name, [])
                if not found or found[-1] != row // row_group_rows:
                    found.append(row // row_group_rows)
        if len(json.dumps(exceptions)) <= MAX_INDEX_BYTES:
            index["names"] = {"column": name_column, "value_column": value_column, "exceptions": exceptions}
        else:
            logger.info(
                "%s: %d names do not embed their %s; name index left out",
                table.name,
                len(exceptions),
                value_column,
            )
    return index


def parquet_bytes(table: Table, data: pa.Table, *, row_group_rows: int | None = None) -> bytes:
    """``data`` as one zstd parquet file in the declared layout (a table without ``clustered_by`` is
    written as :meth:`biodata_cache.store.Store.write_parquet` writes it)."""
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    if not table.clustered_by:
        pq.write_table(data, buffer, compression="zstd")
        return buffer.getvalue()
    rows = row_group_rows or ROW_GROUP_ROWS
    data = arrange(table, data)
    with pq.ParquetWriter(buffer, data.schema, compression="zstd") as writer:
        writer.write_table(data, row_group_size=rows)
        writer.add_key_value_metadata({INDEX_METADATA: json.dumps(lookup_index(table, data, rows)).encode()})
    return buffer.getvalue()


def projection_bytes(table: Table, data: pa.Table, columns: Sequence[str]) -> bytes:
    """``data`` as the projection of ``table`` ordered by ``columns`` (one of ``table.projections``): the
    clustered layout with ``columns`` as the order, no lookup index (the row-group statistics of the
    first column choose the row groups) and the same schema metadata (the build id) as the table's file.
    """
    import dataclasses

    layout = dataclasses.replace(table, clustered_by=tuple(columns), indexed_by=(), names_embed=None)
    return parquet_bytes(layout, data, row_group_rows=projection_row_group_rows(data.num_rows))


def projection_row_group_rows(rows: int) -> int:
    """Rows per row group of a projection of ``rows`` rows (see :data:`PROJECTION_ROW_GROUPS`)."""
    wanted = -(-rows // PROJECTION_ROW_GROUPS)
    return max(ROW_GROUP_ROWS // 16, min(ROW_GROUP_ROWS, wanted), 1)


def projection_for(table: Table | None, filters: Sequence[tuple[str, str, Any]] | None) -> str | None:
    """The first column of the projection of ``table`` that a read with ``filters`` (an AND of
    ``(column, op, value)``) should use, or None.

    A projection is used when the read names values (``==``/``in``) of its first column and none of the
    columns the table's own file finds in one or two row groups (its first ``clustered_by`` column and,
    with ``names_embed``, the names): those reads stay on the file.
    """
    if table is None or not table.projections or not filters:
        return None
    equal = {column for column, operator, _ in filters if operator in _EQUALITY}
    narrow = {*table.clustered_by[:1], *(table.names_embed or ())[:1]}
    if equal & narrow:
        return None
    return next((order[0] for order in table.projections if order[0] in equal), None)


def _leaf_names(metadata: pq.FileMetaData) -> list[str]:
    """The top-level column of each leaf column of the file."""
    schema = metadata.schema
    return [schema.column(j).path.split(".")[0] for j in range(metadata.num_columns)]


def _statistics_may_hold(metadata: pq.FileMetaData, leaf: int, group: int, value: Any) -> bool:
    statistics = metadata.row_group(group).column(leaf).statistics
    if statistics is None:
        return True
    if statistics.has_null_count and statistics.null_count == metadata.row_group(group).num_rows:
        return False  # every value of the row group is null
    if not statistics.has_min_max or not isinstance(value, str):
        return True
    low, high = statistics.min, statistics.max
    if not isinstance(low, str) or not isinstance(high, str):
        return True
    return low <= value <= high


def _groups_by_statistics(metadata: pq.FileMetaData, column: str, values: Sequence[Any]) -> set[int]:
    leaves = [j for j, name in enumerate(_leaf_names(metadata)) if name == column]
    every = set(range(metadata.num_row_groups))
    if len(leaves) != 1:  # a nested column: its statistics are of the leaves
        return every
    return {g for g in every for value in values if _statistics_may_hold(metadata, leaves[0], g, value)}


def row_groups_to_read(
    metadata: pq.FileMetaData, filters: Sequence[tuple[str, str, Any]] | None
) -> list[int]:
    """The row groups of a file that can hold a row matching ``filters`` (AND of ``(column, op, value)``).

    Equality and ``in`` filters narrow the row groups: through the footer index for indexed columns and
    names, else through the row-group statistics; other operators select every row group.
    """
    every = set(range(metadata.num_row_groups))
    raw = (metadata.metadata or {}).get(INDEX_METADATA)
    index = json.loads(raw) if raw else {}
    columns, names = index.get("columns", {}), index.get("names")
    selected = every
    for column, operator, value in filters or ():
        if operator not in _EQUALITY:
            continue
        values = list(value) if operator == "in" else [value]
        if column in columns:
            groups = {g for v in values for g in columns[column].get(v, ())}
        elif names is not None and column == names["column"]:
            embedded = [e for e in (embedded_value(v) for v in values if isinstance(v, str)) if e is not None]
            groups = _groups_by_statistics(metadata, names["value_column"], embedded) if embedded else set()
            groups |= {g for v in values for g in names["exceptions"].get(v, ())}
        else:
            groups = _groups_by_statistics(metadata, column, values)
        selected = selected & groups
    return sorted(selected)
