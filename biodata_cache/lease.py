"""The publish lease: one publisher per version folder at a time.

A build holds a lease on ``bdc-v{X}/`` while it writes: the object ``bdc-v{X}/_build/lease.json``
records who holds it, for how long (``ttl``) and until when. It is taken and renewed with the store's
conditional update (``If-None-Match`` / ``If-Match`` on S3, a lock file on disk, a lock in memory), so two
publishers can never both believe they hold it. Before it commits (writes the registry), a build checks
that it still holds the lease.

The holder renews the lease in a background thread every ``ttl / 5`` seconds (the default ``ttl`` is
30 s: a renewal every 6 s). A second publisher of the same version that finds the lease held watches it:

* if the holder renews it, the holder is alive: the second publisher waits up to ``wait`` seconds for
  it to finish, then fails with :class:`~biodata_cache.errors.ConflictError` naming the holder (with the
  default ``wait=0``, as soon as it has seen one renewal, within about ``ttl / 5`` seconds);
* if the lease stays unchanged for ``ttl`` seconds *by the watcher's own clock* (the holder was killed),
  the watcher takes it over and builds: a killed build delays the next one by at most ``ttl``, and never
  makes it fail. Measuring on its own clock keeps this right when the hosts' clocks disagree;
* a lease that expired more than ``ttl`` ago by its ``expires`` time (a build killed last night) is
  taken over at once, and so is, on a local store, a lease whose holder process is gone.
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
DEFAULT_TTL = 30.0
RENEWALS_PER_TTL = 5
LEGACY_TTL = 120.0  # leases written before they recorded their ttl lasted 120 s


class _HeldError(Exception):
    """Raised inside the conditional update when another publisher holds an unexpired lease."""

    def __init__(self, lease: dict[str, Any], content: bytes | None = None, *, alive: bool = False) -> None:
        super().__init__("held")
        self.lease = lease
        self.content = content  # the lease object as read
        self.alive = alive  # known to be alive without watching (a local process that exists)


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
        Seconds to wait for a live publisher holding the lease to finish before giving up. A lease
        whose holder stopped renewing it is taken over after at most its ``ttl``, whatever ``wait`` is.
    ttl
        Seconds a lease lasts without renewal (default :data:`DEFAULT_TTL`); it is renewed every
        ``ttl / 5`` seconds.
    """

    def __init__(self, store: Store, version: str, *, wait: float = 0.0, ttl: float | None = None) -> None:
        self.store = store
        self.version = version
        self.wait = wait
        self.ttl = DEFAULT_TTL if ttl is None else ttl
        self.token = uuid.uuid4().hex
        self.path = f"{version}/{LEASE_FILE}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost: BaseException | None = None
        self._seen: bytes | None = None  # the other publisher's lease as last read while waiting,
        self._seen_since = 0.0  # since when (time.monotonic()) it has been unchanged,
        self._renewal_seen = False  # and whether it was seen to change (its holder is alive)

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
                "ttl": self.ttl,
                "expires": 0.0 if released else now + self.ttl,
                "expires_at": _iso(now if released else now + self.ttl),
                "released": released,
            },
            indent=2,
        ).encode()

    @staticmethod
    def _ttl_of(lease: dict[str, Any]) -> float:
        try:
            return float(lease.get("ttl") or LEGACY_TTL)
        except (TypeError, ValueError):
            return LEGACY_TTL

    def _take(self, current: bytes | None) -> bytes:
        """The conditional update that takes the lease, or raises :class:`_HeldError`."""
        if current is None:
            return self._document()
        try:
            lease = json.loads(current)
        except ValueError:
            lease = None
        if not isinstance(lease, dict) or lease.get("owner") == self.token or lease.get("released"):
            return self._document()  # unreadable (a torn write of a killed holder), ours or released
        ttl = self._ttl_of(lease)
        try:
            expires = float(lease.get("expires") or 0)
        except (TypeError, ValueError):
            expires = 0.0
        if expires + ttl < time.time():
            return self._document()  # expired long ago, even allowing for clocks a ttl apart
        local = self.store.protocol in ("file", "local")
        if local and lease.get("host") == socket.gethostname() and isinstance(lease.get("pid"), int):
            if not _process_exists(lease["pid"]):
                return self._document()  # its holder process is gone
            raise _HeldError(lease, current, alive=True)
        if current == self._seen and time.monotonic() - self._seen_since >= ttl:
            logger.warning(
                "the publish lease %s was not renewed for %.0f s (its ttl): its holder, %s, stopped; "
                "taking it over",
                self.store.url(self.path),
                time.monotonic() - self._seen_since,
                self._holder(lease),
            )
            return self._document()
        raise _HeldError(lease, current)

    def _watch(self, held: _HeldError) -> None:
        """Note what the waiting publisher read: a lease that changed was renewed by a live holder."""
        if held.content != self._seen:
            if self._seen is not None:
                self._renewal_seen = True
            else:
                logger.info(
                    "the publish lease %s is held by %s; watching whether it is renewed (a lease not "
                    "renewed for %.0f s is taken over)",
                    self.store.url(self.path),
                    self._holder(held.lease),
                    self._ttl_of(held.lease),
                )
            self._seen, self._seen_since = held.content, time.monotonic()

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
        """Take the lease: wait up to ``wait`` seconds for a live publisher holding it, take over a lease
        whose holder stopped renewing it (after at most its ``ttl``).

        Raises
        ------
        ConflictError
            If another publisher still holds the lease and was seen alive after ``wait`` seconds.
        """
        deadline = time.monotonic() + self.wait
        delay = 0.05
        while True:
            try:
                self.store.update_bytes(self.path, self._take)
                break
            except _HeldError as held:
                self._watch(held)
                alive = held.alive or self._renewal_seen
                if alive and time.monotonic() >= deadline:
                    raise self._conflict(held.lease) from None
                if alive:  # wait for it to finish, until the deadline
                    pause = min(delay, max(0.01, deadline - time.monotonic()))
                else:  # watch for a renewal: at least twice per renewal interval
                    pause = min(delay, self._ttl_of(held.lease) / RENEWALS_PER_TTL / 2)
                time.sleep(pause)
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
        while not self._stop.wait(self.ttl / RENEWALS_PER_TTL):
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
            f"update_all_tables, or --wait to `biodata-cache build`). That publisher is running (it "
            f"renews its lease); the lease is {self.store.url(self.path)}."
        )
