"""Build every table from a source in one pass and publish it (the nightly job's entry point).

:func:`update_all_tables` reads the source once and feeds every declared table. It is incremental by
default: the version folder keeps a build state (``_build/state.json`` and ``_build/records.pqt``: each
record's id, name, change marker (``_last_modified``, v1 ``last_modified``) and subject). DocDB's id list
tells which records changed or were deleted since and only those are fetched; a file (no index) is read
once and compared record by record. Only the tables and partitions whose content changed are rewritten:
``qc`` through its lineage selection, every other partitioned table through one generic path
(:func:`_write_partitioned`, with a record -> partitions index in the build state).

biodata-cache 0.42's entry points are accepted: ``update_all_tables(fast=, slow=)`` (every table is built
whatever they say) and :func:`run_sync_job` (a 0.42 job name, or ``BIODATA_CACHE_SYNC_JOB``: one build of
every table).

Memory stays bounded: rows are kept as compact arrow tables, and QC rows (the bulk) are spilled to local
temporary files in hash buckets of subject ids and written one bucket at a time.

Nothing is written to the store until every unpartitioned table has been computed; then data files are
written, then the registry and catalogs (DESIGN §2), then the build state. A build that fails leaves the
previous registry and catalog in place, pointing at files that exist.
"""

from __future__ import annotations

import collections
import collections.abc
import contextlib
import dataclasses
import gc
import itertools
import logging
import os
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from biodata_cache import asset_listing, config
from biodata_cache.errors import (
    BiodataCacheError,
    InvalidInputError,
    RecordError,
    SourceError,
    StoreAccessError,
    check_flag,
)
from biodata_cache.lease import PublishLease
from biodata_cache.lineage import Lineage, all_metric_rows
from biodata_cache.records import (
    change_marker,
    check_record,
    json_record_passes,
    normalize,
    record_label,
    record_subject,
    recorded_change_marker,
    text,
    timestamp,
)
from biodata_cache.sources import DocDBSource, FileSource, Source, open_source, record_id
from biodata_cache.tables import TABLES, TABLES_BY_NAME, Listed, Table, derivation_order, project, projection

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

    import pyarrow as pa
    import requests

    from biodata_cache.registry import CacheTable, Registry
    from biodata_cache.store import Store

logger = logging.getLogger(__name__)

STATE_FILE = "_build/state.json"
RECORDS_FILE = "_build/records.pqt"
#: QC rows a build read but the qc table does not keep (see biodata_cache.lineage), one file per subject.
QC_DROPPED = "_build/qc_dropped"
QC_BUCKETS = 64
BATCH_RECORDS = 1000
#: A batch of JSONL lines also ends at this many bytes: a process holds a batch's parsed records at once
#: (about ten times the bytes of their lines), so this bounds a build's memory whatever the record sizes.
BATCH_BYTES = 8 << 20
WRITE_THREADS = 8
#: Skipped records listed in the build report, and logged one by one as warnings (the rest at DEBUG).
SKIPPED_EXAMPLES = 5
SKIPPED_LOGGED = 20
BUILD_ON_READ_WAIT = 900.0


@dataclass
class BuildReport:
    """What a build did.

    Attributes
    ----------
    version, root, source
        Where it published and what it read.
    full
        Whether every table was rebuilt (else an incremental update).
    records_read, records_deleted
        Records fetched from the source, and ids dropped because the source no longer has them.
    tables_written
        Tables whose files were (re)written.
    partitions_written, partitions_deleted
        ``qc`` partition files written, and partitions the release no longer has.
    files_removed
        Files no committed release named (left by a killed build) removed before this build wrote.
    rows
        Rows per table after the build.
    seconds
        Wall time of the build.
    phases
        Seconds spent reading the source (and computing rows), computing tables, writing data files
        and publishing.
    repaired
        Whether the previous build had not finished and this one rebuilt every table to repair it.
    records_skipped
        Records left out of every table because they could not be read: a line or file that is not UTF-8
        or not JSON, a record without ``_id`` or ``name``, a field of the wrong type (see
        :mod:`biodata_cache.rows`), or one of several records sharing an ``_id`` (the newest is kept:
        the greatest ``_last_modified``, else v1 ``last_modified``, compared as instants, a record with
        a time before one without; of equal or missing times the last in the source). Each is logged as
        a warning naming it (``file:line`` or its ``_id``; for a repeated ``_id`` also the record kept);
        ``records_read`` does not count them.
    skipped
        ``"where: reason"`` of the first few skipped records (shown by ``str(report)``).
    lines_parsed
        Lines of a JSONL source decoded and parsed. A full build parses every line; an incremental one
        only the lines whose hash the build state does not hold (new or changed records).
    """

    version: str
    root: str
    source: str
    full: bool
    records_read: int = 0
    records_deleted: int = 0
    tables_written: list[str] = field(default_factory=list)
    partitions_written: int = 0
    partitions_deleted: int = 0
    files_removed: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    repaired: bool = False
    records_skipped: int = 0
    skipped: list[str] = field(default_factory=list)
    assets_listed: int = 0
    listing_failures: dict[str, str] = field(default_factory=dict)
    lines_parsed: int = 0

    def skip(self, where: str, reason: str) -> None:
        """Count a record left out of the tables and log a warning naming it and the reason."""
        self.records_skipped += 1
        if len(self.skipped) < SKIPPED_EXAMPLES:
            self.skipped.append(f"{where}: {reason}")
        if self.records_skipped <= SKIPPED_LOGGED:
            logger.warning("skipping record %s: %s", where, reason)
            if self.records_skipped == SKIPPED_LOGGED:
                logger.warning(
                    "further skipped records are logged at DEBUG level; the build report counts all"
                )
        else:
            logger.debug("skipping record %s: %s", where, reason)

    def __str__(self) -> str:
        kind = "full build" if self.full else "incremental update"
        if self.repaired:
            kind += " (repairing an unfinished build)"
        lines = [
            f"{kind} of {self.version} at {self.root} from {self.source}: {self.records_read} records read, "
            f"{self.records_deleted} deleted, {len(self.tables_written)} tables and "
            f"{self.partitions_written} partitions written ({self.partitions_deleted} removed) in "
            f"{self.seconds:.1f} s",
        ]
        lines += [f"  {name:<22} {rows:>10,} rows" for name, rows in self.rows.items()]
        if self.records_skipped:
            plural = "s" if self.records_skipped != 1 else ""
            lines.append(
                f"  {self.records_skipped} record{plural} skipped (in no table; logged as warnings), e.g.:"
            )
            lines += [f"    {example}" for example in self.skipped]
        if self.listing_failures:
            lines.append(
                f"  {len(self.listing_failures)} asset(s) whose storage was not listed (their rows say so), "
                f"e.g.:"
            )
            lines += [f"    {name}: {error}" for name, error in list(self.listing_failures.items())[:5]]
        return "\n".join(lines)


# -- record state ----------------------------------------------------------------------------------------


@dataclass
class RecordState:
    """What the previous build saw of one record."""

    last_modified: str | None
    name: str | None
    subject_id: str | None
    #: :func:`line_digest` of the JSONL line the record was read from (None for other sources).
    line_hash: bytes | None = None


#: The hash of :func:`line_digest`, named in the build state: hashes of another kind are not compared.
LINE_DIGEST = "xxh3_128"


def line_digest(line: bytes) -> bytes:
    """A 16-byte hash of one JSONL line: an incremental build parses only lines whose hash is new.

    XXH3 (128 bits): 25x less CPU than BLAKE2b on 23 KB lines, and well distributed, so a changed line
    matches a line the last build read with odds of about 2^-128 per pair (our own dumps are hashed, not
    adversarial input, so a cryptographic hash buys nothing here).
    """
    return line_digester()(line)


def line_digester() -> Callable[[bytes], bytes]:
    """:func:`line_digest` itself, for a loop over many lines."""
    import xxhash

    return xxhash.xxh3_128_digest


def _records_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("_id", pa.string()),
            ("_last_modified", pa.string()),
            ("name", pa.string()),
            ("subject_id", pa.string()),
            ("_line_hash", pa.binary()),
        ]
    )


def _read_state_document(store: Store, version: str) -> dict[str, Any] | None:
    """The build state document (``_build/state.json``), or None before the first build."""
    try:
        document = store.read_json(f"{version}/{STATE_FILE}")
    except FileNotFoundError:
        return None
    return document if isinstance(document, dict) else {"unfinished": "unreadable build state"}


def _mark_unfinished(store: Store, version: str, document: dict[str, Any] | None) -> None:
    """Record in the build state that a build has started writing and has not committed yet."""
    from biodata_cache.publish import utc_now

    marked = dict(document or {})
    marked["unfinished"] = {"started_at": utc_now(), "pid": os.getpid()}
    store.write_json(f"{version}/{STATE_FILE}", marked)


def _read_state(
    store: Store, version: str, state: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, RecordState]] | None:
    import io

    import pyarrow.parquet as pq

    if state is None:
        return None
    try:
        table = pq.read_table(io.BytesIO(store.read_bytes(f"{version}/{RECORDS_FILE}")))
    except FileNotFoundError:
        return None
    columns = table.to_pydict()
    hashes = columns.get("_line_hash")
    if not hashes or state.get("line_digest") != LINE_DIGEST:
        hashes = [None] * table.num_rows  # absent, or of another hash, in older build states
    records = {
        identifier: RecordState(modified, name, subject, line_hash)
        for identifier, modified, name, subject, line_hash in zip(
            columns["_id"],
            columns["_last_modified"],
            columns["name"],
            columns["subject_id"],
            hashes,
            strict=True,
        )
    }
    return state, records


def reading_fingerprint() -> str:
    """What an incremental build must agree on with the build before it: how records are read.

    A hash of the installed version, every table's schema and the declarations of
    :mod:`biodata_cache.records` (paths, vocabularies, time zone). When it differs from the one in the
    build state, unchanged records would be read differently now, so the build is full.
    """
    import hashlib
    import json

    from biodata_cache import __version__, lineage, records

    described = {
        "version": __version__,
        "tables": {t.name: [(c.name, c.dtype) for c in t.columns] for t in TABLES},
        "paths": records.PATHS,
        "modalities": records.MODALITIES,
        "legacy": records.LEGACY_MODALITIES,
        "time_zone": records.LAB_TIME_ZONE,
        "fields": records.RECORD_FIELDS,
        "qc_selection": lineage.SELECTION,
    }
    text = json.dumps(described, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write_state(store: Store, version: str, source: str, records: dict[str, RecordState]) -> None:
    import pyarrow as pa

    from biodata_cache.publish import utc_now

    ordered = sorted(records.items())
    table = pa.table(
        {
            "_id": [key for key, _ in ordered],
            "_last_modified": [r.last_modified for _, r in ordered],
            "name": [r.name for _, r in ordered],
            "subject_id": [r.subject_id for _, r in ordered],
            "_line_hash": [r.line_hash for _, r in ordered],
        },
        schema=_records_schema(),
    )
    store.write_parquet(f"{version}/{RECORDS_FILE}", table)
    store.write_json(
        f"{version}/{STATE_FILE}",
        {
            "source": source,
            "built_at": utc_now(),
            "records": len(records),
            "reading": reading_fingerprint(),
            "line_digest": LINE_DIGEST,
        },
    )


# -- staging ----------------------------------------------------------------------------------------------


def state_of(record: dict[str, Any]) -> tuple[str, RecordState] | None:
    """A record's id and what the build state keeps of it; None for a record without a usable id."""
    identifier = record_id(record)
    if identifier is None:
        return None
    state = RecordState(change_marker(record), text(record.get("name")), record_subject(record))
    return identifier, state


#: A record left out of the tables: ``(its id or None, where, reason)``.
Skipped = tuple[str | None, str, str]


def _checked(records: list[tuple[str, dict[str, Any]]]) -> tuple[list[dict[str, Any]], list[Skipped]]:
    """The records that pass :func:`~biodata_cache.rows.check_record`, and the others as skipped."""
    good, skipped = [], []
    for where, record in records:
        try:
            check_record(record)
        except RecordError as error:
            skipped.append(
                (record_id(record), f"{where} ({error.where})" if where else error.where, error.reason)
            )
        else:
            good.append(record)
    return good, skipped


def _rows(records: list[dict[str, Any]]) -> dict[str, pa.Table]:
    from biodata_cache.publish import columns_to_arrow, rows_to_arrow

    assets = [normalize(record) for record in records]  # once per record, for every table
    result = {}
    for table in TABLES:
        if table.row_columns is not None:
            result[table.name] = columns_to_arrow(table, table.row_columns(assets))
        elif table.rows is not None:
            rows = table.rows
            result[table.name] = rows_to_arrow(table, [row for asset in assets for row in rows(asset)])
    return result


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (as it was before, after).

    A batch allocates millions of objects (parsed records, rows) that reference counting frees; each
    collection the allocations trigger would walk all of them for cycles they do not have: about a
    quarter of the CPU time of the row functions (2,000 records of the synthetic corpus: 3.7 s with it,
    2.75 s without); choosing the qc rows along the lineage (:meth:`Lineage.select_qc`) while the build
    state is in memory took three times as long with it. Cycles made meanwhile are collected once the
    collector runs again. Also a decorator.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def _system_memory_pool() -> Iterator[None]:
    """Allocate arrow memory from the system allocator (malloc) while a build runs, then restore the pool.

    pyarrow's default pool (mimalloc) keeps what a build frees in per-thread heaps: the 8 threads writing
    partitions and the churn of per-batch tables left the 10k build's process at a peak of 463-494 MB,
    against 410 MB with this pool, for the same times (the 100k build peaked at 1,363 MB). Buffers keep
    the pool they came from, so tables made before or after are unaffected.
    """
    import pyarrow as pa

    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def use_system_memory_pool() -> None:
    """Allocate arrow memory from the system allocator in this process (a build's worker processes, when
    they start): their per-batch tables are freed as soon as they are sent, and mimalloc kept them (see
    :func:`_system_memory_pool`)."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


def rows_of_batch(records: list[tuple[str, dict[str, Any]]]) -> tuple[dict[str, pa.Table], list[Skipped]]:
    """Every per-record table's rows for a batch of ``(where, record)`` (runs in worker processes).

    Each record is first checked (:func:`biodata_cache.rows.check_record`); one that does not pass is
    left out and returned as skipped, with its ``where`` (``file:line``, or empty) and the reason.
    """
    with _no_cyclic_gc():
        good, skipped = _checked(records)
        return _rows(good), skipped


def rows_of_lines(
    lines: list[tuple[str, bytes]],
) -> tuple[dict[str, pa.Table], list[tuple[str, RecordState]], list[Skipped]]:
    """Decode and parse a batch of JSONL lines; compute their rows, build states and skipped records
    (runs in worker processes). A line that is not UTF-8, not JSON or not a good record is skipped."""
    with _no_cyclic_gc():
        return _rows_of_lines(lines)


def _rows_of_lines(
    lines: list[tuple[str, bytes]],
) -> tuple[dict[str, pa.Table], list[tuple[str, RecordState]], list[Skipped]]:
    from biodata_cache.sources import parse_record

    parsed, hashes, skipped = [], [], []
    for where, line in lines:
        try:
            parsed.append((where, parse_record(line, where)))
        except RecordError as error:
            skipped.append((None, error.where, error.reason))
        else:
            hashes.append(line_digest(line))
    # Records parsed from JSON: most pass the check in C; the others are checked (and worded) as always.
    fast = [json_record_passes(record) for _, record in parsed]
    checked, bad = _checked([item for item, passes in zip(parsed, fast, strict=True) if not passes])
    passed = {id(record) for record in checked}
    good = [r for (_, r), passes in zip(parsed, fast, strict=True) if passes or id(r) in passed]
    passed = {id(record) for record in good}
    states = []
    for (_, record), line_hash in zip(parsed, hashes, strict=True):
        state = state_of(record) if id(record) in passed else None
        if state is not None:
            states.append((state[0], dataclasses.replace(state[1], line_hash=line_hash)))
    return _rows(good), states, skipped + bad


class _Staging:
    """Rows of one build: compact arrow batches per table, QC rows spilled to bucket files.

    Records are grouped in batches; with ``workers > 1`` the row functions run in a pool of processes
    (spawned, so no lock of a threaded parent is inherited), with at most ``2 * workers`` batches in
    flight so memory stays bounded. Batches are received in order, so the result is deterministic.
    """

    def __init__(self, folder: str, workers: int) -> None:
        self.folder = folder
        self.workers = workers
        self.batches: dict[str, list[pa.Table]] = {t.name: [] for t in TABLES if t.rows}
        self.writers: dict[tuple[str, int], Any] = {}  # (table, bucket) -> spill file
        self.batch: list[dict[str, Any]] = []
        self.pool: Any = None
        self.inflight: collections.deque[Any] = collections.deque()
        self.paths = [path.split(".") for path in projection()]
        self.lines = False
        self.batch_bytes = 0
        self.states: dict[str, RecordState] = {}
        self.skipped: list[Skipped] = []
        self.duplicates: list[str] = []

    def add(self, record: dict[str, Any]) -> None:
        """Stage a parsed record (its build state is kept by the caller)."""
        # Workers get only the fields the tables need: pickling whole records would cost the main
        # process as much as computing the rows itself.
        self.batch.append(("", project(record, self.paths) if self.workers > 1 else record))
        if len(self.batch) >= BATCH_RECORDS:
            self._submit(final=False)

    def add_line(self, where: str, line: bytes) -> None:
        """Stage an unparsed JSONL record; workers parse it and report its build state."""
        self.lines = True
        self.batch.append((where, line))
        self.batch_bytes += len(line)
        if len(self.batch) >= BATCH_RECORDS or self.batch_bytes >= BATCH_BYTES:
            self._submit(final=False)

    def _submit(self, *, final: bool) -> None:
        batch, self.batch, self.batch_bytes = self.batch, [], 0
        function = rows_of_lines if self.lines else rows_of_batch
        if self.workers <= 1 or (self.pool is None and final):
            self._receive(function(batch))
            return
        if self.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=context, initializer=use_system_memory_pool
            )
        self.inflight.append(self.pool.submit(function, batch))
        while len(self.inflight) > 2 * self.workers:
            self._receive(self.inflight.popleft().result())

    def _receive(self, result: Any) -> None:
        if self.lines:
            tables, states, skipped = result
            for identifier, state in states:
                if identifier in self.states:
                    self.duplicates.append(identifier)
                else:
                    self.states[identifier] = state
        else:
            tables, skipped = result
        self.skipped += skipped
        for table in TABLES:
            data = tables.get(table.name)
            if data is None or data.num_rows == 0:
                continue
            if table.partitioned:
                self._spill(table, data)
            else:
                self.batches[table.name].append(data)

    def _spill(self, table: Table, data: pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        # The bucket of each distinct key, then of each row.
        keys = data.column(table.partition_key).combine_chunks().dictionary_encode()
        of_key = pa.array([_bucket(k) for k in keys.dictionary.to_pylist()], pa.int32())
        buckets = of_key.take(keys.indices).fill_null(_bucket(None))
        # One stable sort by bucket, then a slice per bucket (a filter per bucket scanned the batch once
        # per bucket); the rows of a bucket keep their order.
        order = pc.sort_indices(buckets)
        data, buckets = data.take(order), buckets.take(order)
        runs = pc.run_end_encode(buckets)
        start = 0
        for end, bucket in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
            part, start = data.slice(start, end - start), end
            writer = self.writers.get((table.name, bucket))
            if writer is None:
                path = os.path.join(self.folder, f"{table.name}-{bucket:03d}.arrow")
                writer = self.writers[(table.name, bucket)] = pa.ipc.new_file(path, data.schema)
            writer.write_table(part)

    def finish(self) -> None:
        """Process the last batch and everything in flight; close the spill files."""
        if self.batch:
            self._submit(final=True)
        while self.inflight:
            self._receive(self.inflight.popleft().result())
        self.close()
        for writer in self.writers.values():
            writer.close()

    def close(self) -> None:
        """Stop the worker processes (also on failure)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def table(self, table: Table) -> pa.Table:
        import pyarrow as pa

        batches = self.batches.pop(table.name)  # taken once: the caller keeps what it needs
        return pa.concat_tables(batches) if batches else table.arrow_schema().empty_table()

    def buckets(self, table: Table) -> Iterator[pa.Table]:
        import pyarrow as pa

        for bucket in sorted(b for name, b in self.writers if name == table.name):
            path = os.path.join(self.folder, f"{table.name}-{bucket:03d}.arrow")
            with pa.memory_map(path) as source:
                yield pa.ipc.open_file(source).read_all()


@dataclass(frozen=True)
class ListingOptions:
    """How a build lists assets' storage (:func:`update_all_tables`, :mod:`biodata_cache.asset_listing`)."""

    max_age: Any = field(default_factory=lambda: asset_listing.resolve_max_age(None))
    storage_options: dict[str, Any] | None = None
    workers: int = asset_listing.DEFAULT_WORKERS
    enabled: bool | None = True


class _Columns:
    """The columns of an arrow table as Python lists, each converted when first used."""

    def __init__(self, data: pa.Table) -> None:
        self.data = data
        self.names = data.column_names
        self.known = frozenset(self.names)
        self.lists: dict[str, list[Any]] = {}

    def column(self, name: str) -> list[Any]:
        values = self.lists.get(name)
        if values is None:
            values = self.lists[name] = self.data.column(name).to_pylist()
        return values


class _Row(collections.abc.Mapping):  # type: ignore[type-arg]
    """One row of a :class:`_Columns`, read-only, as a mapping of column name to value.

    The listing tables' functions take every ``asset_basics`` and ``source_data`` row but read a few
    columns: rows as dicts (``to_pylist``) cost about 29 MB of Python objects per 10,000 assets, most of
    the compute phase's memory peak.
    """

    __slots__ = ("_columns", "_index")

    def __init__(self, columns: _Columns, index: int) -> None:
        self._columns = columns
        self._index = index

    def __getitem__(self, name: str) -> Any:
        if name not in self._columns.known:
            raise KeyError(name)
        return self._columns.column(name)[self._index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns.names)

    def __len__(self) -> int:
        return len(self._columns.names)


def _rows_of(data: pa.Table) -> list[dict[str, Any]]:
    """The rows of ``data`` as read-only mappings whose columns are converted when first read."""
    columns = _Columns(data)
    return [_Row(columns, index) for index in range(data.num_rows)]  # type: ignore[misc]


def _listed_tables(
    store: Store,
    folder: str,
    results: dict[str, pa.Table],
    options: ListingOptions,
    report: BuildReport,
    *,
    previous_ok: bool,
) -> asset_listing.Listings:
    """List the storage the ``listing`` tables need (each asset once) and compute those tables into
    ``results``; listing failures go to the report."""
    from biodata_cache.publish import rows_to_arrow

    tables = [table for table in TABLES if table.asset_listing is not None]
    # Rows whose columns are converted to Python when first read: the listing functions read about 10 of
    # the 24 (converting every column, timestamps above all, was most of this function's time at 100k).
    assets = _rows_of(results["asset_basics"])
    requests = []
    for row in assets:
        prefixes = tuple(
            dict.fromkeys(p for table in tables for p in (table.asset_listing(row) or ()))  # type: ignore[misc]
        )
        if prefixes and row.get("_id") and row.get("name"):
            marker = row["_last_modified"].isoformat() if row.get("_last_modified") else None
            requests.append(asset_listing.Request(row["_id"], row["name"], row["location"], marker, prefixes))
    previous = asset_listing.read_state(store, folder) if previous_ok else {}
    if options.enabled:
        found = asset_listing.list_assets(
            requests,
            previous,
            max_age=options.max_age,
            storage_options=options.storage_options,
            workers=options.workers,
        )
    else:
        reason = f"{asset_listing.NOT_LISTED}: this build does not list storage (list_storage=False)"
        found = asset_listing.Listings(failures={r.name: reason for r in requests}, kept=previous)
        if requests:
            logger.info("not listing the storage of %d assets (list_storage=False)", len(requests))
    report.assets_listed = found.listed
    report.listing_failures = dict(found.failures)
    sources = _rows_of(results["source_data"])
    for table in tables:
        assert table.listed_rows is not None
        results[table.name] = _sorted(table, rows_to_arrow(table, table.listed_rows(assets, sources, found)))
    return found


def _bucket(key: str | None) -> int:
    return zlib.crc32((key or "").encode()) % QC_BUCKETS


# -- helpers ----------------------------------------------------------------------------------------------


def _sorted(table: Table, data: pa.Table) -> pa.Table:
    """Rows ordered by the declared ``clustered_by`` columns (else the first column), then the record key
    (stable, so a record's rows keep their order): the order of the file (:mod:`biodata_cache.clustered`),
    so an incremental build compares equal with the published file."""
    import pyarrow.compute as pc

    first = list(table.clustered_by) or [table.columns[0].name]
    keys = list(dict.fromkeys([*first, table.record_key or table.columns[0].name]))
    return data.take(pc.sort_indices(data, sort_keys=[(key, "ascending") for key in keys]))


def _without(data: pa.Table, column: str, values: Iterable[str]) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    values = [v for v in values if v is not None]
    if not values or data.num_rows == 0:
        return data
    return data.filter(pc.invert(pc.is_in(data.column(column), value_set=pa.array(values, pa.string()))))


def _cast(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """``data.cast(schema)``, without casting each column when its schema is that one already."""
    return data if data.schema.equals(schema) else data.cast(schema)


def _without_any(data: pa.Table, column: str, values: set[str]) -> pa.Table:
    """:func:`_without` for a large set of ``values`` and a small table: only the values the table holds
    are looked up (arrow builds its lookup of the values on every call)."""
    import pyarrow.compute as pc

    held = [v for v in pc.unique(data.column(column)).to_pylist() if v in values]
    return _without(data, column, held)


def _published_files(store: Store, folder: str, registry: Registry | None) -> dict[str, Any] | None:
    """The files of the committed release: table name -> file path (relative to the version folder),
    and for a partitioned table its manifest's files. None when a table was written before build ids."""
    from biodata_cache.release import read_manifest

    if registry is None:
        return None
    files: dict[str, Any] = {}
    for table in TABLES:
        if table.name not in registry:
            continue
        entry = registry[table.name]
        if not entry.build:
            return None
        if table.partitioned:
            try:
                files[table.name] = read_manifest(store, folder, entry.manifest)
            except (FileNotFoundError, ValueError):
                return None
        else:
            files[table.name] = entry.path
    return files


def _repair_catalogs(store: Store, folder: str, registry: Registry) -> None:
    """Regenerate the version's catalogs if a build died between its registry and its catalog."""
    from biodata_cache.catalog import CATALOG_FILE, render_registry_catalog
    from biodata_cache.publish import publish_catalogs

    try:
        current = store.read_bytes(f"{folder}/{CATALOG_FILE}")
    except FileNotFoundError:
        current = None
    if current != render_registry_catalog(registry).encode():
        logger.warning("the catalog of %s does not match its registry: regenerating it", store.url(folder))
        publish_catalogs(store, folder)


def _read_published(store: Store, path: str | None, *, required: bool = True) -> pa.Table | None:
    """A file of the committed release (``path`` relative to the root; None: no such file), or with
    ``required=False`` a file of the build state that may not exist (None if it does not)."""
    import io

    import pyarrow.parquet as pq

    from biodata_cache.store import DamagedObjectError

    if path is None:
        return None
    try:
        return pq.read_table(io.BytesIO(store.read_bytes(path)))
    except FileNotFoundError:
        if not required:
            return None
        raise DamagedObjectError(
            f"{store.url(path)} is missing, although the committed release names it: an incremental "
            f"build cannot keep its unchanged rows. Rebuild every table (update_all_tables(full=True), "
            f"or `biodata-cache build --full`)."
        ) from None


def _values_of_records(tables: Iterable[pa.Table], identifiers: Iterable[str], column: str) -> set[str]:
    """The values (not null) of ``column`` in the rows of ``tables`` whose ``_id`` is in ``identifiers``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted = pa.array([i for i in identifiers if i is not None], pa.string())
    values: set[str] = set()
    for data in tables:
        mask = pc.is_in(data.column("_id"), value_set=wanted)
        values.update(v for v in pc.unique(data.column(column).filter(mask)).to_pylist() if v is not None)
    return values


def _in(folder: str, relpath: str | None) -> str | None:
    return f"{folder}/{relpath}" if relpath else None


def _derived(table: Table, source: pa.Table, listings: dict[str, Listed | None]) -> pa.Table:
    """A ``derived_from`` table from all the rows of its source: ``table.derive``, else distinct values.

    ``derive`` gets the columns it declares (``derive_columns``, default all) and, if the table declares
    listings, ``listings=`` the ones it reads (taken once per build by the caller).
    """
    if table.derive is None:
        return _distinct(table, source)
    from biodata_cache.publish import rows_to_arrow

    if table.derive_columns is not None:
        source = source.select(list(table.derive_columns))
    if table.listings:
        wanted = {listing.name: listings[listing.name] for listing in table.listings}
        return rows_to_arrow(table, table.derive(source.to_pylist(), listings=wanted))
    return rows_to_arrow(table, table.derive(source.to_pylist()))


#: Derived tables whose rows of one key value come from the source table's rows of that value only:
#: table -> (the source's column, the table's column), e.g. ``qc_status``'s row of an asset name is made
#: from the ``qc_status_long`` rows of that ``asset_name``. An incremental build derives only the values
#: of the affected records' rows (:func:`_derived_again`). The table's rows are sorted by that column.
DERIVED_PER_KEY: dict[str, tuple[str, str]] = {"qc_status": ("asset_name", "name")}


def _derived_again(
    table: Table,
    per: tuple[str, str],
    source: pa.Table,
    old_source: pa.Table,
    old: pa.Table,
    identifiers: Iterable[str],
) -> pa.Table:
    """A :data:`DERIVED_PER_KEY` table of an incremental build: the previous rows (``old``, derived from
    ``old_source``) of the key values no affected record's rows hold, and the values they hold derived
    again from this build's ``source`` rows of those values, in the order :func:`_derived` gives."""
    import pyarrow as pa
    import pyarrow.compute as pc

    source_column, column = per
    values = _values_of_records([source, old_source], identifiers, source_column)
    value_set = pa.array(sorted(values), pa.string())
    rows = source.filter(pc.is_in(source.column(source_column), value_set=value_set))
    fresh = _derived(table, rows, {})
    kept = _without(old, column, values)
    combined = pa.concat_tables([kept, fresh.cast(kept.schema)])
    return combined.take(pc.sort_indices(combined, sort_keys=[(column, "ascending")]))


def _take_listings(opened: Source) -> dict[str, Listed | None]:
    """Every listing a table declares, each taken once (see :mod:`biodata_cache.listing`)."""
    from biodata_cache import config
    from biodata_cache.errors import StoreAccessError, StoreUnavailableError
    from biodata_cache.listing import take_listing
    from biodata_cache.store import StoreError

    declared = {listing.name: listing for table in TABLES for listing in table.listings}
    docdb = isinstance(opened, DocDBSource)
    taken: dict[str, Listed | None] = {}
    for name, listing in declared.items():
        try:
            taken[name] = take_listing(listing, docdb=docdb)
        except (SourceError, StoreError, StoreAccessError, StoreUnavailableError) as error:
            # One listing read by warning-level checks must not stop every table of the build: the checks
            # that read it are published as not evaluated, with this error as the reason.
            location = config.listing_location(listing.variable, listing.default, docdb=docdb) or ""
            logger.error("listing %r failed; its checks are not evaluated in this build: %s", name, error)
            taken[name] = Listed(location=location, names=(), error=f"{type(error).__name__}: {error}")
    return taken


def _data_file_table(table: Table) -> pa.Table:
    """A ``data_file`` table: the rows of its package data file, in file order."""
    from biodata_cache.publish import rows_to_arrow

    return rows_to_arrow(table, table.data_rows())


def _custom_input_table(
    store: Store,
    folder: str,
    registry: Registry | None,
    table: Table,
    results: dict[str, pa.Table],
    old: pa.Table | None,
) -> pa.Table | None:
    """A ``custom_input`` table from the custom table of the version being built (None while there is
    none: the table is then not published), the rows of the table it ``joins`` and its committed rows.

    Raises
    ------
    InvalidInputError
        If the custom table lacks a column the declaration requires (``custom_columns``).
    """
    from biodata_cache.publish import rows_to_arrow
    from biodata_cache.registry import CUSTOM_PREFIX

    assert table.custom_input is not None and table.combine is not None and table.joins is not None
    entry_name = CUSTOM_PREFIX + table.custom_input
    if registry is None or entry_name not in registry:
        logger.info(
            "%s is not published: the custom table %r does not exist in %s (publish it with custom(%r, df))",
            table.name,
            table.custom_input,
            store.url(folder),
            table.custom_input,
        )
        return None
    custom = _read_published(store, _in(folder, registry[entry_name].path))
    assert custom is not None
    missing = [c for c in table.custom_columns if c not in custom.column_names]
    if missing:
        # One bad input must not stop every other table of the nightly build: the table keeps its
        # committed rows (or stays unpublished) and the build says why, loudly.
        logger.error(
            "custom table %r in %s has no column %s, which table %r is built from (its columns: %s); %s. "
            "Publish it again with the columns %s (custom(%r, df)).",
            table.custom_input,
            store.url(folder),
            ", ".join(map(repr, missing)),
            table.name,
            ", ".join(custom.column_names) or "(none)",
            "the published rows are kept" if old is not None else "the table is not published",
            ", ".join(table.custom_columns),
            table.custom_input,
        )
        return old
    base = results[table.joins]
    base_rows = base.select(
        [c for c in ("_id", "name", "project_name", "data_level") if c in base.column_names]
    )
    rows = table.combine(
        custom.to_pylist(), base_rows.to_pylist(), old.to_pylist() if old is not None else []
    )
    return rows_to_arrow(table, rows)


def _distinct(table: Table, source: pa.Table) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    assert table.derived_from is not None
    values = pc.drop_null(pc.unique(source.column(table.derived_from[1]))).to_pylist()
    return pa.table({table.columns[0].name: pa.array(sorted(values), pa.string())})


def _progress(
    iterable: Iterable[Any], *, enabled: bool, total: int | None, description: str
) -> Iterable[Any]:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=description, unit=" records", mininterval=0.5)


# -- the build --------------------------------------------------------------------------------------------


def _changed(current: dict[str, str | None], old_records: dict[str, RecordState]) -> list[str]:
    """Ids that are new or whose change marker differs from the last build's."""
    return sorted(
        i
        for i, modified in current.items()
        if i not in old_records or old_records[i].last_modified != modified
    )


def _stage(
    scratch: str,
    workers: int,
    report: BuildReport,
    items: Iterable[Any],
    lines: bool,
    progress: bool,
    total: int | None,
    description: str,
) -> tuple[_Staging, dict[str, RecordState]]:
    """Stage records (or unparsed JSONL lines) for the tables; return the staging and the records' states.

    Records that share an ``_id`` are the caller's to sort out (it reads the source again keeping the
    newest of each, :func:`_newest_of_each_id`): here a repeat is noted in ``staging.duplicates`` (for
    lines, parsed in the workers, after their rows were staged; for records, it is not staged).
    """
    staging = _Staging(scratch, workers)
    new_records: dict[str, RecordState] = {}
    try:
        for item in _progress(items, enabled=progress, total=total, description=description):
            if lines:
                staging.add_line(*item)
                report.lines_parsed += 1
                continue
            state = state_of(item)
            if state is None:
                _skip_unidentified(report, item)
                continue
            if state[0] in new_records:
                # Only when the source changes between the caller's two reads: the first is kept.
                staging.duplicates.append(state[0])
                report.skip(
                    record_label(item), f"_id {state[0]!r} appeared before in this read: the first is kept"
                )
                continue
            new_records[state[0]] = state[1]
            staging.add(item)
        staging.finish()
    finally:
        staging.close()
    return staging, new_records


def _skip_unidentified(report: BuildReport, record: Any) -> None:
    """Count a record whose ``_id`` / ``name`` cannot identify it (the reason from the record check)."""
    try:
        check_record(record)
    except RecordError as error:
        report.skip(error.where, error.reason)
    else:  # pragma: no cover  (check_record rejects every record without an id)
        report.skip(record_label(record), "no usable _id or name")


class _Repeats:
    """The ids a read of the source meets more than once (every record with a usable id counts)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.repeated: set[str] = set()

    def scan(self, records: Iterable[Any]) -> Iterator[Any]:
        for record in records:
            identifier = record_id(record) if isinstance(record, dict) else None
            if identifier is not None:
                if identifier in self.seen:
                    self.repeated.add(identifier)
                self.seen.add(identifier)
            yield record


def _change_rank(marker: Any, position: int) -> tuple[bool, Any, int]:
    """Sort key of one of several records sharing an ``_id``: the greatest is kept.

    A record with a change time (``_last_modified``, else v1 ``last_modified``, compared as instants) is
    newer than one without; equal or missing times leave the later record in the source newer.
    """
    import datetime as dt

    moment = timestamp(marker) if marker is not None else None
    return (moment is not None, moment or dt.datetime.min.replace(tzinfo=dt.timezone.utc), position)


def _newest_markers(pairs: Iterable[tuple[str, str | None]]) -> tuple[dict[str, str | None], set[str]]:
    """``{id: change marker}`` of ``(id, marker)`` pairs (an id listed more than once gets its newest),
    and the ids listed more than once."""
    result: dict[str, str | None] = {}
    ranks: dict[str, tuple[bool, Any, int]] = {}
    repeated: set[str] = set()
    for position, (identifier, marker) in enumerate(pairs):
        rank = _change_rank(marker, position)
        if identifier in ranks:
            repeated.add(identifier)
        if identifier not in ranks or rank > ranks[identifier]:
            result[identifier], ranks[identifier] = marker, rank
    return result, repeated


def _newest_of_each_id(
    records: Iterable[dict[str, Any]], repeated: set[str], report: BuildReport
) -> Iterator[dict[str, Any]]:
    """The records, with those of each id in ``repeated`` held back and only the newest of them yielded
    (at the end). A held-back record that does not pass the record check is skipped for its own reason
    and takes no part; the others are skipped naming the id and the record that was kept.
    """
    held: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for position, record in enumerate(records):
        identifier = record_id(record) if repeated and isinstance(record, dict) else None
        if identifier is not None and identifier in repeated:
            held.setdefault(identifier, []).append((position, record))
        else:
            yield record
    for identifier, candidates in held.items():
        good = []
        for position, record in candidates:
            try:
                check_record(record)
            except RecordError as error:
                report.skip(error.where, error.reason)
            else:
                good.append((_change_rank(recorded_change_marker(record), position), record))
        if not good:
            continue
        good.sort(key=lambda item: item[0])
        (rank, kept), others = good[-1], good[:-1]
        if rank[0]:
            why = f"the newest (changed {recorded_change_marker(kept)})"
        else:
            why = "the last in the source (none of them has a change time)"
        if others and others[-1][0][:2] == rank[:2] and rank[0]:
            why = f"the last in the source of those changed last ({recorded_change_marker(kept)})"
        for _, record in others:
            report.skip(
                record_label(record),
                f"{len(candidates)} records share _id {identifier!r}: kept {record_label(kept)}, {why}",
            )
        yield kept


def _unknown_lines(
    lines: Iterable[tuple[str, bytes]],
    old_records: dict[str, RecordState],
    held_back: set[str],
    seen: dict[str, str | None],
    repeats: _Repeats,
    line_hashes: dict[str, bytes],
    report: BuildReport,
) -> Iterator[dict[str, Any]]:
    """The records of the JSONL lines the last build did not read (parsed); lines it read are skipped.

    A line whose :func:`line_digest` the build state holds is the record the last build kept, unchanged:
    its id and change marker go to ``seen`` (and to ``repeats``, so an id met again is still noticed) and
    it is not parsed. Only the first such line of an id is skipped, and none of an id in ``held_back``
    (ids the source holds more than once, whose records are all compared). Every parsed record's hash goes
    to ``line_hashes`` (by id); a line that cannot be parsed is skipped through ``report``.
    """
    from biodata_cache.sources import parse_record

    known = {state.line_hash: i for i, state in old_records.items() if state.line_hash is not None}
    digest_of = line_digester()
    for where, line in lines:
        digest = digest_of(line)
        identifier = known.get(digest)
        if identifier is not None and identifier not in repeats.seen and identifier not in held_back:
            seen[identifier] = old_records[identifier].last_modified
            repeats.seen.add(identifier)
            continue
        report.lines_parsed += 1
        try:
            record = parse_record(line, where)
        except RecordError as error:
            report.skip(error.where, error.reason)
            continue
        parsed_id = record_id(record)
        if parsed_id is not None:
            line_hashes[parsed_id] = digest
        yield record


def _changed_records(
    records: Iterable[dict[str, Any]], old_records: dict[str, RecordState], seen: dict[str, str | None]
) -> Iterator[dict[str, Any]]:
    """The records that are new or changed since the last build; fills ``seen`` with every id and time."""
    for record in records:
        identifier = record_id(record)
        if identifier is None:
            yield record  # the build skips it and says why
            continue
        seen[identifier] = change_marker(record)
        old = old_records.get(identifier)
        if old is None or old.last_modified != seen[identifier]:
            yield record


def update_all_tables(
    fast: bool = True,
    slow: bool = True,
    *,
    source: str | Source | None = None,
    root: str | None = None,
    full: bool = False,
    progress: bool = True,
    version: str | None = None,
    storage_options: dict[str, Any] | None = None,
    session: requests.Session | None = None,
    workers: int | None = None,
    wait: float = 0.0,
    listing_max_age_days: float | None = None,
    listing_storage_options: dict[str, Any] | None = None,
    listing_workers: int = asset_listing.DEFAULT_WORKERS,
    list_storage: bool | None = None,
) -> BuildReport:
    """Build every table from a source in one pass and publish them to the store.

    The build holds the version folder's publish lease (:mod:`biodata_cache.lease`) from start to
    commit: a second publisher of the same version waits up to ``wait`` seconds, then raises
    :class:`~biodata_cache.errors.ConflictError`. A build that finds its predecessor did not finish
    (killed or failed between writing data and committing the registry) rebuilds every table.

    A record that cannot be read (a line that is not UTF-8 or not JSON, a record without ``_id`` or
    ``name``, a field of the wrong type: see :mod:`biodata_cache.rows`) never stops the build: it is
    left out of every table, logged as a warning naming it (``file:line`` or its ``_id``) and counted in
    :attr:`BuildReport.records_skipped`. A source that cannot be read at all (missing, unreachable, a
    damaged ``.gz``) raises :class:`~biodata_cache.errors.SourceError` before anything is published.

    Parameters
    ----------
    fast, slow
        Accepted for biodata-cache 0.42 calls (``update_all_tables(fast=True, slow=False)``); each must be
        a bool. In 0.42 they chose which groups of sync jobs ran after ``asset_basics``: ``fast`` the
        DocDB-only tables (``unique_*``, ``metadata_core``), ``slow`` the per-subject ones (``qc``,
        ``qc_status``, ``time_to_qc``, ...), and a group left out kept its previously published tables.
        Here one pass over the source builds every table, so **every table is built and published
        whatever their values**: ``fast=False`` or ``slow=False`` does not leave those tables as they
        were (a log line at INFO says so).
    source
        ``docdb``, ``sample``, a path/URL of records, or a :class:`~biodata_cache.sources.Source`;
        default ``BIODATA_CACHE_SOURCE`` (else ``docdb``).
    root
        Store root to publish to; default ``BIODATA_CACHE_ROOT`` or the backend's root. The ``CODEOCEAN``
        backend's root (an attached data asset) is read-only: pass a writable ``root=``.
    full
        Rebuild everything instead of updating from the last build's state.
    progress
        Show a progress bar while reading records.
    version
        Version folder to publish (default: the installed major.minor).
    storage_options
        fsspec options of the store.
    session
        ``requests.Session`` for the DocDB client.
    workers
        Processes that run the row functions (default 1: in this process). More use a pool of spawned
        processes, which re-import the calling script: call it under ``if __name__ == "__main__":``
        (the ``biodata-cache build`` command and ``builders/nightly.py`` use :func:`default_workers`:
        one per CPU, at most 8). The default stays 1, though 2 builds faster on 2 cores (see
        :func:`default_workers`), because a script without that guard fails with ``BrokenProcessPool``.
        Reading the source and writing stay in this process.
    wait
        Seconds to wait for another, running publisher of the same version to finish (default: fail
        once it is seen running, within about 6 s). A publisher that was killed is not waited for: its
        lease is taken over once it has gone unrenewed for 30 s.
    listing_max_age_days
        Tables built from a listing of assets' storage (``platform_smartspim``, ``platform_exaspim``,
        ``platform_exaspim_intermediates``) list an asset again when its record changed or its last
        listing is older than this many days; default
        ``BIODATA_CACHE_LISTING_MAX_AGE_DAYS``, else 7 (see :mod:`biodata_cache.asset_listing`).
    listing_storage_options
        fsspec options for listing the assets' locations (e.g. ``{"anon": True}`` for the public
        aind-open-data bucket); default ``{"anon": True}`` if ``BIODATA_CACHE_LISTING_ANON=1``, else
        credentials when botocore finds some, anonymous access when it finds none.
    listing_workers
        Threads listing assets at once (default 16).
    list_storage
        Whether to list assets' storage at all (default: yes, except for the bundled ``sample``, whose
        synthetic assets' locations hold nothing). Without listing, the rows of assets that needed one
        say so (``listing_error`` / status ``s3_error``) and the report counts them as not listed: they
        are never published as having no outputs.

    Returns
    -------
    BuildReport

    Raises
    ------
    InvalidInputError
        If ``fast`` or ``slow`` is not a bool.
    StoreAccessError
        If the store is read-only: an HTTP(S) mirror, or no ``root=`` with
        ``BIODATA_CACHE_BACKEND=CODEOCEAN`` (its attached data asset). With ``root=`` given, that
        backend's setting is ignored and the build goes to ``root``.
    """
    from biodata_cache.store import Store

    started = time.perf_counter()
    check_flag("fast", fast)
    check_flag("slow", slow)
    if isinstance(listing_workers, bool) or not isinstance(listing_workers, int) or listing_workers < 1:
        raise InvalidInputError(f"listing_workers must be an int >= 1, got {listing_workers!r}.")
    if list_storage is not None:
        check_flag("list_storage", list_storage)
    listing_options = ListingOptions(
        asset_listing.resolve_max_age(listing_max_age_days),
        listing_storage_options,
        listing_workers,
        list_storage,
    )
    if not (fast and slow):
        logger.info(
            "update_all_tables(fast=%s, slow=%s): this package builds every table in one pass, so all "
            "tables are built and published (fast/slow only chose groups of jobs in biodata-cache 0.42)",
            fast,
            slow,
        )
    source_spec = source if isinstance(source, str) or source is None else None
    backend = None
    variable = os.environ.get("BIODATA_CACHE_BACKEND")
    if variable and config.backend_name(variable, f"BIODATA_CACHE_BACKEND={variable!r}") == "CODEOCEAN":
        if root is None:
            raise StoreAccessError(
                f"cannot build with BIODATA_CACHE_BACKEND={variable!r}: "
                + config.CODEOCEAN_READ_ONLY.format(root=os.environ.get("BIODATA_CACHE_ROOT") or "/data")
                + "."
            )
        if isinstance(root, str):
            backend = config.infer_backend(root)  # build into the root given
    settings = config.resolve(
        backend=backend, root=root, source=source_spec, version=version, storage_options=storage_options
    )
    store = Store(settings.root, settings.storage_options)
    if not store.writable:
        raise StoreAccessError(f"cannot publish to {settings.root}: it is read-only. Pass a writable root=.")
    opened = source if isinstance(source, Source) else open_source(settings.source, session=session)
    if listing_options.enabled is None:
        from biodata_cache.sources import sample_path

        is_sample = isinstance(opened, FileSource) and opened.path == sample_path()
        listing_options = dataclasses.replace(listing_options, enabled=not is_sample)
    with PublishLease(store, settings.version, wait=wait) as lease, _system_memory_pool():
        try:
            return _update(
                store,
                opened,
                settings,
                full=full,
                progress=progress,
                workers=workers,
                lease=lease,
                started=started,
                listing_options=listing_options,
            )
        except (Exception, KeyboardInterrupt):
            _remove_uncommitted(store, settings.version)
            raise


def _remove_uncommitted(store: Store, folder: str) -> None:
    """After a failed build (still under its lease): remove the files it wrote that no committed release
    names, so the documented DuckDB globs do not count them until the next build. A killed build cannot
    do this; the next build does it before it writes."""
    from biodata_cache.registry import read_registry
    from biodata_cache.release import remove_unreferenced

    try:
        registry = read_registry(store, folder)
        removed = remove_unreferenced(store, folder, registry)
    except FileNotFoundError:
        return  # nothing was ever committed: readers find no release, the files are removed next build
    except Exception as error:  # the build's own error is what the caller must see
        logger.warning("could not remove the files of the failed build of %s: %s", store.url(folder), error)
        return
    if removed:
        logger.info("removed %d files the failed build of %s wrote", removed, store.url(folder))


#: Environment variable naming the job of :func:`run_sync_job` (as in biodata-cache 0.42).
SYNC_JOB_ENV = "BIODATA_CACHE_SYNC_JOB"
#: biodata-cache 0.42's sync jobs that built tables this package has, and those tables (0.42 names; 0.42's
#: ``quality_control`` is this package's ``qc``). Each is run as one :func:`update_all_tables`. 0.42's
#: ``fast`` job also built ``platform_mouselight``, which this package does not have.
SYNC_JOBS: dict[str, tuple[str, ...]] = {
    "asset_basics": ("asset_basics", "source_data"),
    "fast": (
        "unique_project_names",
        "unique_subject_ids",
        "unique_genotypes",
        "metadata_core",
        "platform_fib",
        "platform_qc",
        "metadata_upgrade",
    ),
    "qc": ("quality_control",),
    "qc_status": ("qc_status",),
    "time_to_qc": ("time_to_qc",),
    "smartspim": ("platform_smartspim", "platform_smartspim_fiber_ccf", "platform_smartspim_qc_metrics"),
    "exaspim": ("platform_exaspim", "platform_exaspim_intermediates"),
    "exaspim_intermediates": ("platform_exaspim_intermediates",),
    "record_consistency_checks": ("record_consistency_results", "record_consistency_checks"),
}
#: biodata-cache 0.42's other sync jobs: they build platform, cell and course tables this package does
#: not have, so :func:`run_sync_job` refuses them rather than report a build that made none of them.
UNSUPPORTED_SYNC_JOBS = (
    "cell-by-everything",
    "curriculum",
    "df",
    "ecephys_spikes",
    "ecephys_units",
    "fib_traces",
    "operations",
    "pophys",
    "storage_lens",
    "video_frame_times",
    "visual_coding_ophys",
    "visual_learning",
)


def run_sync_job(job: str | None = None, **options: Any) -> BuildReport:
    """Run one of biodata-cache 0.42's named sync jobs: here, one build of every table.

    In 0.42 each job built its own tables (``asset_basics`` first, the others in parallel capsules, chosen
    by ``BIODATA_CACHE_SYNC_JOB``). Here one pass over the source builds every table, so each accepted
    job runs :func:`update_all_tables` (incremental: a second job right after the first finds nothing
    changed and rewrites nothing) and the store holds every table afterwards, not only the job's.

    Parameters
    ----------
    job
        A 0.42 job name whose tables this package builds (the keys of :data:`SYNC_JOBS`:
        ``asset_basics``, ``fast``, ``qc``, ``qc_status``, ``time_to_qc``, ``exaspim``,
        ``exaspim_intermediates``, ``record_consistency_checks``); surrounding blanks are
        ignored. ``None`` or ``""``: ``BIODATA_CACHE_SYNC_JOB``.
    **options
        Passed to :func:`update_all_tables` (``source=``, ``root=``, ``full=``, ``progress=``, ...).

    Returns
    -------
    BuildReport

    Raises
    ------
    InvalidInputError
        If no job is given or set, the name is not a 0.42 job (the message lists the jobs), or it is one
        of 0.42's jobs for tables this package does not build (:data:`UNSUPPORTED_SYNC_JOBS`, e.g.
        ``smartspim``). Nothing is built then.
    """
    given = job if job is not None and job != "" else os.environ.get(SYNC_JOB_ENV) or None
    origin = f"job={job!r}" if job is not None and job != "" else f"{SYNC_JOB_ENV}={given!r}"
    valid = ", ".join(SYNC_JOBS)
    if given is None:
        raise InvalidInputError(
            f"no sync job given: pass job= or set {SYNC_JOB_ENV} to one of {valid} (each builds every "
            f"table here; so does biodata_cache.sync.update_all_tables())."
        )
    if not isinstance(given, str):
        raise InvalidInputError(f"job must be a string naming a sync job ({valid}), got {given!r}.")
    name = given.strip()
    if name in UNSUPPORTED_SYNC_JOBS:
        raise InvalidInputError(
            f"{origin}: biodata-cache 0.42's {name!r} job built tables this package does not have; nothing "
            f"was built. Jobs accepted here (each builds every table): {valid}."
        )
    if name not in SYNC_JOBS:
        raise InvalidInputError(f"{origin} is not a sync job; choose one of {valid}.")
    logger.info(
        "sync job %r: building every table in one pass (it includes %s)", name, ", ".join(SYNC_JOBS[name])
    )
    return update_all_tables(**options)


def _update(
    store: Store,
    opened: Source,
    settings: config.Settings,
    *,
    full: bool,
    progress: bool,
    workers: int | None,
    lease: PublishLease,
    started: float,
    listing_options: ListingOptions | None = None,
) -> BuildReport:
    """The build itself, under the publish lease (see :func:`update_all_tables`)."""
    import pyarrow as pa

    from biodata_cache.publish import (
        publish_registry,
        table_entry,
        utc_now,
        write_manifest,
        write_table_files,
    )
    from biodata_cache.registry import read_registry
    from biodata_cache.release import new_build_id, remove_unreferenced, with_build
    from biodata_cache.store import StoreError

    folder = settings.version
    document = _read_state_document(store, folder)
    unfinished = (document or {}).get("unfinished")
    if unfinished and not full:
        logger.warning(
            "the previous build of %s (started %s) did not finish: rebuilding every table",
            store.url(folder),
            unfinished.get("started_at") if isinstance(unfinished, dict) else unfinished,
        )
    previous = None if full or unfinished else _read_state(store, folder, document)
    try:
        registry: Registry | None = read_registry(store, folder)
    except FileNotFoundError:
        registry = None
    reading = reading_fingerprint()
    incremental = (
        previous is not None
        and registry is not None
        and previous[0].get("source") == opened.description
        and previous[0].get("reading") == reading
    )
    if previous is not None and previous[0].get("reading") != reading and not full:
        logger.info(
            "the tables of %s were built by another version of biodata-cache or another way of reading "
            "records: building every table",
            store.url(folder),
        )
    elif not full and not incremental and not unfinished:
        logger.info("no usable build state in %s: building every table", store.url(folder))

    files_removed = 0

    def new_report() -> BuildReport:
        report = BuildReport(folder, settings.root, opened.description, full=not incremental)
        report.repaired = bool(unfinished)
        report.files_removed = files_removed
        return report

    # From here on the store may hold data of this build that no registry describes yet: say so, so
    # that if this build dies the next one rebuilds everything instead of trusting the old state.
    _mark_unfinished(store, folder, document)
    # A killed writer's partition folder may hold nothing but its temporary file, and a build killed in
    # its clean-up (files deleted, their folders not yet) leaves empty folders: both are walked for.
    if store.remove_abandoned_temporary_files(folder) or unfinished:
        for table in TABLES:
            if table.partitioned:
                store.remove_empty_folders(f"{folder}/{table.name}")
    if registry is not None:
        # What a killed build left: its catalog is regenerated if it died between the registry and
        # the catalog, and files no committed release names are removed (a failure to remove them
        # does not stop this build: they are tried again after its commit).
        _repair_catalogs(store, folder, registry)
        try:
            files_removed = remove_unreferenced(store, folder, registry)
        except StoreError as error:
            logger.warning("could not remove files a killed build left in %s: %s", store.url(folder), error)
    build = new_build_id()
    committed = _published_files(store, folder, registry)
    published = committed if incremental else {}
    if incremental and published is None:
        logger.info("the tables of %s were written before build ids: building every table", store.url(folder))
        incremental, published = False, {}  # the report made below says full

    old_records: dict[str, RecordState] = previous[1] if incremental and previous else {}
    line_hashes: dict[str, bytes] = {}  # of the JSONL lines an incremental build parsed, by record id

    def read(
        report: BuildReport, repeated: set[str]
    ) -> tuple[Iterable[dict[str, Any]], int | None, dict[str, str | None], _Repeats]:
        """A fresh read of the source: the records to stage (of each id in ``repeated`` only the
        newest), how many are expected, the change markers seen (filled while reading) and the ids met
        more than once."""
        seen: dict[str, str | None] = {}
        repeats = _Repeats()
        line_hashes.clear()
        # A file source reports records it cannot parse instead of raising: they are skipped and counted.
        skip = {"skip": report.skip} if isinstance(opened, FileSource) else {}
        if incremental and opened.cheap_ids:
            # DocDB: one projected query lists every id and time; only changed records are fetched.
            # Ids listed more than once are fetched on every build, so that each build keeps the newest
            # record and reports the others, as a build from a file does.
            seen, listed_twice = _newest_markers(opened.ids())
            changed = sorted(set(_changed(seen, old_records)) | listed_twice)
            fetched = opened.records(ids=changed, **skip) if changed else []
            return _newest_of_each_id(repeats.scan(fetched), repeated, report), len(changed), seen, repeats
        lines = opened.jsonl_lines() if incremental and isinstance(opened, FileSource) else None
        if lines is not None:
            # A JSONL file: only the lines the last build did not read are parsed.
            unknown = _unknown_lines(lines, old_records, repeated, seen, repeats, line_hashes, report)
            records = _newest_of_each_id(repeats.scan(unknown), repeated, report)
            return _changed_records(records, old_records, seen), None, seen, repeats
        records = _newest_of_each_id(repeats.scan(opened.records(**skip)), repeated, report)
        if incremental:
            # A file has no index: read it once, keep the records whose time differs from the last build.
            return _changed_records(records, old_records, seen), None, seen, repeats
        return records, None, seen, repeats

    def stage(
        report: BuildReport, repeated: set[str], scratch: str
    ) -> tuple[_Staging, dict[str, RecordState], dict[str, str | None], set[str]]:
        """Stage what the source holds; also return the markers seen and the ids met more than once."""
        description = f"reading {opened.description}"
        lines = None
        if isinstance(opened, FileSource) and not incremental and not repeated:
            lines = opened.jsonl_lines()
        if lines is not None:
            # A JSONL file: parsing happens in the workers too, the main process only reads lines.
            staging, new_records = _stage(scratch, workers, report, lines, True, progress, None, description)
            return staging, new_records, {}, set(staging.duplicates)
        records, total, seen, repeats = read(report, repeated)
        staging, new_records = _stage(scratch, workers, report, records, False, progress, total, description)
        return staging, new_records, seen, repeats.repeated | set(staging.duplicates)

    from concurrent.futures import ThreadPoolExecutor

    with (
        tempfile.TemporaryDirectory(prefix="biodata-cache-build-") as scratch,
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="previous-tables") as prefetch,
    ):
        # An incremental build reads the committed unpartitioned tables while it reads the source
        # (parquet decoding and file reads release the GIL): each is taken once, when compared.
        previous_reads = {
            table.name: prefetch.submit(_read_published, store, _in(folder, published[table.name]))
            for table in TABLES
            if incremental
            and not (table.partitioned or table.data_file or table.custom_input)
            and published.get(table.name)
        }

        def previous_table(name: str) -> pa.Table | None:
            read = previous_reads.pop(name, None)
            return read.result() if read is not None else None

        workers = max(1, workers or 1)
        report = new_report()
        staging, new_records, seen, repeated = stage(report, set(), scratch)
        if repeated:
            # Of records sharing an _id only the newest is kept, and which one that is is known only
            # once every record was read: read the source again (main process; such records are held
            # back until the end), keeping the newest of each repeated id.
            logger.warning(
                "%s holds %d _id(s) more than once (%s); reading it again to keep the newest record of each",
                opened.description,
                len(repeated),
                ", ".join(repr(i) for i in sorted(repeated)[:5]) + (", ..." if len(repeated) > 5 else ""),
            )
            again = os.path.join(scratch, "again")
            os.makedirs(again)
            report = new_report()
            staging, new_records, seen, _ = stage(report, repeated, again)
        new_records.update(staging.states)
        for identifier, where, reason in staging.skipped:
            report.skip(where, reason)
            if identifier is not None:
                new_records.pop(identifier, None)  # no state kept: the next build reads it again
                line_hashes.pop(identifier, None)
        report.records_read = len(new_records)
        report.phases["read"] = time.perf_counter() - started
        changed = _changed(seen, old_records) if incremental else []
        deleted = sorted(set(old_records) - set(seen)) if incremental else []
        report.records_deleted = len(deleted)

        touched = set(changed) | set(deleted)
        old_names = {old_records[i].name for i in touched if i in old_records}
        new_names = {r.name for r in new_records.values()}
        affected = {"_id": touched | set(new_records), "name": old_names | new_names}
        affected["asset_name"] = affected["name"]

        # 1. Compute every unpartitioned table (nothing is written yet).
        results: dict[str, pa.Table] = {}
        previous_tables: dict[str, pa.Table] = {}
        to_write: set[str] = set()
        for table in TABLES:
            if table.rows is None or table.partitioned:
                continue
            new = staging.table(table)
            old = previous_table(table.name)
            if old is not None:
                old = previous_tables[table.name] = old.cast(table.arrow_schema())
                key = table.record_key or "_id"
                combined = _sorted(table, pa.concat_tables([_without(old, key, affected[key]), new]))
                if not combined.equals(old):
                    to_write.add(table.name)
            else:
                combined = _sorted(table, new)
                to_write.add(table.name)
            results[table.name] = combined
        listings = _take_listings(opened)
        for table in derivation_order():
            if table.derived_from:
                old = previous_table(table.name)
                if old is not None:
                    old = old.cast(table.arrow_schema())
                source_table = results[table.derived_from[0]]
                per = DERIVED_PER_KEY.get(table.name)
                if old is not None and per is not None and table.derived_from[0] in previous_tables:
                    data = _derived_again(
                        table, per, source_table, previous_tables[table.derived_from[0]], old, affected["_id"]
                    )
                else:
                    data = _derived(table, source_table, listings)
                if old is None or not data.equals(old):
                    to_write.add(table.name)
                results[table.name] = data
        listings = _listed_tables(
            store, folder, results, listing_options or ListingOptions(), report, previous_ok=not full
        )
        for table in TABLES:
            if table.asset_listing is not None:
                old = previous_table(table.name)
                if old is None or not results[table.name].equals(old.cast(table.arrow_schema())):
                    to_write.add(table.name)
        # Tables not built from records (package data files, custom inputs): compared with the
        # committed release whatever the build, so they are written only when their content changed.
        absent: set[str] = set()
        for table in TABLES:
            if not (table.data_file or table.custom_input):
                continue
            old = _read_published(store, _in(folder, (committed or {}).get(table.name)), required=False)
            if old is not None:
                old = old.cast(table.arrow_schema())
            data = (
                _data_file_table(table)
                if table.data_file
                else _custom_input_table(store, folder, registry, table, results, old)
            )
            if data is None:
                absent.add(table.name)
                continue
            if old is None or not data.equals(old):
                to_write.add(table.name)
            results[table.name] = data
        lineage = Lineage.from_tables(results["asset_basics"], results["source_data"])
        old_lineage = None
        if "asset_basics" in previous_tables and "source_data" in previous_tables:
            # The two builds' lineage tables differ only in the rows of the affected records: the
            # previous lineage is this one with the assets of those rows' names taken from the old rows.
            old_lineage = lineage.with_assets_of(
                previous_tables["asset_basics"],
                previous_tables["source_data"],
                _values_of_records(
                    [results[name] for name in ("asset_basics", "source_data")]
                    + [previous_tables[name] for name in ("asset_basics", "source_data")],
                    affected["_id"],
                    "name",
                ),
            )

        report.phases["compute"] = time.perf_counter() - started - sum(report.phases.values())
        # 2. Write data: the unpartitioned tables computed so far (their data is then let go, so that it
        # is not held while the partitions are written), the qc partitions, the other partitioned
        # tables, then the qc index.
        sizes: dict[str, tuple[str, int, dict[str, str]]] = {}
        rows_of: dict[str, int] = {}

        def write_unpartitioned(table: Table) -> None:
            rows_of[table.name] = results[table.name].num_rows
            if table.name in to_write:
                data = with_build(results[table.name].cast(table.arrow_schema()), build)
                # Clustered tables: sorted, small row groups, a lookup index, and their projections.
                sizes[table.name] = write_table_files(store, folder, table, data, build)
                report.tables_written.append(table.name)
            del results[table.name]

        index_table = TABLES_BY_NAME["qc_raw_assets"]
        for table in TABLES:
            if table.name in results and table.name != index_table.name:
                write_unpartitioned(table)
        previous_tables.clear()
        qc_table = TABLES_BY_NAME["qc"]
        qc_rows, qc_files, qc_index = _write_qc(
            store,
            folder,
            qc_table,
            staging,
            lineage,
            report,
            build=build,
            previous_files=published.get("qc") if incremental else None,
            index_path=published.get("qc_raw_assets"),
            incremental=incremental,
            old_lineage=old_lineage,
            old_subjects={old_records[i].subject_id for i in touched if i in old_records},
            affected_names=affected["asset_name"],
            affected_ids=affected["_id"],
            previous_rows=registry["qc"].rows if incremental and registry and "qc" in registry else 0,
        )
        if not incremental and committed and "qc" in committed:
            report.partitions_deleted = len(set(committed["qc"]) - set(qc_files))
        part_rows: dict[str, int] = {qc_table.name: qc_rows}
        part_files: dict[str, dict[str, dict[str, Any]]] = {qc_table.name: qc_files}
        for table in TABLES:
            if not table.partitioned or table.name == qc_table.name:
                continue
            known = incremental and registry is not None and table.name in registry
            previous_entry = registry[table.name] if known and registry is not None else None
            part_rows[table.name], part_files[table.name] = _write_partitioned(
                store,
                folder,
                table,
                staging,
                report,
                build=build,
                previous_files=published.get(table.name) if incremental else None,
                previous_rows=previous_entry.rows if previous_entry is not None else 0,
                incremental=incremental,
                affected_ids=affected[table.record_key or "_id"],
            )
            if not incremental and committed and table.name in committed:
                report.partitions_deleted += len(set(committed[table.name]) - set(part_files[table.name]))
        old_index = previous_table(index_table.name)
        if old_index is None or not qc_index.equals(old_index.cast(index_table.arrow_schema())):
            to_write.add(index_table.name)
        results[index_table.name] = qc_index
        write_unpartitioned(index_table)
        manifests: dict[str, str] = {}
        for name, files in part_files.items():
            if name in report.tables_written or not incremental:
                manifests[name] = write_manifest(store, folder, TABLES_BY_NAME[name], build, files)

    report.phases["write"] = time.perf_counter() - started - sum(report.phases.values())
    # 3. Publish the registry and catalogs, then the build state.
    built_at = utc_now()
    entries: list[CacheTable] = []
    for table in TABLES:
        if table.name in absent:
            continue
        rows = part_rows[table.name] if table.partitioned else rows_of[table.name]
        report.rows[table.name] = rows
        written = table.name in report.tables_written or table.name in manifests
        if not written and registry is not None and table.name in registry:
            entries.append(registry[table.name])
        else:
            relpath, size, projections = sizes.get(table.name, (None, 0, {}))
            entries.append(
                table_entry(
                    store,
                    folder,
                    table,
                    rows=rows,
                    partitions=len(part_files[table.name]) if table.partitioned else 1,
                    source=opened.description,
                    built_at=built_at,
                    build=build,
                    path=relpath,
                    size=size,
                    manifest=manifests.get(table.name, ""),
                    projections=projections,
                )
            )
    lease.check()  # commit only while this build still holds the version's lease
    publish_registry(store, folder, entries, source=opened.description, built_at=built_at, removed=absent)
    state = {k: v for k, v in old_records.items() if k not in set(deleted)}
    state.update(new_records)
    for identifier, line_hash in line_hashes.items():
        if identifier in state and identifier not in repeated:
            state[identifier] = dataclasses.replace(state[identifier], line_hash=line_hash)
    for identifier in repeated & set(state):  # ids held more than once: every line is read again
        state[identifier] = dataclasses.replace(state[identifier], line_hash=None)
    _write_state(store, folder, opened.description, state)
    asset_listing.write_state(store, folder, listings.kept)
    report.seconds = time.perf_counter() - started
    report.phases["publish"] = report.seconds - sum(report.phases.values())
    logger.info("%s", report)
    return report


def _with_key(table: Table, part: pa.Table, value: str | None) -> pa.Table:
    """A partition file's rows with the partition key column back (in the declared column order)."""
    import pyarrow as pa

    key = table.partition_key
    assert key is not None
    column = pa.array([value] * part.num_rows, pa.string())
    return part.append_column(key, column).select(table.column_names)


def _index_rows(kept: pa.Table) -> collections.Counter[tuple[str, str | None]]:
    """(raw asset, subject) -> rows of ``kept``: what ``qc_raw_assets`` says of these rows."""
    columns = kept.select(["raw_asset_name", "subject_id"]).to_pydict()
    return collections.Counter(zip(columns["raw_asset_name"], columns["subject_id"], strict=True))


def _index_table(counts: collections.Counter[tuple[str, str | None]]) -> pa.Table:
    import pyarrow as pa

    items = sorted(counts.items(), key=lambda item: (item[0][0], item[0][1] is None, item[0][1] or ""))
    schema = TABLES_BY_NAME["qc_raw_assets"].arrow_schema()
    return pa.table(
        {
            "raw_asset_name": [raw for (raw, _), _ in items],
            "subject_id": [subject for (_, subject), _ in items],
            "rows": [n for _, n in items],
        },
        schema=schema,
    )


@_no_cyclic_gc()
def _write_qc(
    store: Store,
    folder: str,
    table: Table,
    staging: _Staging,
    lineage: Lineage,
    report: BuildReport,
    *,
    build: str,
    previous_files: dict[str, dict[str, Any]] | None,
    index_path: str | None,
    incremental: bool,
    old_lineage: Lineage | None,
    old_subjects: set[str | None],
    affected_names: set[str | None],
    affected_ids: set[str],
    previous_rows: int,
) -> tuple[int, dict[str, dict[str, Any]], pa.Table]:
    """Write the qc partitions that changed under names of ``build``; return (rows, the manifest's files,
    the ``qc_raw_assets`` index).

    Each partition keeps the rows :meth:`Lineage.select_qc` chooses; the rows it leaves out are kept in
    ``_build/qc_dropped/`` so that an incremental build can choose again when a record of a chain changes.
    Files of the committed release (``previous_files``, its manifest) are never overwritten or deleted
    here: unchanged partitions keep their file, the others get a new one.
    """
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    from biodata_cache.partitions import PARTITION_WRITE_OPTIONS, file_metadata, folder_name
    from biodata_cache.publish import split_partitions
    from biodata_cache.release import partition_file, with_build

    files: dict[str, dict[str, Any]] = dict(previous_files or {})

    def write_part(value: str | None, part: pa.Table) -> None:
        relpath = partition_file(table, value, build)
        size = store.write_parquet(f"{folder}/{relpath}", with_build(part, build), **PARTITION_WRITE_OPTIONS)
        files[folder_name(key, value)] = {
            "path": relpath,
            "size": size,
            "rows": part.num_rows,
            "build": build,
        }

    file_schema = table.arrow_schema(include_partition_key=False)
    schema = table.arrow_schema()
    key = table.partition_key
    assert key is not None

    def dropped_path(value: str | None) -> str:
        return f"{folder}/{QC_DROPPED}/{folder_name(key, value)}.pqt"

    if not incremental:
        store.delete(f"{folder}/{QC_DROPPED}", recursive=True)
        written: set[str] = set()
        rows = 0
        counts: collections.Counter[tuple[str, str | None]] = collections.Counter()
        # Partition files are written concurrently (parquet encoding and I/O release the GIL; on S3
        # each PUT is a round trip). The rows of the next bucket are chosen while the files of the last
        # one are written, and no more than those two buckets are held, so memory stays bounded.
        with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
            in_flight: list[Any] = []
            for bucket in staging.buckets(table):
                kept, dropped = lineage.select_qc(_cast(bucket, schema))
                del bucket
                counts.update(_index_rows(kept))
                writes = []
                for value, part in split_partitions(table, kept):
                    writes.append(pool.submit(write_part, value, part))
                    written.add(folder_name(key, value))
                    rows += part.num_rows
                for value, part in split_partitions(table, dropped):
                    writes.append(
                        pool.submit(store.write_parquet, dropped_path(value), part, **PARTITION_WRITE_OPTIONS)
                    )
                del kept, dropped
                for write in in_flight:
                    write.result()
                in_flight = writes
            for write in in_flight:
                write.result()
        report.partitions_written = len(written)
        if written:
            report.tables_written.append(table.name)
        return rows, files, _index_table(counts)

    new_parts: dict[str | None, pa.Table] = {}
    for bucket in staging.buckets(table):
        for value, part in split_partitions(table, bucket):
            new_parts[value] = part
    # A changed record changes the choice for every raw asset it descends from, before or after, in
    # every partition holding rows (kept or left out) of those raw assets' chains, before or after.
    names = {n for n in affected_names if n is not None}
    roots = set(names)
    for name in names:
        roots.update(lineage.roots(name))
        if old_lineage is not None:
            roots.update(old_lineage.roots(name))
    subjects = set(old_subjects) | set(new_parts)
    for root in roots:
        subjects |= lineage.partitions(root)
        if old_lineage is not None:
            subjects |= old_lineage.partitions(root)
    old_index = _read_published(store, _in(folder, index_path))
    counts: collections.Counter[tuple[str, str | None]] = collections.Counter()
    if old_index is not None:
        index = old_index.select(["raw_asset_name", "subject_id", "rows"]).to_pydict()
        for raw, subject, n in zip(*index.values(), strict=True):
            if raw in roots:
                subjects.add(subject)
            counts[(raw, subject)] = n
    counts = collections.Counter({k: n for k, n in counts.items() if k[1] not in subjects})
    rows_delta = 0
    ordered = sorted(subjects, key=lambda s: (s is None, s or ""))
    paths = {value: _in(folder, (files.get(folder_name(key, value)) or {}).get("path")) for value in ordered}

    def read_old(value: str | None) -> tuple[pa.Table, pa.Table]:
        """The partition's committed file and its left-out rows (empty tables where there are none)."""
        old = _read_published(store, paths[value])
        old_dropped = _read_published(store, dropped_path(value), required=False)
        return (
            _cast(old, file_schema) if old is not None else file_schema.empty_table(),
            _cast(old_dropped, file_schema) if old_dropped is not None else file_schema.empty_table(),
        )

    def write_dropped(value: str | None, dropped: pa.Table) -> None:
        dropped = dropped.replace_schema_metadata(file_metadata(key, value))
        store.write_parquet(dropped_path(value), dropped, **PARTITION_WRITE_OPTIONS)

    # The partitions are read ahead and written by a thread pool (parquet decoding, encoding and I/O
    # release the GIL; on S3 each is a round trip); the rows are chosen here, one partition at a time.
    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        writes = []
        for value, (old, old_dropped) in _read_ahead(pool, read_old, ordered, WRITE_THREADS * 2):
            unchanged = _without_any(all_metric_rows(old, [old_dropped]), "_id", affected_ids)
            fresh = new_parts.get(value)
            parts = [unchanged, _cast(fresh, file_schema)] if fresh is not None else [unchanged]
            kept, dropped = _select_qc_again(
                table, lineage, _with_key(table, pa.concat_tables(parts), value), old, roots, value
            )
            counts.update(_index_rows(kept))
            kept = _cast(kept.drop_columns([key]), file_schema)
            dropped = _cast(dropped.drop_columns([key]), file_schema)
            rows_delta += kept.num_rows - old.num_rows
            if kept.num_rows == 0:
                if files.pop(folder_name(key, value), None) is not None:
                    report.partitions_deleted += 1  # its file is removed once the release is committed
            elif not kept.equals(old):
                kept = kept.replace_schema_metadata(file_metadata(key, value))
                writes.append(pool.submit(write_part, value, kept))
                report.partitions_written += 1
            if dropped.num_rows == 0:
                if old_dropped.num_rows:
                    writes.append(pool.submit(store.delete, dropped_path(value)))
            elif not dropped.equals(old_dropped):
                writes.append(pool.submit(write_dropped, value, dropped))
        for write in writes:
            write.result()
    if report.partitions_written or report.partitions_deleted:
        report.tables_written.append(table.name)
    return previous_rows + rows_delta, files, _index_table(counts)


def _select_qc_again(
    table: Table,
    lineage: Lineage,
    metric_rows: pa.Table,
    old: pa.Table,
    roots: set[str],
    value: str | None,
) -> tuple[pa.Table, pa.Table]:
    """:meth:`Lineage.select_qc` of one qc partition's metric rows in an incremental build, choosing
    again only under the affected raw assets (``roots``).

    Under a raw asset not in ``roots`` no record of its chains changed, nor did its lineage (see
    :func:`_write_qc`), so the partition's committed rows under it (``old``, the file's rows) are what a
    choice would keep again: they are kept as they are, and only the rows of assets descending from a
    root in ``roots`` are chosen again. The kept rows come in :meth:`Lineage.select_qc`'s order (asset,
    metric index, raw asset); where that order has ties (two records of one asset name), the whole
    partition is chosen again, so that the order is the one a full choice gives.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    key = table.partition_key
    assert key is not None
    assets = pc.unique(metric_rows.column("asset_name")).to_pylist()
    chosen = [a for a in assets if a is not None and any(r in roots for r in lineage.roots(a))]
    if not chosen or None in assets:
        return lineage.select_qc(metric_rows)
    kept_before = _without_any(old, "raw_asset_name", roots)
    rows = metric_rows.filter(
        pc.is_in(metric_rows.column("asset_name"), value_set=pa.array(chosen, pa.string()))
    )
    kept_again, _ = lineage.select_qc(rows, only=roots)
    kept = pa.concat_tables([_cast(_with_key(table, kept_before, value), kept_again.schema), kept_again])
    order = ["asset_name", "metric_index", "raw_asset_name"]
    kept = kept.take(pc.sort_indices(kept, sort_keys=[(c, "ascending") for c in order]))
    sorted_keys = kept.select(order).to_pydict()
    triples = list(zip(*sorted_keys.values(), strict=True))
    if any(a == b for a, b in itertools.pairwise(triples)):
        return lineage.select_qc(metric_rows)  # ties: the order of a full choice depends on row order
    used = set(zip(*kept.select(["_id", "metric_index"]).to_pydict().values(), strict=True))
    identities = metric_rows.select(["_id", "metric_index"]).to_pydict()
    mask = [pair not in used for pair in zip(*identities.values(), strict=True)]
    return kept, metric_rows.filter(pa.array(mask, pa.bool_()))


T = TypeVar("T")
R = TypeVar("R")


def _read_ahead(
    pool: Executor, read: Callable[[T], R], items: Iterable[T], ahead: int
) -> Iterator[tuple[T, R]]:
    """``(item, read(item))`` in the order of ``items``, each read in ``pool`` up to ``ahead`` items
    before it is yielded (so at most ``ahead`` results wait in memory). A read's error is raised when its
    item's turn comes."""
    pending: collections.deque[tuple[T, Future[R]]] = collections.deque()
    for item in items:
        pending.append((item, pool.submit(read, item)))
        if len(pending) > ahead:
            first, future = pending.popleft()
            yield first, future.result()
    while pending:
        first, future = pending.popleft()
        yield first, future.result()


#: Per partitioned table (other than qc): which partitions hold each record's rows, for incremental builds.
PARTITION_INDEX = "_build/partitions"


def _sorted_part(table: Table, part: pa.Table) -> pa.Table:
    """A partition file's rows ordered by the first file column, then the record key (stable, so a
    record's rows keep their order and an incremental build writes what a full build writes)."""
    import pyarrow.compute as pc

    first = table.file_columns[0].name
    keys = list(dict.fromkeys([first, table.record_key or first]))
    return part.take(pc.sort_indices(part, sort_keys=[(key, "ascending") for key in keys]))


def _in_partition_order(table: Table, data: pa.Table) -> pa.Table:
    """Rows of several partitions ordered by partition key, then each partition as :func:`_sorted_part`
    orders it (a stable sort: each partition's slice is the rows ``_sorted_part`` gives)."""
    first = table.file_columns[0].name
    keys = list(dict.fromkeys([table.partition_key, first, table.record_key or first]))
    return data.sort_by([(key, "ascending") for key in keys])


def _record_partitions(table: Table, value: str | None, part: pa.Table) -> set[tuple[str, str | None]]:
    """(record key, partition value) of every row of one partition's rows."""
    return {(k, value) for k in part.column(table.record_key or "_id").to_pylist()}


def _partition_index(pairs: set[tuple[str, str | None]]) -> pa.Table:
    import pyarrow as pa

    ordered = sorted(pairs, key=lambda p: (p[0], p[1] is None, p[1] or ""))
    return pa.table(
        {"record": [k for k, _ in ordered], "value": [v for _, v in ordered]},
        schema=pa.schema([("record", pa.string()), ("value", pa.string())]),
    )


@_no_cyclic_gc()
def _write_partitioned(
    store: Store,
    folder: str,
    table: Table,
    staging: _Staging,
    report: BuildReport,
    *,
    build: str,
    previous_files: dict[str, dict[str, Any]] | None,
    previous_rows: int,
    incremental: bool,
    affected_ids: set[str],
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Write the partitions of a partitioned table (other than ``qc``) that changed, under names of
    ``build``; return (its rows, the manifest's files).

    A full build writes every partition from the staged rows. An incremental build reads, from the files
    of the committed release (``previous_files``, its manifest), only the partitions that hold rows of
    the affected records (known from the build state's index, ``_build/partitions/<table>.pqt``) or
    receive new rows; it drops the affected records' rows (by ``record_key``), adds the new ones and
    writes the partition only if its content changed (an emptied partition leaves the manifest). Files
    of the committed release are never overwritten or deleted here. A row may be in several partitions
    (its record's rows name each).
    """
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    from biodata_cache.partitions import PARTITION_WRITE_OPTIONS, file_metadata, folder_name
    from biodata_cache.publish import split_partitions
    from biodata_cache.release import partition_file, with_build

    key = table.partition_key
    assert key is not None and table.record_key is not None
    file_schema = table.arrow_schema(include_partition_key=False)
    schema = table.arrow_schema()
    index_path = f"{folder}/{PARTITION_INDEX}/{table.name}.pqt"
    files: dict[str, dict[str, Any]] = dict(previous_files or {}) if incremental else {}
    written = deleted = 0

    def write_part(value: str | None, part: pa.Table) -> None:
        relpath = partition_file(table, value, build)
        data = with_build(part.replace_schema_metadata(file_metadata(key, value)), build)
        size = store.write_parquet(f"{folder}/{relpath}", data, **PARTITION_WRITE_OPTIONS)
        entry = {"path": relpath, "size": size, "rows": part.num_rows, "build": build}
        files[folder_name(key, value)] = entry

    pairs: set[tuple[str, str | None]] = set()
    if not incremental:
        # A full build writes each bucket's partitions as they are split (a partition's rows are all in
        # one bucket), while the next bucket is split: at most two buckets are held at once.
        rows = 0
        with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
            in_flight: list[Any] = []
            for bucket in staging.buckets(table):
                writes = []
                # One sort of the bucket by key, then as _sorted_part orders a partition (stable: the
                # same rows in the same order as sorting each partition); a part is a slice of it.
                for value, part in split_partitions(table, _in_partition_order(table, _cast(bucket, schema))):
                    pairs |= _record_partitions(table, value, part)
                    writes.append(pool.submit(write_part, value, part))
                    rows += part.num_rows
                    written += 1
                for write in in_flight:
                    write.result()
                in_flight = writes
            for write in in_flight:
                write.result()
        old_pairs = None
    else:
        new_parts: dict[str | None, pa.Table] = {}
        for bucket in staging.buckets(table):
            for value, part in split_partitions(table, _cast(bucket, schema)):
                new_parts[value] = _sorted_part(table, part.cast(file_schema))
        for value, part in new_parts.items():
            pairs |= _record_partitions(table, value, part)
        old_index = _read_published(store, index_path, required=False)
        if old_index is None:
            from biodata_cache.store import DamagedObjectError

            raise DamagedObjectError(
                f"{store.url(index_path)} is missing: an incremental build of {table.name!r} cannot tell "
                f"which partitions hold the changed records' rows. Rebuild every table "
                f"(update_all_tables(full=True), or `biodata-cache build --full`)."
            )
        old = old_index.to_pydict()
        old_pairs = set(zip(old["record"], old["value"], strict=True))
        values = {v for k, v in old_pairs if k in affected_ids} | set(new_parts)
        pairs |= {(k, v) for k, v in old_pairs if k not in affected_ids}
        rows = previous_rows
        for value in sorted(values, key=lambda v: (v is None, v or "")):
            name = folder_name(key, value)
            previous = _read_published(store, _in(folder, (files.get(name) or {}).get("path")))
            previous = previous.cast(file_schema) if previous is not None else file_schema.empty_table()
            parts = [_without(previous, table.record_key, affected_ids)]
            if value in new_parts:
                parts.append(new_parts[value])
            combined = _sorted_part(table, pa.concat_tables(parts))
            rows += combined.num_rows - previous.num_rows
            if combined.num_rows == 0:
                if files.pop(name, None) is not None:
                    deleted += 1  # its file is removed once the release is committed
            elif not combined.equals(previous):
                write_part(value, combined)
                written += 1
    if pairs != old_pairs:
        store.write_parquet(index_path, _partition_index(pairs))
    report.partitions_written += written
    report.partitions_deleted += deleted
    if written or deleted:
        report.tables_written.append(table.name)
    return rows, files


def default_workers() -> int:
    """Worker processes for the guarded entry points (CLI, nightly job): one per CPU, at most 8.

    Chosen by measurement (docs/performance.md, Notes): on the quiet 2-core VM two workers built 10,000
    records in 18.8-19.3 s against 24.5-29.4 s for one (rows in the main process), for about the same CPU
    time, with twice the peak memory of the process tree (900 MB against 490 MB). Measured again after
    the write phase was cut (issue 12, loaded VM): 10,000 records 38.6 s with two workers against 50.0-62.9
    s with one (tree 831 against 397-418 MB); 100,000 records 280 s against 452 s (tree 1,065 against
    941 MB). Pass ``workers=1`` (``--workers 1``) to keep the memory of one process.
    """
    return max(1, min(os.cpu_count() or 1, 8))


def build_for_read(settings: config.Settings, *, reason: str) -> None:
    """Build every table from the source into a private store before a read (MEMORY / LOCAL backends).

    A DocDB source is asked for one record first, without retries: without a network (or with DocDB
    down) the read fails at once with a short :class:`~biodata_cache.errors.SourceError` that says how
    to read the published tables instead, rather than after a crawl and with a long traceback.
    """
    from biodata_cache.sources import DocDBSource

    source = open_source(settings.source)
    if isinstance(source, DocDBSource):
        try:
            source.check_reachable()
        except SourceError as error:
            cause = _without_traceback(error)
            raise _docdb_error(settings, f"DocDB at {source.host} cannot be reached ({cause})") from cause
    logger.warning(
        "%s: building the tables from source %r into %s now. A first build reads every record and is "
        "slow; to read the published tables instead set BIODATA_CACHE_BACKEND=S3 (or BIODATA_CACHE_ROOT "
        "to a published store).",
        reason,
        settings.source,
        settings.root,
    )
    try:
        update_all_tables(
            source=source,
            root=settings.root,
            version=settings.version,
            storage_options=settings.storage_options,
            progress=True,
            wait=BUILD_ON_READ_WAIT,  # another thread or process may be building the same store
        )
    except SourceError as error:
        if not isinstance(source, DocDBSource):
            raise
        cause = _without_traceback(error)
        raise _docdb_error(settings, f"building from DocDB failed: {error}") from cause
    except BiodataCacheError:
        raise
    except Exception as error:
        raise BiodataCacheError(f"building tables from {settings.source!r} failed: {error}") from error


def _docdb_error(settings: config.Settings, what: str) -> SourceError:
    return SourceError(
        f"{what}. The {settings.backend} backend builds tables from DocDB on first read. To read the "
        f"published tables instead set BIODATA_CACHE_BACKEND=S3 (anonymous reads, no AWS credentials "
        f"needed); to try the bundled sample records set BIODATA_CACHE_SOURCE=sample."
    )


def _without_traceback(error: BaseException) -> BaseException:
    """The innermost cause of ``error`` (e.g. ``gaierror: Name or service not known``), cut loose.

    It stays chained as the cause of the short error a read raises (so it is known what failed), but
    without its traceback and its own causes it prints as one line instead of a hundred lines of
    urllib3 and requests frames.
    """
    root, seen = error, {id(error)}
    while (root.__cause__ or root.__context__) is not None and len(seen) < 20:
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
        if id(root) in seen:
            break
        seen.add(id(root))
    root.__traceback__ = None
    root.__cause__ = None
    root.__context__ = None
    root.__suppress_context__ = True
    return root
