"""Sources of metadata records: DocDB, a folder or JSONL file of records, asset mounts, the bundled sample.

A source yields records (dicts shaped like DocDB v2 records) and lists the ids it holds:

* ``records(since=None, ids=None)``: an iterator of records; with ``since`` only those whose
  ``_last_modified`` is newer, with ``ids`` only those ids (both: either condition).
* ``ids()``: ``(_id, _last_modified)`` of every current record, to detect changes and deletions.

:func:`open_source` picks one from a specification (argument, else ``BIODATA_CACHE_SOURCE``, else
``docdb``): ``docdb`` or ``docdb://host``, ``sample``, or a path/URL.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import logging
import os
import random
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from biodata_cache import config
from biodata_cache.errors import SourceError
from biodata_cache.rows import CORE_FILES, timestamp
from biodata_cache.tables import projection

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

DOCDB_HOST = "api.allenneuraldynamics.org"
DOCDB_VERSION = "v2"
COMPONENT_FILES = CORE_FILES
_CONFIGURE = (
    "Set BIODATA_CACHE_SOURCE (or pass source=) to 'docdb', 'sample', or a folder / .jsonl / .jsonl.gz of "
    "records."
)


def sample_path() -> str:
    """Path of the bundled synthetic sample corpus (``biodata_cache/data/sample_records.jsonl.gz``)."""
    return os.path.join(os.path.dirname(__file__), "data", "sample_records.jsonl.gz")


def record_id(record: dict[str, Any]) -> str | None:
    """A record's id: ``_id``, else its name."""
    value = record.get("_id") or record.get("name")
    return str(value) if value is not None else None


class Source:
    """Base class of sources. Subclasses implement :meth:`records` and may speed up :meth:`ids`.

    ``cheap_ids`` says whether :meth:`ids` is much cheaper than reading every record (an indexed
    query); when it is not, an incremental build reads the records once and compares times itself.
    """

    description = "source"
    cheap_ids = False

    def records(
        self, since: dt.datetime | str | None = None, ids: Iterable[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield records, optionally only those changed after ``since`` or with one of ``ids``."""
        raise NotImplementedError

    def ids(self) -> Iterator[tuple[str, str | None]]:
        """Yield ``(_id, _last_modified)`` of every record."""
        for record in self.records():
            identifier = record_id(record)
            if identifier is not None:
                yield identifier, _text_time(record.get("_last_modified"))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


def _text_time(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _wanted(record: dict[str, Any], since: dt.datetime | None, ids: set[str] | None) -> bool:
    if since is None and ids is None:
        return True
    if ids is not None and record_id(record) in ids:
        return True
    if since is not None:
        modified = timestamp(record.get("_last_modified"))
        return modified is not None and modified > since
    return False


# -- files ----------------------------------------------------------------------------------------------


class FileSource(Source):
    """Records from a path or fsspec URL.

    Accepted layouts: a ``.jsonl`` / ``.jsonl.gz`` file (one record per line), a ``.json`` file (one
    record or a list), a folder of ``*.json`` records, or a folder of asset mounts, each a sub-folder with
    ``metadata.json`` and optional component files (``subject.json``, ``data_description.json``, ...)
    that override the matching fields.
    """

    def __init__(self, path: str, *, description: str | None = None) -> None:
        self.path = path.rstrip("/") if len(path) > 1 else path
        self.description = description or path
        self._fs: Any = None

    @property
    def fs(self) -> Any:
        if self._fs is None:
            import fsspec.core

            self._fs, self._local = fsspec.core.url_to_fs(self.path)
        return self._fs

    def records(
        self, since: dt.datetime | str | None = None, ids: Iterable[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        since_time = timestamp(since) if since is not None else None
        wanted_ids = set(ids) if ids is not None else None
        for record in self._all():
            if _wanted(record, since_time, wanted_ids):
                yield record

    def _all(self) -> Iterator[dict[str, Any]]:
        fs = self.fs
        try:
            is_dir = fs.isdir(self._local)
            exists = is_dir or fs.exists(self._local)
        except OSError as error:
            raise SourceError(f"cannot reach the record source {self.path}: {error}. {_CONFIGURE}") from error
        if not exists:
            raise SourceError(f"the record source {self.path} does not exist. {_CONFIGURE}")
        if not is_dir:
            yield from self._file(self._local)
            return
        for entry in sorted(fs.ls(self._local, detail=True), key=lambda e: e["name"]):
            name = entry["name"]
            if entry["type"] == "directory":
                if fs.exists(f"{name}/metadata.json"):
                    yield self._mount(name)
            elif name.endswith((".json", ".jsonl", ".jsonl.gz", ".json.gz")):
                yield from self._file(name)

    def jsonl_lines(self) -> Iterator[tuple[str, str]] | None:
        """For a single ``.jsonl`` / ``.jsonl.gz`` source, its records as unparsed ``(where, line)``.

        Lets a build parse records in worker processes. ``None`` for every other layout.
        """
        if not self.path.endswith((".jsonl", ".jsonl.gz")) or not self.fs.isfile(self._local):
            return None
        return self._lines(self._local)

    def _lines(self, path: str) -> Iterator[tuple[str, str]]:
        with self.fs.open(path, "rb") as raw:
            handle = (
                gzip.open(raw, "rt", encoding="utf-8")  # noqa: SIM115  (closed with raw)
                if path.endswith(".gz")
                else io.TextIOWrapper(raw, encoding="utf-8")
            )
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield f"{path}:{number}", line

    def _file(self, path: str) -> Iterator[dict[str, Any]]:
        lines = path.endswith((".jsonl", ".jsonl.gz"))
        with self.fs.open(path, "rb") as raw:
            handle = (
                gzip.open(raw, "rt", encoding="utf-8")  # noqa: SIM115  (closed with raw)
                if path.endswith(".gz")
                else io.TextIOWrapper(raw, encoding="utf-8")
            )
            if lines:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        yield _parse(line, f"{path}:{number}")
                return
            document = _parse(handle.read(), path)
        for item in document if isinstance(document, list) else [document]:
            if not isinstance(item, dict):
                raise SourceError(f"{path}: expected a record (JSON object) or a list of records")
            yield item

    def _mount(self, folder: str) -> dict[str, Any]:
        record = next(iter(self._file(f"{folder}/metadata.json")))
        for component in COMPONENT_FILES:
            path = f"{folder}/{component}.json"
            if self.fs.exists(path):
                record[component] = next(iter(self._file(path)))
        return record


def parse_record(text: str, where: str) -> dict[str, Any]:
    """Parse one JSON record; a malformed one raises :class:`SourceError` naming ``where``."""
    record = _parse(text, where)
    if not isinstance(record, dict):
        raise SourceError(f"{where}: expected a record (JSON object), found a list")
    return record


def _parse(text: str, where: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise SourceError(f"{where}: not valid JSON ({error}); fix or remove this record.") from error
    if not isinstance(value, (dict, list)):
        raise SourceError(f"{where}: expected a record (JSON object), found {type(value).__name__}")
    return value


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
        self, since: dt.datetime | str | None = None, ids: Iterable[str] | None = None
    ) -> Iterator[dict[str, Any]]:
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
            query = {"_last_modified": {"$gt": since if isinstance(since, str) else _iso(since)}}
        seen = set(ids or ())
        for record in self._scan(query, fields):
            if record.get("_id") not in seen:
                yield record

    def ids(self) -> Iterator[tuple[str, str | None]]:
        for record in self._scan({}, {"_id": 1, "_last_modified": 1}):
            yield str(record["_id"]), _text_time(record.get("_last_modified"))


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
    spec = config.resolve(source=spec).source
    if spec == "docdb" or spec.startswith("docdb://"):
        host = spec[len("docdb://") :] or DOCDB_HOST if spec.startswith("docdb://") else DOCDB_HOST
        return DocDBSource(host, session=session)
    if spec == "sample":
        return FileSource(sample_path(), description="sample (bundled synthetic records)")
    return FileSource(spec)
