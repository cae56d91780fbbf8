"""Filtered reads of one parquet object on S3 (through s3fs or the anonymous HTTP client) by byte
ranges: the footer, then only the row groups that can match.

1. The footer is fetched with one suffix-range GET (``Range: bytes=-N``: the answer's ``Content-Range``
   gives the object's size, so no HEAD), a second one only if the footer is longer than ``N``. Footers
   of build-named files never change: they are kept per process (:data:`FOOTER_CACHE_SIZE` files, by
   URL), so a warm read sends only the row groups' GETs. Files without a build id in their name are
   never kept. Bytes that came with the footer (all of a file under ``N``) are not fetched again.
2. :func:`biodata_cache.clustered.row_groups_to_read` chooses the row groups from the footer index and
   statistics; their byte spans (only the requested and filtered columns' chunks) are fetched
   concurrently in at most :data:`MAX_RANGE_GETS` GETs (adjacent spans in one; the smallest gaps are
   bridged first).
3. pyarrow decodes those row groups from the fetched bytes (a sparse file that serves only them) and the
   filters are applied exactly in memory.

A 404 is ``FileNotFoundError`` (the caller follows the registry); a body that breaks off or comes back
shorter than asked is fetched again (:func:`biodata_cache.store.with_retries`).

A local file (read through :class:`biodata_cache.store.LocalReader`) is read the same way without
ranges: its footer from the open file, then only the chosen row groups
(``ParquetFile.read_row_groups``), instead of the whole file.
"""

from __future__ import annotations

import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from biodata_cache.clustered import INDEX_METADATA, row_groups_to_read
from biodata_cache.store import DamagedObjectError, translate_errors, with_retries

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

#: Bytes asked for by the footer's suffix-range GET (a clustered footer at 1M assets is about 90 kB).
FOOTER_GUESS = 256 * 1024
#: Most range GETs a read sends for its row groups.
MAX_RANGE_GETS = 2
#: Parsed footers kept per process (build-named files only).
FOOTER_CACHE_SIZE = 32
_FOOTERS: OrderedDict[str, Footer] = OrderedDict()
_FOOTERS_LOCK = threading.Lock()


@dataclass(frozen=True)
class Footer:
    """A parquet object's size and parsed footer, with the object's last bytes as fetched (``tail``;
    empty once kept: a small file's suffix GET is the whole file, read without another GET)."""

    size: int
    metadata: pq.FileMetaData
    tail: bytes = b""


async def _get_range(fs: Any, path: str, byte_range: str) -> tuple[bytes, int]:
    """One ranged GET of an S3 object: the bytes and the object's size (from ``Content-Range``)."""
    from biodata_cache.store import s3_get_response

    data, response = await s3_get_response(fs, path, byte_range)
    total = (response.get("ContentRange") or "").rpartition("/")[2]
    return data, int(total) if total.isdigit() else len(data)  # no Content-Range: the whole object came


def reads_ranges(fs: Any) -> bool:
    """Whether reads through ``fs`` go by ranges: S3, through s3fs or the anonymous HTTP client."""
    from biodata_cache.s3_http import AnonymousS3Reader
    from biodata_cache.store import is_s3

    return isinstance(fs, AnonymousS3Reader) or is_s3(fs)


def reads_row_groups(fs: Any) -> bool:
    """Whether a filtered read through ``fs`` can read only the chosen row groups: S3 (by ranges) or a
    local file (:class:`biodata_cache.store.LocalReader`)."""
    from biodata_cache.store import LocalReader

    return isinstance(fs, LocalReader) or reads_ranges(fs)


def _anonymous(fs: Any) -> bool:
    from biodata_cache.s3_http import AnonymousS3Reader

    return isinstance(fs, AnonymousS3Reader)


def _fetch_range(fs: Any, path: str, byte_range: str) -> tuple[bytes, int]:
    """One ranged GET through either client: the bytes and the object's size."""
    if _anonymous(fs):
        return fs.get_range(path, byte_range)
    return _sync(fs, _get_range(fs, path, byte_range))


def _sync(fs: Any, coroutine: Any) -> Any:
    from fsspec.asyn import sync

    return sync(fs.loop, lambda: coroutine)


def _get_ranges(fs: Any, path: str, url: str, spans: list[tuple[int, int]]) -> list[bytes]:
    """The bytes of each ``(start, end)`` span (end exclusive), fetched concurrently; retried whole."""

    async def get_all() -> list[bytes]:
        import asyncio

        answers = await asyncio.gather(*(_get_range(fs, path, f"bytes={a}-{b - 1}") for a, b in spans))
        return [data for data, _ in answers]

    def attempt() -> list[bytes]:
        if _anonymous(fs):
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(len(spans)) as pool:
                parts = list(
                    pool.map(lambda span: fs.get_range(path, f"bytes={span[0]}-{span[1] - 1}")[0], spans)
                )
        else:
            parts = _sync(fs, get_all())
        for (start, end), data in zip(spans, parts, strict=True):
            if len(data) != end - start:
                raise DamagedObjectError(f"{url}: bytes {start}-{end - 1} came back as {len(data)} bytes")
        return parts

    with translate_errors(url):
        return with_retries(attempt, what=url, transport=False)


def _parse_footer(url: str, tail: bytes, size: int) -> pq.FileMetaData | int:
    """The footer parsed from the object's last bytes, or the number of bytes it needs if ``tail`` is
    too short."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if len(tail) < 12 or tail[-4:] != b"PAR1":
        raise DamagedObjectError(f"{url} is not a parquet file ({size} bytes, no parquet footer)")
    needed = int.from_bytes(tail[-8:-4], "little") + 8
    if needed > size - 4:
        raise DamagedObjectError(f"{url}: its footer length ({needed} bytes) exceeds the file ({size} bytes)")
    if needed > len(tail):
        return needed
    try:
        return pq.read_metadata(pa.BufferReader(tail[-needed:]))
    except (OSError, pa.ArrowInvalid) as error:
        raise DamagedObjectError(f"{url} has no readable parquet footer: {error}") from error


def read_footer(fs: Any, path: str, url: str, *, cache: bool) -> Footer:
    """The footer of the S3 object at ``path`` (one suffix-range GET, two for a footer over
    :data:`FOOTER_GUESS`); kept in the process when ``cache`` (the file's name carries its build)."""
    if cache:
        with _FOOTERS_LOCK:
            found = _FOOTERS.get(url)
            if found is not None:
                _FOOTERS.move_to_end(url)
                return found

    def attempt() -> Footer:
        tail, size = _fetch_range(fs, path, f"bytes=-{FOOTER_GUESS}")
        parsed = _parse_footer(url, tail, size)
        if isinstance(parsed, int):
            tail, size = _fetch_range(fs, path, f"bytes=-{parsed}")
            parsed = _parse_footer(url, tail, size)
            if isinstance(parsed, int):
                raise DamagedObjectError(f"{url}: its footer did not come back whole")
        return Footer(size=size, metadata=parsed, tail=tail)

    with translate_errors(url):
        footer = with_retries(attempt, what=url, transport=False)
    if cache:
        with _FOOTERS_LOCK:
            _FOOTERS[url] = Footer(size=footer.size, metadata=footer.metadata)
            while len(_FOOTERS) > FOOTER_CACHE_SIZE:
                _FOOTERS.popitem(last=False)
    return footer


def forget_footer(url: str) -> None:
    """Drop a kept footer (its file is about to be removed or was found gone)."""
    with _FOOTERS_LOCK:
        _FOOTERS.pop(url, None)


class _SparseFile(io.RawIOBase):
    """A read-only file of ``size`` bytes that serves reads inside the fetched spans only."""

    def __init__(self, size: int, spans: list[tuple[int, bytes]]) -> None:
        self._size, self._spans, self._position = size, spans, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._position, 2: self._size}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def size(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        start = self._position
        end = self._size if n is None or n < 0 else min(start + n, self._size)
        for first, data in self._spans:
            if first <= start and end <= first + len(data):
                self._position = end
                return data[start - first : end - first]
        raise OSError(f"bytes {start}-{end} of the file were not fetched (a bug in the ranged read)")


def _chunk_span(metadata: pq.FileMetaData, group: int, leaves: list[int]) -> tuple[int, int]:
    """Byte span ``(start, end)`` of the given leaf columns' chunks in one row group."""
    starts, ends = [], []
    row_group = metadata.row_group(group)
    for leaf in leaves:
        chunk = row_group.column(leaf)
        start = chunk.data_page_offset
        if chunk.has_dictionary_page and chunk.dictionary_page_offset is not None:
            start = min(start, chunk.dictionary_page_offset)
        starts.append(start)
        ends.append(start + chunk.total_compressed_size)
    return min(starts), max(ends)


def _merged(spans: list[tuple[int, int]], most: int) -> list[tuple[int, int]]:
    """Adjacent spans joined, then the smallest gaps bridged until at most ``most`` remain."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    while len(merged) > most:
        i = min(range(len(merged) - 1), key=lambda k: merged[k + 1][0] - merged[k][1])
        merged[i : i + 2] = [(merged[i][0], merged[i + 1][1])]
    return merged


def read_filtered(
    fs: Any,
    path: str,
    url: str,
    *,
    columns: list[str] | None,
    filters: Sequence[tuple[str, str, Any]],
    cache_footer: bool,
) -> pa.Table:
    """The rows of the parquet object at ``path`` (on S3, or a local file) that match ``filters``,
    reading only the row groups that can hold them.

    The result equals ``pq.read_table(whole object, columns=columns, filters=filters)``, with the file's
    schema metadata (its build id) but not its lookup index.

    Raises
    ------
    FileNotFoundError
        If the object does not exist.
    DamagedObjectError, StoreError
        See :func:`biodata_cache.store.translate_errors`.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biodata_cache.store import LocalReader

    if isinstance(fs, LocalReader):
        return _read_local(path, url, columns=columns, filters=filters)
    footer = read_footer(fs, path, url, cache=cache_footer)
    metadata = footer.metadata
    groups = row_groups_to_read(metadata, filters)
    wanted, leaves = _wanted(metadata, columns, filters)
    logger.debug("%s: reading %d of %d row groups", url, len(groups), metadata.num_row_groups)
    file = None
    if groups and leaves:
        fetched = footer.size - len(footer.tail)  # bytes from here on came with the footer
        spans = _merged([_chunk_span(metadata, g, leaves) for g in groups], MAX_RANGE_GETS)
        missing = [(a, b) for a, b in spans if a < fetched]
        parts = _get_ranges(fs, path, url, missing) if missing else []
        held = [(a, data) for (a, _), data in zip(missing, parts, strict=True)]
        source = _SparseFile(footer.size, [*held, (fetched, footer.tail)])
        # pre_buffer=False: pyarrow then reads each column chunk at its offsets; pre-buffering would
        # coalesce chunks of nearby row groups into reads across bytes that were not fetched.
        file = pq.ParquetFile(pa.PythonFile(source, mode="r"), metadata=metadata, pre_buffer=False)
    return _answer(file, metadata, groups if leaves else [], wanted, columns, filters)


def _wanted(
    metadata: pq.FileMetaData, columns: list[str] | None, filters: Sequence[tuple[str, str, Any]]
) -> tuple[list[str], list[int]]:
    """The columns a read decodes (requested and filtered) and their leaf column indexes."""
    schema = metadata.schema.to_arrow_schema()
    wanted = list(dict.fromkeys([*(columns or schema.names), *(c for c, _, _ in filters)]))
    leaf_tops = [metadata.schema.column(j).path.split(".")[0] for j in range(metadata.num_columns)]
    return wanted, [j for j, top in enumerate(leaf_tops) if top in wanted]


def _answer(
    file: pq.ParquetFile | None,
    metadata: pq.FileMetaData,
    groups: list[int],
    wanted: list[str],
    columns: list[str] | None,
    filters: Sequence[tuple[str, str, Any]],
) -> pa.Table:
    """Decode ``groups`` of ``file`` (none: an empty table), apply ``filters`` exactly, keep
    ``columns`` and the file's schema metadata without its lookup index."""
    import pyarrow.parquet as pq

    schema = metadata.schema.to_arrow_schema()
    if file is not None and groups:
        table = file.read_row_groups(groups, columns=wanted, use_threads=False)
    else:
        table = schema.empty_table().select(wanted)
    table = table.filter(pq.filters_to_expression([list(filters)]))
    if columns is not None:
        table = table.select(columns)
    kept = {k: v for k, v in (schema.metadata or {}).items() if k != INDEX_METADATA}
    return table.replace_schema_metadata(kept or None)


def _read_local(
    path: str, url: str, *, columns: list[str] | None, filters: Sequence[tuple[str, str, Any]]
) -> pa.Table:
    """:func:`read_filtered` of a local file: its footer, then only the chosen row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open(path, "rb") as handle:  # FileNotFoundError: the caller follows the registry
        try:
            file = pq.ParquetFile(handle)
        except (OSError, pa.ArrowInvalid) as error:
            raise DamagedObjectError(f"{url} has no readable parquet footer: {error}") from error
        metadata = file.metadata
        groups = row_groups_to_read(metadata, filters)
        wanted, leaves = _wanted(metadata, columns, filters)
        logger.debug("%s: reading %d of %d row groups", url, len(groups), metadata.num_row_groups)
        try:
            return _answer(file, metadata, groups if leaves else [], wanted, columns, filters)
        except (OSError, pa.ArrowInvalid) as error:
            raise DamagedObjectError(f"{url} is not a readable parquet file: {error}") from error
