"""Anonymous S3 GETs with the standard library: public buckets read without s3fs, aiobotocore, botocore.

Reading the published bucket anonymously needs no signature, so a whole-object (or ranged) GET is one
plain HTTP(S) request. :class:`AnonymousS3Reader` sends it with :mod:`http.client` over kept-alive
connections, with the store's timeouts and retry policy (the ``connect_timeout``, ``read_timeout`` and
``retries.total_max_attempts`` of :data:`biodata_cache.store.S3_CONFIG` or the caller's
``config_kwargs``) and raises errors that :func:`biodata_cache.store.translate_errors` translates as it
translates botocore's: 404 is ``FileNotFoundError``, 401/403 become ``StoreAccessError``, 5xx / 429,
refused connections and timeouts are retried and then become ``StoreUnavailableError``; a body that breaks
off or fails its CRC32 checksum is :class:`~biodata_cache.store.BrokenBodyError` (``fetch`` fetches it
again). Writes and listings keep s3fs.

:func:`reader_for` decides when this client is used: ``anon`` is true and every other option is one it
implements (an endpoint, a region, timeouts, retries); any other option (requester pays, versions, SSL
settings, a session, ...) keeps s3fs. Importing this module imports only the standard library.
"""

from __future__ import annotations

import base64
import http.client
import logging
import os
import random
import re
import ssl
import threading
import time
import urllib.parse
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from biodata_cache.store import FETCH_CONCURRENCY, S3_CONFIG, BrokenBodyError

logger = logging.getLogger(__name__)

#: Options :class:`AnonymousS3Reader` implements; any other keeps s3fs.
READER_OPTIONS = frozenset({"anon", "endpoint_url", "client_kwargs", "config_kwargs"})
_CLIENT_KWARGS = frozenset({"endpoint_url", "region_name"})
_CONFIG_KWARGS = frozenset({"connect_timeout", "read_timeout", "retries"})
_RETRY_KEYS = frozenset({"total_max_attempts", "max_attempts", "mode"})
#: Idle kept-alive connections per host (a whole partitioned table is fetched on up to
#: :data:`~biodata_cache.store.FETCH_CONCURRENCY` connections at once).
_IDLE_PER_HOST = FETCH_CONCURRENCY
_MAX_BACKOFF = 20.0  # seconds, as botocore's standard retry mode
_DNS_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_RETRIED_CODES = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling"}


class S3ResponseError(OSError):
    """An S3 error response; ``response`` has botocore's shape (error code, HTTP status)."""

    def __init__(self, message: str, *, status: int, code: str | None, endpoint: str) -> None:
        super().__init__(message)
        self.status = status
        self.response = {
            "Error": {"Code": code or str(status), "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        self.kwargs = {"endpoint_url": endpoint}


class EndpointConnectionError(ConnectionError):
    """The endpoint refused or dropped the connection before answering (botocore's name)."""

    def __init__(self, message: str, *, endpoint: str) -> None:
        super().__init__(message)
        self.kwargs = {"endpoint_url": endpoint}


class ConnectTimeoutError(TimeoutError):
    """No connection within ``connect_timeout`` (botocore's name)."""

    def __init__(self, message: str, *, endpoint: str) -> None:
        super().__init__(message)
        self.kwargs = {"endpoint_url": endpoint}


class ReadTimeoutError(TimeoutError):
    """No response within ``read_timeout`` (botocore's name)."""

    def __init__(self, message: str, *, endpoint: str) -> None:
        super().__init__(message)
        self.kwargs = {"endpoint_url": endpoint}


class FlexibleChecksumError(OSError):
    """The body's CRC32 is not the one S3 recorded (botocore's name): it arrived damaged."""


def reader_for(options: dict[str, Any]) -> AnonymousS3Reader | None:
    """The stdlib reader for these s3 filesystem options, or None when s3fs must read.

    Used when ``anon`` is true and the other options are only ``endpoint_url`` (or
    ``client_kwargs={"endpoint_url", "region_name"}``) and ``config_kwargs`` with ``connect_timeout``,
    ``read_timeout`` and ``retries``.
    """
    if options.get("anon") is not True or not set(options) <= READER_OPTIONS:
        return None
    client = options.get("client_kwargs") or {}
    config = options.get("config_kwargs") or {}
    retries = config.get("retries") or {}
    if not (
        isinstance(client, dict)
        and isinstance(config, dict)
        and isinstance(retries, dict)
        and set(client) <= _CLIENT_KWARGS
        and set(config) <= _CONFIG_KWARGS
        and set(retries) <= _RETRY_KEYS
    ):
        return None
    defaults = S3_CONFIG["retries"]
    if "total_max_attempts" in retries:
        attempts = int(retries["total_max_attempts"])
    elif "max_attempts" in retries:
        attempts = int(retries["max_attempts"]) + 1  # botocore: retries after the first attempt
    else:
        attempts = int(defaults["total_max_attempts"])
    endpoint = (
        options.get("endpoint_url")
        or client.get("endpoint_url")
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or None
    )
    region = client.get("region_name") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return AnonymousS3Reader(
        endpoint=endpoint,
        region=region,
        connect_timeout=float(config.get("connect_timeout", S3_CONFIG["connect_timeout"])),
        read_timeout=float(config.get("read_timeout", S3_CONFIG["read_timeout"])),
        attempts=max(attempts, 1),
    )


class _Pool:
    """Idle kept-alive connections, per (scheme, host, port); shared by every reader of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._pid = os.getpid()

    def acquire(
        self, scheme: str, host: str, port: int, connect_timeout: float
    ) -> tuple[http.client.HTTPConnection, bool]:
        """A connection (and whether it was used before: a reused one may have been closed by the server)."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's connections are not its own
                self._idle, self._pid = {}, os.getpid()
            idle = self._idle.get((scheme, host, port))
            if idle:
                return idle.pop(), True
        return self.new(scheme, host, port, connect_timeout), False

    def new(self, scheme: str, host: str, port: int, connect_timeout: float) -> http.client.HTTPConnection:
        """A new (not yet connected) connection."""
        if scheme == "https":
            with self._lock:
                context = self._ssl_context()
            return http.client.HTTPSConnection(host, port, timeout=connect_timeout, context=context)
        return http.client.HTTPConnection(host, port, timeout=connect_timeout)

    def release(self, scheme: str, host: str, port: int, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault((scheme, host, port), [])
            if len(idle) < _IDLE_PER_HOST:
                idle.append(connection)
                return
        connection.close()

    def clear(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            bundle = os.environ.get("AWS_CA_BUNDLE") or None
            self._ssl = ssl.create_default_context(cafile=bundle)
        return self._ssl


POOL = _Pool()


class AnonymousS3Reader:
    """GETs of public S3 objects over plain HTTP(S), with the store's timeouts, retries and errors.

    Paths are s3fs's (``bucket/key``). Objects are addressed path-style on a custom endpoint
    (``<endpoint>/<bucket>/<key>``: moto, MinIO, a proxy) and virtual-hosted on AWS
    (``https://<bucket>.s3[.<region>].amazonaws.com/<key>``; path-style for bucket names that are not
    DNS labels). A redirect to the bucket's region (301/307 with ``x-amz-bucket-region``) is followed
    once per reader.

    Parameters
    ----------
    endpoint
        ``scheme://host[:port]`` of the S3 service, or None for AWS.
    region
        AWS region of the default endpoint (None: the global endpoint).
    connect_timeout, read_timeout
        Seconds to connect, and to wait for each read of the response.
    attempts
        Requests per GET in all (the first and its retries).
    """

    protocol = "s3-anonymous-http"
    whole_object_reader = True  # see biodata_cache.store.open_reader

    def __init__(
        self,
        *,
        endpoint: str | None,
        region: str | None,
        connect_timeout: float,
        read_timeout: float,
        attempts: int,
    ) -> None:
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.region = region
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.attempts = attempts

    def __repr__(self) -> str:
        return f"AnonymousS3Reader(endpoint={self.endpoint or 'AWS'!r})"

    @staticmethod
    def path_of(url: str) -> str:
        """The s3fs path (``bucket/key``) of an ``s3://`` URL."""
        return url.split("://", 1)[1] if "://" in url else url

    def url_of(self, path: str) -> str:
        """The HTTP(S) URL of an object."""
        bucket, _, key = path.partition("/")
        quoted = urllib.parse.quote(key, safe="/~")
        if self.endpoint is not None:
            return f"{self.endpoint}/{bucket}/{quoted}"
        host = f"s3.{self.region}.amazonaws.com" if self.region else "s3.amazonaws.com"
        if _DNS_BUCKET.fullmatch(bucket):
            return f"https://{bucket}.{host}/{quoted}"
        return f"https://{host}/{bucket}/{quoted}"

    # -- requests -----------------------------------------------------------------------------------

    def get(self, path: str, byte_range: tuple[int, int] | None = None) -> bytes:
        """The object's bytes (``byte_range``: ``(start, end)``, end exclusive), in one GET.

        Raises ``FileNotFoundError`` for a missing object or bucket; :class:`S3ResponseError`,
        :class:`EndpointConnectionError`, :class:`ConnectTimeoutError` or :class:`ReadTimeoutError`
        after the attempts; :class:`~biodata_cache.store.BrokenBodyError` when the body broke off or
        failed its checksum (not retried here: :func:`~biodata_cache.store.fetch` fetches again).
        """
        headers = {"x-amz-checksum-mode": "ENABLED", "Accept-Encoding": "identity"}
        if byte_range is not None:
            start, end = byte_range
            headers["Range"] = f"bytes={start}-{end - 1}"
        return self._get(path, headers, whole=byte_range is None)[0]

    def get_range(self, path: str, spec: str) -> tuple[bytes, int]:
        """The bytes of one ``Range`` header value (``bytes=-N`` for the last N, ``bytes=A-B``) and the
        object's size (from ``Content-Range``; the body's length when the whole object came)."""
        headers = {"Accept-Encoding": "identity", "Range": spec}
        body, response_headers = self._get(path, headers, whole=False)
        total = (response_headers.get("content-range") or "").rpartition("/")[2]
        return body, int(total) if total.isdigit() else len(body)

    def _get(self, path: str, headers: dict[str, str], *, whole: bool) -> tuple[bytes, dict[str, str]]:
        """One GET with retries (see :meth:`get`): the body and the response headers."""
        redirected = False
        attempt = 0
        while True:
            attempt += 1
            url = self.url_of(path)
            try:
                status, response_headers, body = self._request(url, headers)
            except (ConnectionError, TimeoutError) as error:
                if attempt >= self.attempts:
                    raise
                self._backoff(attempt, url, error)
                continue
            if status in (200, 206):
                if whole:
                    _check_crc32(url, response_headers, body)
                return body, response_headers
            code = _error_code(body)
            region = response_headers.get("x-amz-bucket-region")
            if status in (301, 307) and region and not redirected and self.endpoint is None:
                logger.debug("%s is in region %s; asking there", url, region)
                self.region, redirected = region, True
                attempt -= 1
                continue
            endpoint = _origin(url)
            if status == 404:
                raise FileNotFoundError(f"{url}: {code or 'not found'} (HTTP 404)") from S3ResponseError(
                    f"GET {url}: HTTP 404 {code}", status=status, code=code, endpoint=endpoint
                )
            error = S3ResponseError(
                f"GET {url}: HTTP {status} {code or ''}".rstrip(), status=status, code=code, endpoint=endpoint
            )
            transient = status >= 500 or status == 429 or code in _RETRIED_CODES
            if not transient or attempt >= self.attempts:
                raise error
            self._backoff(attempt, url, error)

    def get_many(self, paths: list[str]) -> dict[str, bytes | BaseException]:
        """Many objects concurrently (one GET each, up to FETCH_CONCURRENCY at once); errors as values."""

        def one(path: str) -> bytes | BaseException:
            try:
                return self.get(path)
            except Exception as error:  # returned, then raised and translated by fetch()
                return error

        if len(paths) <= 1:
            return {path: one(path) for path in paths}
        with ThreadPoolExecutor(max_workers=min(FETCH_CONCURRENCY, len(paths))) as pool:
            return dict(zip(paths, pool.map(one, paths), strict=True))

    def _backoff(self, attempt: int, url: str, error: BaseException) -> None:
        delay = random.random() * min(_MAX_BACKOFF, 2 ** (attempt - 1))
        logger.debug(
            "GET %s failed (%s: %s); attempt %d in %.2fs",
            url,
            type(error).__name__,
            error,
            attempt + 1,
            delay,
        )
        time.sleep(delay)

    def _request(self, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """One GET: status, headers (lower-case names) and body; network errors as botocore names them."""
        parts = urllib.parse.urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        endpoint = f"{scheme}://{parts.netloc}"
        connection, reused = POOL.acquire(scheme, host, port, self.connect_timeout)
        while True:
            if connection.sock is None:
                try:
                    connection.connect()
                except TimeoutError as error:
                    connection.close()
                    raise ConnectTimeoutError(
                        f"no connection to {endpoint} within {self.connect_timeout} s (GET {url})",
                        endpoint=endpoint,
                    ) from error
                except OSError as error:
                    connection.close()
                    raise EndpointConnectionError(
                        f"could not connect to {endpoint} (GET {url}): {error}", endpoint=endpoint
                    ) from error
            connection.sock.settimeout(self.read_timeout)
            try:
                connection.request("GET", target, headers=headers)
                response = connection.getresponse()
            except TimeoutError as error:
                connection.close()
                raise ReadTimeoutError(
                    f"no response from {endpoint} within {self.read_timeout} s (GET {url})", endpoint=endpoint
                ) from error
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                if reused:  # the server closed an idle kept-alive connection: once more on a new one
                    connection, reused = POOL.new(scheme, host, port, self.connect_timeout), False
                    continue
                raise EndpointConnectionError(
                    f"{endpoint} closed the connection before answering GET {url}: "
                    f"{type(error).__name__}: {error}",
                    endpoint=endpoint,
                ) from error
            break
        response_headers = {name.lower(): value for name, value in response.getheaders()}
        try:
            body = response.read()
        except Exception as error:
            connection.close()
            raise BrokenBodyError(f"the body of {url} broke off: {type(error).__name__}: {error}") from error
        if response.will_close:
            connection.close()
        else:
            POOL.release(scheme, host, port, connection)
        return response.status, response_headers, body


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _error_code(body: bytes) -> str | None:
    """The ``<Code>`` of an S3 error document, if the body is one."""
    match = re.search(rb"<Code>([^<]{1,100})</Code>", body[:4096])
    return match.group(1).decode(errors="replace") if match else None


def _check_crc32(url: str, headers: dict[str, str], body: bytes) -> None:
    """Compare the body with the whole-object CRC32 S3 sends (``x-amz-checksum-crc32``), if any."""
    recorded = headers.get("x-amz-checksum-crc32")
    if (
        not recorded
        or headers.get("x-amz-checksum-type", "FULL_OBJECT").upper() != "FULL_OBJECT"
        or "-" in recorded
    ):
        return
    computed = base64.b64encode((zlib.crc32(body) & 0xFFFFFFFF).to_bytes(4, "big")).decode()
    if computed != recorded:
        raise BrokenBodyError(f"the body of {url} failed its checksum") from FlexibleChecksumError(
            f"expected CRC32 {recorded}, calculated {computed} over {len(body)} bytes of {url}"
        )
