"""The publish lease: one publisher per version folder at a time.

A build holds a lease on ``bdc-v{X}/`` while it writes: the object ``bdc-v{X}/_build/lease.json``
records who holds it and until when. It is taken and renewed with the store's conditional update
(``If-None-Match`` / ``If-Match`` on S3, a lock file on disk, a lock in memory), so two publishers can
never both believe they hold it. A second publisher of the same version waits up to ``wait`` seconds,
then fails with :class:`~biodata_cache.errors.ConflictError` naming the holder. Publishers of different
versions never meet.

The holder renews the lease in a background thread every ``ttl / 4`` seconds; a lease that is not
renewed (the holder was killed) expires after ``ttl`` seconds and the next publisher takes it over. On a
local store a lease whose holder process is gone is taken over at once. Before it commits (writes the
registry), a build checks that it still holds the lease.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time
import uuid
from types import TracebackType
from typing import TYPE_CHECKING, Any

from biodata_cache.errors import ConflictError
from biodata_cache.store import _process_exists

if TYPE_CHECKING:
    from biodata_cache.store import Store

logger = logging.getLogger(__name__)

LEASE_FILE = "_build/lease.json"
DEFAULT_TTL = 120.0


class _HeldError(Exception):
    """Raised inside the conditional update when another publisher holds an unexpired lease."""

    def __init__(self, lease: dict[str, Any]) -> None:
        super().__init__("held")
        self.lease = lease


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.timezone.utc).replace(microsecond=0).isoformat()


class PublishLease:
    """The lease of one publisher on one version folder (a context manager).

    Parameters
    ----------
    store
        The store being published to.
    version
        The version folder, e.g. ``bdc-v0.1``.
    wait
        Seconds to wait for another publisher's lease to be released or to expire before giving up.
    ttl
        Seconds a lease lasts without renewal.
    """

    def __init__(self, store: Store, version: str, *, wait: float = 0.0, ttl: float = DEFAULT_TTL) -> None:
        self.store = store
        self.version = version
        self.wait = wait
        self.ttl = ttl
        self.token = uuid.uuid4().hex
        self.path = f"{version}/{LEASE_FILE}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost: BaseException | None = None

    def __repr__(self) -> str:
        return f"PublishLease({self.store.url(self.path)!r})"

    # -- the conditional updates --------------------------------------------------------------------

    def _document(self, released: bool = False) -> bytes:
        now = time.time()
        return json.dumps(
            {
                "owner": self.token,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "renewed_at": _iso(now),
                "expires": 0.0 if released else now + self.ttl,
                "expires_at": _iso(now if released else now + self.ttl),
                "released": released,
            },
            indent=2,
        ).encode()

    def _available(self, lease: dict[str, Any]) -> bool:
        if lease.get("owner") == self.token or lease.get("released"):
            return True
        if float(lease.get("expires") or 0) < time.time():
            return True
        local = self.store.protocol in ("file", "local")
        if local and lease.get("host") == socket.gethostname() and isinstance(lease.get("pid"), int):
            return not _process_exists(lease["pid"])
        return False

    def _take(self, current: bytes | None) -> bytes:
        if current is not None:
            try:
                lease = json.loads(current)
            except ValueError:
                lease = {}
            if isinstance(lease, dict) and not self._available(lease):
                raise _HeldError(lease)
        return self._document()

    def _renew(self, current: bytes | None) -> bytes:
        lease = json.loads(current) if current else {}
        if not isinstance(lease, dict) or lease.get("owner") != self.token:
            raise _HeldError(lease if isinstance(lease, dict) else {})
        return self._document()

    def _release(self, current: bytes | None) -> bytes:
        lease = json.loads(current) if current else {}
        if not isinstance(lease, dict) or lease.get("owner") != self.token:
            raise _HeldError(lease if isinstance(lease, dict) else {})
        return self._document(released=True)

    # -- public -------------------------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the lease, waiting up to ``wait`` seconds for another publisher.

        Raises
        ------
        ConflictError
            If another publisher still holds the lease after ``wait`` seconds.
        """
        deadline = time.monotonic() + self.wait
        delay = 0.05
        while True:
            try:
                self.store.update_bytes(self.path, self._take)
                break
            except _HeldError as held:
                if time.monotonic() >= deadline:
                    raise self._conflict(held.lease) from None
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 2.0)
        logger.info("took the publish lease %s", self.store.url(self.path))
        self._thread = threading.Thread(target=self._heartbeat, name="biodata-cache-lease", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Renew the lease now; raise :class:`ConflictError` if this publisher no longer holds it."""
        if self._lost is not None:
            raise ConflictError(
                f"this build lost its publish lease on {self.store.url(self.version)} "
                f"({self._lost}); nothing was committed. Run the build again."
            ) from self._lost
        try:
            self.store.update_bytes(self.path, self._renew)
        except _HeldError as held:
            raise ConflictError(
                f"this build lost its publish lease on {self.store.url(self.version)} to "
                f"{self._holder(held.lease)}; nothing was committed. Run the build again."
            ) from None

    def release(self) -> None:
        """Stop renewing and release the lease (a lease already taken over is left alone)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            self.store.update_bytes(self.path, self._release)
        except _HeldError:
            logger.warning("the publish lease %s was no longer ours", self.store.url(self.path))

    def __enter__(self) -> PublishLease:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    # -- helpers ------------------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                self.store.update_bytes(self.path, self._renew)
            except _HeldError as held:
                self._lost = ConflictError(f"taken over by {self._holder(held.lease)}")
                logger.error("lost the publish lease %s", self.store.url(self.path))
                return
            except Exception as error:  # a failed renewal is retried at the next beat
                logger.warning("could not renew the publish lease %s: %s", self.store.url(self.path), error)

    @staticmethod
    def _holder(lease: dict[str, Any]) -> str:
        return (
            f"process {lease.get('pid', '?')} on {lease.get('host', '?')} (lease renewed at "
            f"{lease.get('renewed_at', '?')}, expires at {lease.get('expires_at', '?')})"
        )

    def _conflict(self, lease: dict[str, Any]) -> ConflictError:
        return ConflictError(
            f"another publisher is publishing {self.version} of {self.store.root}: "
            f"{self._holder(lease)}. Wait for it to finish (pass wait= seconds to "
            f"update_all_tables, or --wait to `biodata-cache build`), or, if that publisher died, run "
            f"again after the lease expires; the lease is {self.store.url(self.path)}."
        )
