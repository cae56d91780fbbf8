"""The store: one fsspec code path for ``memory://``, local folders, ``s3://`` and read-only ``https://``.

The store knows bytes, JSON and parquet objects under a root URL. It creates its filesystem lazily (no
client exists until the first I/O), translates errors once at the I/O boundary (missing object, access
refused, store unreachable), retries transient errors with backoff, writes each object in one atomic step
and updates the shared top-level files with conditional writes so that concurrent publishers never lose
each other's work.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from biodata_cache.errors import (
    BiodataCacheError,
    ConflictError,
    StoreAccessError,
    StoreUnavailableError,
)

if TYPE_CHECKING:
    import fsspec
    import pyarrow as pa

logger = logging.getLogger(__name__)

READ_ONLY_PROTOCOLS = ("http", "https")
_TRANSIENT_MARKERS = (
    "SlowDown",
    "503",
    "Service Unavailable",
    "InternalError",
    "RequestTimeout",
    "Connection reset",
    "ServerDisconnected",
)
_MEMORY_LOCK = threading.Lock()


class StoreError(BiodataCacheError, OSError):
    """An I/O error of the store that is neither a missing object, a refusal nor a network failure."""


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, (FileNotFoundError, PermissionError, FileExistsError, IsADirectoryError)):
        return False
    if isinstance(error, (ConnectionResetError, TimeoutError)):
        return True
    text = f"{type(error).__name__} {error}"
    return any(marker in text for marker in _TRANSIENT_MARKERS)


def _is_connection_failure(error: BaseException) -> bool:
    if isinstance(error, (ConnectionError, TimeoutError)) and not isinstance(error, PermissionError):
        return True
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(
        names
        & {
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "ClientConnectorError",
            "ServerDisconnectedError",
            "ClientOSError",
            "ConnectionClosedError",
        }
    ) or _is_transient(error)


@contextlib.contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Translate low-level I/O errors raised inside the block into biodata-cache errors.

    ``FileNotFoundError`` passes through unchanged (the caller knows whether it means a missing table
    or a missing version); refusals become :class:`StoreAccessError`; network failures become
    :class:`StoreUnavailableError`; the original error is chained as the cause.
    """
    try:
        yield
    except (BiodataCacheError, FileNotFoundError):
        raise
    except PermissionError as error:
        raise StoreAccessError(
            f"the store refused access to {url}: {error}. To read a public bucket without credentials "
            f"pass storage_options={{'anon': True}}; to write, configure AWS credentials (AWS_PROFILE or "
            f"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)."
        ) from error
    except Exception as error:
        if _is_connection_failure(error):
            raise StoreUnavailableError(
                f"could not reach the store at {url}: {type(error).__name__}: {error}. Check the network "
                f"and the endpoint (AWS_ENDPOINT_URL, BIODATA_CACHE_ROOT), or work from a local copy with "
                f"BIODATA_CACHE_ROOT=/path/to/copy."
            ) from error
        if isinstance(error, OSError):
            raise StoreError(f"store error on {url}: {type(error).__name__}: {error}") from error
        raise


def with_retries(
    operation: Callable[[], Any], *, what: str, attempts: int = 5, base_delay: float = 0.1
) -> Any:
    """Run ``operation``, retrying transient store errors (503 SlowDown, connection resets) with backoff.

    Any other error is raised at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except Exception as error:
            if attempt == attempts or not _is_transient(error):
                raise
            delay = base_delay * 2 ** (attempt - 1) * (1 + random.random())
            logger.warning("transient error on %s (%s); retry %d in %.2fs", what, error, attempt, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def cat_small(fs: fsspec.AbstractFileSystem, path: str) -> bytes:
    """Fetch a small object whole in one GET.

    s3fs otherwise sends a HEAD first to decide whether to split the download into ranges, which
    doubles the requests for catalogs, JSON documents and partition files.
    """
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    if "s3" in protocols:
        return fs.cat_file(path, max_concurrency=1)
    return fs.cat_file(path)


def _has_aws_credentials() -> bool:
    import botocore.session

    return botocore.session.Session().get_credentials() is not None


class Store:
    """Objects under one root URL.

    Parameters
    ----------
    root
        Any fsspec URL or local path: ``memory://biodata-cache``, ``/data/cache``, ``s3://bucket/prefix``,
        ``https://mirror/prefix`` (read-only).
    storage_options
        Options for the filesystem. For ``s3://`` without credentials configured, reads fall back to
        anonymous access (``anon=True``) unless ``anon`` is given.
    """

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        self.root = root.rstrip("/") or "/"
        self.storage_options = dict(storage_options or {})
        self._fs: fsspec.AbstractFileSystem | None = None
        self._root_path: str | None = None

    def __repr__(self) -> str:
        return f"Store({self.root!r})"

    @property
    def protocol(self) -> str:
        """The URL scheme of the root (``file`` for a local path)."""
        return self.root.split("://", 1)[0] if "://" in self.root else "file"

    @property
    def writable(self) -> bool:
        """Whether the store accepts writes at all (HTTP(S) mirrors do not)."""
        return self.protocol not in READ_ONLY_PROTOCOLS

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem, created on first use."""
        if self._fs is None:
            import fsspec.core

            options = dict(self.storage_options)
            wants_anon = self.protocol in ("s3", "s3a") and not {"anon", "key"} & set(options)
            if wants_anon and not _has_aws_credentials():
                logger.info("no AWS credentials found; reading %s anonymously", self.root)
                options["anon"] = True
            with translate_errors(self.root):
                self._fs, self._root_path = fsspec.core.url_to_fs(self.root, **options)
            self.storage_options = options
        return self._fs

    def url(self, *parts: str) -> str:
        """The full URL of a path relative to the root."""
        return "/".join([self.root, *[p.strip("/") for p in parts if p]])

    def _path(self, *parts: str) -> str:
        self.fs  # noqa: B018  (creates the filesystem and root path)
        assert self._root_path is not None
        return "/".join([self._root_path.rstrip("/"), *[p.strip("/") for p in parts if p]])

    # -- reads ------------------------------------------------------------------------------------

    def read_bytes(self, relpath: str) -> bytes:
        """Read an object. Raises ``FileNotFoundError`` if it does not exist."""
        url = self.url(relpath)
        with translate_errors(url):
            return with_retries(lambda: cat_small(self.fs, self._path(relpath)), what=url)

    def read_json(self, relpath: str) -> Any:
        """Read and parse a JSON object. Raises ``FileNotFoundError`` if it does not exist."""
        data = self.read_bytes(relpath)
        try:
            return json.loads(data)
        except ValueError as error:
            raise StoreError(f"{self.url(relpath)} is not valid JSON: {error}") from error

    def exists(self, relpath: str) -> bool:
        """Whether an object exists."""
        url = self.url(relpath)
        with translate_errors(url):
            return bool(with_retries(lambda: self.fs.exists(self._path(relpath)), what=url))

    def list_names(self, relpath: str) -> list[str]:
        """Names of the entries directly under a folder; empty if the folder does not exist."""
        url = self.url(relpath)
        with translate_errors(url):
            try:
                entries = with_retries(lambda: self.fs.ls(self._path(relpath), detail=False), what=url)
            except FileNotFoundError:
                return []
        return sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in entries)

    # -- writes -----------------------------------------------------------------------------------

    def _check_writable(self, relpath: str) -> None:
        if not self.writable:
            raise StoreAccessError(
                f"cannot write {self.url(relpath)}: {self.protocol}:// stores are read-only. Publish "
                f"to a writable root (s3://..., a folder or memory://) with BIODATA_CACHE_ROOT."
            )

    def write_bytes(self, relpath: str, data: bytes) -> None:
        """Write an object in one atomic step (one PUT; temp file then rename on local disk)."""
        self._check_writable(relpath)
        url = self.url(relpath)
        path = self._path(relpath)
        with translate_errors(url):
            if self.protocol in ("file", "local"):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                temporary = f"{path}.tmp-{uuid.uuid4().hex}"
                with open(temporary, "wb") as handle:
                    handle.write(data)
                os.replace(temporary, path)
            else:
                with_retries(lambda: self.fs.pipe_file(path, data), what=url)

    def write_json(self, relpath: str, value: Any) -> None:
        """Write a JSON document (indented, keys in insertion order)."""
        self.write_bytes(relpath, (json.dumps(value, indent=2, default=str) + "\n").encode())

    def write_parquet(self, relpath: str, table: pa.Table) -> None:
        """Write an arrow table as one zstd-compressed parquet object."""
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        self.write_bytes(relpath, buffer.getvalue())

    def delete(self, relpath: str, *, recursive: bool = False) -> None:
        """Delete an object or folder; a missing one is not an error."""
        self._check_writable(relpath)
        url = self.url(relpath)
        with translate_errors(url), contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._path(relpath), recursive=recursive)

    def update_bytes(
        self, relpath: str, change: Callable[[bytes | None], bytes], *, attempts: int = 50
    ) -> bytes:
        """Read-modify-write an object so that concurrent writers never lose an update.

        ``change`` receives the current content (``None`` if the object does not exist yet) and returns
        the new content; it may be called again when another writer got there first. On S3 the write is
        conditional (``If-Match`` on the ETag, ``If-None-Match: *`` to create); on local disk a lock file
        serialises writers; in memory a process lock does.

        Raises
        ------
        ConflictError
            If the object kept changing under us for ``attempts`` tries.
        """
        self._check_writable(relpath)
        url = self.url(relpath)
        path = self._path(relpath)
        with translate_errors(url):
            if self.protocol in ("s3", "s3a"):
                return self._update_s3(path, url, change, attempts)
            if self.protocol in ("file", "local"):
                with _file_lock(path + ".lock"):
                    return self._update_locked(relpath, change)
            with _MEMORY_LOCK:
                return self._update_locked(relpath, change)

    def _update_locked(self, relpath: str, change: Callable[[bytes | None], bytes]) -> bytes:
        try:
            current: bytes | None = self.read_bytes(relpath)
        except FileNotFoundError:
            current = None
        new = change(current)
        self.write_bytes(relpath, new)
        return new

    def _update_s3(
        self, path: str, url: str, change: Callable[[bytes | None], bytes], attempts: int
    ) -> bytes:
        bucket, key = path.split("/", 1)
        fs = self.fs
        for attempt in range(1, attempts + 1):
            try:
                etag = with_retries(lambda: fs.info(path, refresh=True)["ETag"], what=url)
                current: bytes | None = with_retries(lambda: fs.cat_file(path), what=url)
            except FileNotFoundError:
                etag, current = None, None
            new = change(current)
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            try:
                fs.call_s3("put_object", Bucket=bucket, Key=key, Body=new, **condition)
            except (FileExistsError, OSError) as error:
                if not _is_precondition_failure(error):
                    raise
                logger.info("%s changed while updating it (attempt %d); retrying", url, attempt)
                time.sleep(random.uniform(0.01, 0.05) * attempt)
                continue
            finally:
                fs.invalidate_cache(path)
            return new
        raise ConflictError(
            f"{url} kept changing while this process tried to update it ({attempts} attempts); another "
            f"publisher is writing it. Run the publish again."
        )


def _is_precondition_failure(error: BaseException) -> bool:
    text = str(error)
    cause = error.__cause__
    code = getattr(cause, "response", {}).get("Error", {}).get("Code") if cause is not None else None
    return code in ("PreconditionFailed", "ConditionalRequestConflict") or "pre-condition" in text


@contextlib.contextmanager
def _file_lock(path: str, timeout: float = 60.0, stale_after: float = 300.0) -> Iterator[None]:
    """An exclusive lock between processes on one machine, held by creating ``path``."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):
                if time.time() - os.path.getmtime(path) > stale_after:
                    logger.warning("removing stale lock %s", path)
                    os.remove(path)
                    continue
            if time.monotonic() > deadline:
                raise ConflictError(
                    f"could not lock {path} within {timeout:.0f}s; another publisher holds it. If no "
                    f"other publisher runs, delete the lock file."
                ) from None
            time.sleep(0.01)
    try:
        yield
    finally:
        os.close(handle)
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
