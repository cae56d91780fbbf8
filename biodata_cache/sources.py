"""Sources of metadata records: DocDB, a folder or JSONL file of records, asset mounts, the bundled sample.

A source yields records (dicts shaped like DocDB records: v1, hybrid or v2) and lists the ids it holds:

* ``records(since=None, ids=None)``: an iterator of records; with ``since`` only those whose
  ``_last_modified`` (v1: ``last_modified``) is newer, with ``ids`` only those ids (both: either condition).
* ``ids()``: ``(_id, change marker)`` of every current record, to detect changes and deletions (the
  marker is :func:`biodata_cache.records.change_marker`).

:func:`open_source` picks one from a specification (argument, else ``BIODATA_CACHE_SOURCE``, else
``docdb``): ``docdb`` or ``docdb://host``, ``sample``, or a path/URL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import logging
import os
import random
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from biodata_cache import config
from biodata_cache.errors import RecordError, SourceError
from biodata_cache.records import (
    CORE_FILES,
    V1_CORE_NAMES,
    change_marker,
    describe_value,
    record_key,
    recorded_change_marker,
    timestamp,
)
from biodata_cache.tables import projection

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

DOCDB_HOST = "api.allenneuraldynamics.org"
DOCDB_VERSION = "v2"
COMPONENT_FILES = CORE_FILES
#: Files an asset mount may hold, as ``<name>.json``: today's component files and v1's ``session`` and
#: ``rig`` (read into the record's field of the same name).
MOUNT_COMPONENTS = (*CORE_FILES, *V1_CORE_NAMES.values())
#: The whole record of an asset mount, first one found (AIND assets write ``metadata.nd.json``).
MOUNT_RECORD_FILES = ("metadata.json", "metadata.nd.json")
#: Namespace of the ``_id`` given to an asset mount whose record has none (see :func:`mount_record_id`).
MOUNT_ID_NAMESPACE = uuid.UUID("6f1c1d2e-3b4a-5c6d-8e9f-0a1b2c3d4e5f")
_CONFIGURE = (
    "Set BIODATA_CACHE_SOURCE (or pass source=) to 'docdb', 'sample', or a folder / .jsonl / .jsonl.gz of "
    "records."
)


def sample_path() -> str:
    """Path of the bundled synthetic sample corpus (``biodata_cache/data/sample_records.jsonl.gz``)."""
    return os.path.join(os.path.dirname(__file__), "data", "sample_records.jsonl.gz")


def record_id(record: dict[str, Any]) -> str | None:
    """A record's id: ``_id`` (a string, or an integer as its text), else its name; None without either.

    An ``_id`` of another type (an object, a list, a float) is no id: such a record has none (see
    :func:`biodata_cache.rows.record_key`).
    """
    return record_key(record)


#: Called with ``(where, reason)`` for each record a source cannot read (see :meth:`Source.records`).
Skip = Callable[[str, str], None]


class Source:
    """Base class of sources. Subclasses implement :meth:`records` and may speed up :meth:`ids`.

    ``cheap_ids`` says whether :meth:`ids` is much cheaper than reading every record (an indexed
    query); when it is not, an incremental build reads the records once and compares times itself.
    """

    description = "source"
    cheap_ids = False

    def records(
        self,
        since: dt.datetime | str | None = None,
        ids: Iterable[str] | None = None,
        *,
        skip: Skip | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield records, optionally only those changed after ``since`` or with one of ``ids``.

        A record the source cannot parse (not JSON, not UTF-8, not an object) raises
        :class:`~biodata_cache.errors.RecordError`; with ``skip`` it is passed to ``skip(where, reason)``
        instead and left out (a build counts it and goes on).
        """
        raise NotImplementedError

    def ids(self) -> Iterator[tuple[str, str | None]]:
        """Yield ``(_id, change marker)`` of every record (:func:`~biodata_cache.records.change_marker`)."""
        for record in self.records():
            identifier = record_id(record)
            if identifier is not None:
                yield identifier, change_marker(record)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


def mount_record_id(name: str) -> str:
    """The ``_id`` of an asset mount whose files give none: a UUID derived from the asset's name.

    ``str(uuid.uuid5(MOUNT_ID_NAMESPACE, name))``: the same asset gets the same id wherever it is mounted
    and on every build (so incremental builds see it as the same record), and different names never
    share one. It is not the asset's DocDB ``_id``, which the component files do not hold.
    """
    return str(uuid.uuid5(MOUNT_ID_NAMESPACE, name))


def _wanted(record: dict[str, Any], since: dt.datetime | None, ids: set[str] | None) -> bool:
    if since is None and ids is None:
        return True
    if ids is not None and record_id(record) in ids:
        return True
    if since is not None:
        modified = timestamp(record.get("_last_modified")) or timestamp(record.get("last_modified"))
        return modified is not None and modified > since
    return False


def _skipped(skip: Skip | None, error: RecordError) -> None:
    if skip is None:
        raise error
    skip(error.where, error.reason)


# -- files ----------------------------------------------------------------------------------------------


def _isal_error() -> type[Exception]:
    """The error ISA-L's gzip reader raises on damaged compressed data."""
    from isal import isal_zlib

    return isal_zlib.error


class FileSource(Source):
    """Records from a path or fsspec URL.

    Accepted layouts: a ``.jsonl`` / ``.jsonl.gz`` file (one record per line), a ``.json`` file (one
    record or a list), a folder of ``*.json`` records, or a folder of asset mounts (the Code Ocean
    layout: ``/data/<asset>/``), each a sub-folder holding ``metadata.json`` (or ``metadata.nd.json``)
    and/or component files (``subject.json``, ``data_description.json``, ``procedures.json``,
    ``acquisition.json`` or v1 ``session.json``, ``instrument.json`` or v1 ``rig.json``,
    ``processing.json``, ``quality_control.json``): a component file overrides the matching field, and a
    mount without a whole record is assembled from its components (see :meth:`_mount`). A folder that
    holds ``data_description.json`` itself is read as one asset mount.

    Files are UTF-8 (a byte-order mark is ignored). A line, file, list item or mount that is not UTF-8,
    not JSON or not an object is one bad record (see :meth:`Source.records`); the other records of the
    file are still read. A ``.gz`` file that is damaged or cut short raises
    :class:`~biodata_cache.errors.SourceError`: what it held cannot be known.
    """

    def __init__(self, path: str, *, description: str | None = None) -> None:
        self.path = path.rstrip("/") if len(path) > 1 else path
        self.description = description or path
        self._fs: Any = None

    @property
    def fs(self) -> Any:
        if self._fs is None:
            import fsspec.core

            try:
                self._fs, self._local = fsspec.core.url_to_fs(self.path)
            except (ValueError, ImportError) as error:
                raise SourceError(
                    f"cannot open the record source {self.path!r}: {error}. {_CONFIGURE}"
                ) from error
        return self._fs

    def records(
        self,
        since: dt.datetime | str | None = None,
        ids: Iterable[str] | None = None,
        *,
        skip: Skip | None = None,
    ) -> Iterator[dict[str, Any]]:
        since_time = timestamp(since) if since is not None else None
        wanted_ids = set(ids) if ids is not None else None
        for record in self._all(skip):
            if _wanted(record, since_time, wanted_ids):
                yield record

    def _all(self, skip: Skip | None) -> Iterator[dict[str, Any]]:
        fs = self.fs
        try:
            is_dir = fs.isdir(self._local)
            exists = is_dir or fs.exists(self._local)
        except OSError as error:
            raise SourceError(f"cannot reach the record source {self.path}: {error}. {_CONFIGURE}") from error
        if not exists:
            raise SourceError(f"the record source {self.path} does not exist. {_CONFIGURE}")
        if not is_dir:
            yield from self._file(self._local, skip)
            return
        entries = sorted(fs.ls(self._local, detail=True), key=lambda e: e["name"])
        if any(_basename(entry["name"]) == "data_description.json" for entry in entries):
            # The folder is one asset mount itself (e.g. /data/<asset>/ given as the source).
            record = self._mount(self._local, {_basename(entry["name"]) for entry in entries}, skip)
            if record is not None:
                yield record
            return
        for entry in entries:
            name = entry["name"]
            if entry["type"] == "directory":
                files = self._mount_files(name)
                if files:
                    record = self._mount(name, files, skip)
                    if record is not None:
                        yield record
            elif name.endswith((".json", ".jsonl", ".jsonl.gz", ".json.gz")):
                yield from self._file(name, skip)

    def _mount_files(self, folder: str) -> set[str]:
        """The record and component files in ``folder`` (empty: not an asset mount)."""
        known = {*MOUNT_RECORD_FILES, *(f"{component}.json" for component in MOUNT_COMPONENTS)}
        try:
            names = {_basename(path) for path in self.fs.ls(folder, detail=False)}
        except OSError as error:
            raise SourceError(f"cannot list the asset mount {folder}: {error}") from error
        return names & known

    def jsonl_lines(self) -> Iterator[tuple[str, bytes]] | None:
        """For a single ``.jsonl`` / ``.jsonl.gz`` source, its records as undecoded ``(where, line)``.

        Lets a build decode and parse records in worker processes (:func:`parse_record`). ``None`` for
        every other layout.
        """
        if not self.path.endswith((".jsonl", ".jsonl.gz")) or not self.fs.isfile(self._local):
            return None
        return self._lines(self._local)

    @contextlib.contextmanager
    def _opened(self, path: str) -> Iterator[Any]:
        with self.fs.open(path, "rb") as raw:
            if path.endswith(".gz"):
                # ISA-L's gzip reader: the same format, 2.5x less CPU than the stdlib's (zlib) on JSONL.
                from isal import igzip

                with igzip.GzipFile(fileobj=raw) as handle:
                    yield handle
            else:
                yield raw

    def _read(self, path: str) -> bytes:
        return b"\n".join(self._byte_lines(path))

    def _byte_lines(self, path: str) -> Iterator[bytes]:
        """The lines of a file as bytes (without the newline), read in chunks."""
        with self._opened(path) as handle:
            pending = b""
            while True:
                try:
                    chunk = handle.read(1 << 20)
                except (EOFError, zlib.error, gzip.BadGzipFile, _isal_error()) as error:
                    raise SourceError(
                        f"{path} is damaged or cut short ({type(error).__name__}: {error}); its records "
                        f"cannot all be read. Fetch or export the file again."
                    ) from error
                except OSError as error:
                    raise SourceError(f"cannot read the record source file {path}: {error}") from error
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                yield from lines
            if pending:
                yield pending

    def _lines(self, path: str) -> Iterator[tuple[str, bytes]]:
        for number, line in enumerate(self._byte_lines(path), start=1):
            if line.strip():
                yield f"{path}:{number}", line

    def _file(self, path: str, skip: Skip | None) -> Iterator[dict[str, Any]]:
        if path.endswith((".jsonl", ".jsonl.gz")):
            for where, line in self._lines(path):
                try:
                    record = parse_record(line, where)
                except RecordError as error:
                    _skipped(skip, error)
                    continue
                yield record
            return
        try:
            document = _parse(self._read(path), path)
        except RecordError as error:
            _skipped(skip, error)
            return
        if isinstance(document, dict):
            yield document
            return
        if not isinstance(document, list):
            _skipped(
                skip,
                RecordError(
                    path, f"expected a record or a list of records, found {describe_value(document)}"
                ),
            )
            return
        for index, item in enumerate(document):
            if isinstance(item, dict):
                yield item
            else:
                _skipped(
                    skip,
                    RecordError(
                        f"{path}[{index}]", f"expected a record (a JSON object), found {describe_value(item)}"
                    ),
                )

    def _object(self, path: str) -> dict[str, Any]:
        value = _parse(self._read(path), path)
        if not isinstance(value, dict):
            raise RecordError(path, f"expected a JSON object, found {describe_value(value)}")
        return value

    def _mount(self, folder: str, files: set[str], skip: Skip | None) -> dict[str, Any] | None:
        """The record of an asset mount; None (reported through ``skip``) if it cannot be assembled.

        The record is ``metadata.json`` (else ``metadata.nd.json``) if the mount holds one, else empty;
        each component file (``subject.json``, ``data_description.json``, ..., v1 ``session.json`` and
        ``rig.json``) replaces the field of its name. A record without a name takes
        ``data_description.json``'s ``name``, else the folder's name; one without ``_id`` gets
        :func:`mount_record_id` of that name; one without ``location`` gets the folder. A mount with
        neither a whole record nor ``data_description.json`` is a bad record.
        """
        try:
            whole = next((name for name in MOUNT_RECORD_FILES if name in files), None)
            record = self._object(f"{folder}/{whole}") if whole else {}
            for component in MOUNT_COMPONENTS:
                if f"{component}.json" in files:
                    record[component] = self._object(f"{folder}/{component}.json")
            if whole is None and "data_description.json" not in files:
                raise RecordError(
                    folder,
                    f"an asset mount needs metadata.json or data_description.json, found only "
                    f"{', '.join(sorted(files))}",
                )
            if not record.get("name"):
                description = record.get("data_description")
                named = description.get("name") if isinstance(description, dict) else None
                record["name"] = named if isinstance(named, str) and named.strip() else _basename(folder)
            if record.get("_id") is None and isinstance(record["name"], str):
                record["_id"] = mount_record_id(record["name"])
            record.setdefault(
                "location", folder if "://" not in self.path else self.fs.unstrip_protocol(folder)
            )
        except RecordError as error:
            _skipped(skip, error)
            return None
        return record


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


_BOM = b"\xef\xbb\xbf"


def parse_record(data: str | bytes, where: str) -> dict[str, Any]:
    """Decode (UTF-8, a byte-order mark ignored) and parse one JSON record.

    Raises
    ------
    RecordError
        Naming ``where``, if the bytes are not UTF-8, not JSON or not a JSON object.
    """
    record = _parse(data, where)
    if not isinstance(record, dict):
        raise RecordError(where, f"expected a record (a JSON object), found {describe_value(record)}")
    return record


def _fast_loads() -> Callable[[str | bytes], Any] | None:
    """``orjson.loads`` (a declared dependency, several times faster than :func:`json.loads`), or None
    where it is not installed."""
    global _FAST_LOADS
    if _FAST_LOADS is False:
        try:
            import orjson
        except ImportError:  # pragma: no cover  (a dependency; the stdlib reads the same records)
            _FAST_LOADS = None
        else:
            _FAST_LOADS = orjson.loads
    return _FAST_LOADS  # type: ignore[return-value]


_FAST_LOADS: Any = False  # not looked up yet


def _parse(data: str | bytes, where: str) -> Any:
    loads = _fast_loads()
    if loads is not None:
        # orjson reads every valid JSON text as json.loads does; what it refuses (NaN and Infinity,
        # integers beyond 64 bits, nesting deeper than 1024, text that is not UTF-8) goes to the
        # stdlib below, which reads the first two and names the error of the others.
        try:
            return loads(data.removeprefix(_BOM) if isinstance(data, bytes) else data.removeprefix("\ufeff"))
        except ValueError:
            pass
    if isinstance(data, bytes):
        data = data.removeprefix(_BOM)
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise RecordError(
                where,
                f"not UTF-8 text (byte 0x{data[error.start]:02x} at position {error.start}); re-encode the "
                f"file as UTF-8",
            ) from error
    try:
        return json.loads(data.removeprefix("\ufeff"))
    except RecursionError as error:
        raise RecordError(where, "not valid JSON (nested too deeply); fix or remove this record") from error
    except ValueError as error:
        raise RecordError(where, f"not valid JSON ({error}); fix or remove this record") from error


# -- DocDB ----------------------------------------------------------------------------------------------


class DocDBSource(Source):
    """Records from AIND DocDB through ``aind-data-access-api``'s ``MetadataDbClient``.

    Pages are bounded (``batch_size`` records, keyset-paged on ``_id``), projections are limited to the
    fields the tables need, and every request has connect and read timeouts and is retried with backoff
    on connection errors, timeouts and HTTP 429/5xx, within a budget of seconds per page: a DocDB that
    accepts connections and never answers fails in about a minute (measured with the defaults: 35 s when
    it never completes the TLS handshake, 61 s when it completes it and never answers).

    Parameters
    ----------
    host
        API host (default ``api.allenneuraldynamics.org``).
    session
        A ``requests.Session`` to use (tests inject one with a fake transport).
    batch_size
        Records per page.
    timeout
        Seconds to connect and to wait for data, as requests takes them: ``(connect, read)`` or one
        number for both.
    attempts, budget
        Tries per page, and seconds after the first try of a page past which no retry starts.
    """

    def __init__(
        self,
        host: str = DOCDB_HOST,
        *,
        version: str = DOCDB_VERSION,
        session: requests.Session | None = None,
        batch_size: int = 500,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        attempts: int = 5,
        budget: float = 60.0,
    ) -> None:
        self.host = host
        self.version = version
        self.description = f"docdb://{host}"
        self.cheap_ids = True
        self.batch_size = batch_size
        self.timeout = timeout
        self.attempts = attempts
        self.budget = budget
        self._session = session
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                from aind_data_access_api.document_db import MetadataDbClient
            except ImportError as error:
                raise SourceError(
                    "the docdb source needs aind-data-access-api: pip install 'biodata-cache[docdb]'. "
                    + _CONFIGURE
                ) from error
            import requests

            session = self._session or requests.Session()
            original = session.request

            def request(method: str, url: str, **kwargs: Any) -> Any:
                kwargs.setdefault("timeout", self.timeout)
                return original(method, url, **kwargs)

            session.request = request  # type: ignore[method-assign]
            self._client = MetadataDbClient(host=self.host, version=self.version, session=session)
        return self._client

    def check_reachable(self) -> None:
        """Ask DocDB for one record id, once and without retries, to fail at once when it cannot be reached.

        Only a failure to connect (no network, unknown host, refused, timed out) raises; an HTTP error
        from a server that answered is left to the build, which retries it.

        Raises
        ------
        SourceError
            Naming the host, chained to the network error.
        """
        import requests

        try:
            self.client.retrieve_docdb_records(filter_query={}, projection={"_id": 1}, limit=1)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise SourceError(
                f"DocDB at {self.host} cannot be reached: {type(error).__name__}: {_summary(error)}"
            ) from error

    def _page(self, query: dict[str, Any], fields: dict[str, int], last_id: str | None) -> list[dict]:
        import requests

        if last_id is not None:
            query = {"$and": [query, {"_id": {"$gt": last_id}}]} if query else {"_id": {"$gt": last_id}}
        deadline = time.monotonic() + self.budget
        for attempt in range(1, self.attempts + 1):
            try:
                return self.client.retrieve_docdb_records(
                    filter_query=query, projection=fields, sort={"_id": 1}, limit=self.batch_size
                )
            except (requests.ConnectionError, requests.Timeout, requests.HTTPError) as error:
                status = getattr(getattr(error, "response", None), "status_code", None)
                unresolvable = "Failed to resolve" in str(error) or "NameResolutionError" in str(error)
                retryable = (status is None and not unresolvable) or status == 429 or (status or 0) >= 500
                delay = min(30.0, 0.5 * 2 ** (attempt - 1)) * (1 + random.random())
                if not retryable or attempt == self.attempts or time.monotonic() + delay > deadline:
                    raise SourceError(
                        f"DocDB at {self.host} failed after {attempt} attempt(s): {type(error).__name__}: "
                        f"{_summary(error)}. Check the network and the host, or build "
                        f"from another source. " + _CONFIGURE
                    ) from error
                logger.warning(
                    "DocDB request failed (%s); retry %d in %.1fs", _summary(error), attempt, delay
                )
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _scan(self, query: dict[str, Any], fields: dict[str, int]) -> Iterator[dict[str, Any]]:
        last_id = None
        while True:
            page = self._page(query, fields, last_id)
            if not page:
                return
            yield from page
            last_id = page[-1]["_id"]
            if len(page) < self.batch_size:
                return

    def records(
        self,
        since: dt.datetime | str | None = None,
        ids: Iterable[str] | None = None,
        *,
        skip: Skip | None = None,
    ) -> Iterator[dict[str, Any]]:
        # DocDB returns parsed JSON objects: there is nothing to skip at this level (a build checks each
        # record's fields itself).
        fields = dict.fromkeys(projection(), 1)
        if ids is not None:
            chunk: list[str] = []
            for identifier in sorted(ids):
                chunk.append(identifier)
                if len(chunk) == self.batch_size:
                    yield from self._scan({"_id": {"$in": chunk}}, fields)
                    chunk = []
            if chunk:
                yield from self._scan({"_id": {"$in": chunk}}, fields)
            if since is None:
                return
        query: dict[str, Any] = {}
        if since is not None:
            after = {"$gt": since if isinstance(since, str) else _iso(since)}
            # v1 records keep their time in last_modified (see biodata_cache.records.change_marker).
            query = {"$or": [{"_last_modified": after}, {"last_modified": after}]}
        seen = set(ids or ())
        for record in self._scan(query, fields):
            if record.get("_id") not in seen:
                yield record

    def ids(self) -> Iterator[tuple[str, str | None]]:
        for record in self._scan({}, {"_id": 1, "_last_modified": 1, "last_modified": 1}):
            # A record with neither time has no marker here (its content is not fetched): the build state
            # holds its content fingerprint, so it is fetched again on every build, never missed.
            yield str(record["_id"]), recorded_change_marker(record)


def _summary(error: BaseException) -> str:
    """An HTTP error without its (very long) query string."""
    return str(error).split(" (Caused by ")[0].split("?", 1)[0][:300]


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def open_source(spec: str | None = None, *, session: requests.Session | None = None) -> Source:
    """Open the source named by ``spec``, else ``BIODATA_CACHE_SOURCE``, else ``docdb``.

    Parameters
    ----------
    spec
        ``docdb`` (production DocDB), ``docdb://host``, ``sample`` (bundled synthetic records), or a
        path/URL of records (see :class:`FileSource`).
    session
        ``requests.Session`` for the DocDB client (tests inject a fake transport).
    """
    spec = config.source_spec(spec)
    if spec == "docdb" or spec.startswith("docdb://"):
        host = spec[len("docdb://") :] if spec.startswith("docdb://") else DOCDB_HOST
        if not host.strip() or host != host.strip() or "/" in host:
            raise SourceError(
                f"source {spec!r} names no DocDB host: expected 'docdb' (production) or 'docdb://HOST' such "
                f"as 'docdb://{DOCDB_HOST}'. " + _CONFIGURE
            )
        return DocDBSource(host, session=session)
    if spec == "sample":
        return FileSource(sample_path(), description="sample (bundled synthetic records)")
    return FileSource(spec)
