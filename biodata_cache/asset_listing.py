"""Listing assets' storage: what tables with an ``asset_listing`` declaration see under each asset's location.

Some tables (e.g. ``platform_smartspim``) say which processing outputs exist under an asset's
``location``. Their declaration names, for each asset, the folders under its location to list
(:attr:`~biodata_cache.tables.Table.asset_listing`); the builder lists them here, once per asset for all such
tables, and hands the listings to the tables' row functions.

- Listing goes through fsspec with the store's retry and error policy (:func:`~biodata_cache.store.
  translate_errors`, :func:`~biodata_cache.store.with_retries`, :data:`~biodata_cache.store.S3_CONFIG`).
  A folder that does not exist lists as empty, unless nothing at all is found: then the asset's location
  itself is checked, and a location that does not exist is a failure. Any other error is an error too:
  the asset is reported as failed (:attr:`Listings.failures`) and never published as "no outputs".
- Assets are listed concurrently by a bounded pool of threads (``workers``).
- Listing is incremental: each asset's listing is kept, with when it was made and the record's change
  marker, in the build state (``_build/listings.json``) and reused until the record changes or the listing
  is older than ``max_age`` (argument, else ``BIODATA_CACHE_LISTING_MAX_AGE_DAYS``, else
  :data:`DEFAULT_MAX_AGE_DAYS`).
- Storage options of the asset locations: argument, else ``BIODATA_CACHE_LISTING_ANON=1`` (anonymous
  access, e.g. the public ``aind-open-data`` bucket), else the store's rule: credentials when botocore
  finds some, anonymous access when it finds none (:func:`~biodata_cache.store.filesystem_options`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from biodata_cache.errors import InvalidInputError

if TYPE_CHECKING:
    from biodata_cache.store import Store

logger = logging.getLogger(__name__)

LISTINGS_FILE = "_build/listings.json"
#: Days a listing is reused for an asset whose record did not change.
DEFAULT_MAX_AGE_DAYS = 7.0
MAX_AGE_ENV = "BIODATA_CACHE_LISTING_MAX_AGE_DAYS"
ANON_ENV = "BIODATA_CACHE_LISTING_ANON"
#: Error name of assets a build chose not to list (``list_storage=False``).
NOT_LISTED = "NotListed"
#: Threads listing assets at once.
DEFAULT_WORKERS = 16


@dataclass(frozen=True)
class Request:
    """What to list for one asset: its record id and change marker, location and folders under it."""

    identifier: str
    name: str
    location: str
    marker: str | None
    prefixes: tuple[str, ...]


@dataclass(frozen=True)
class Listing:
    """The listing of one asset: for each folder listed (relative to ``location``; ``""`` is the location
    itself), the names directly in it (files and folders, sorted); a folder that does not exist is
    empty."""

    location: str
    marker: str | None
    listed_at: str
    entries: dict[str, list[str]]

    def names(self, prefix: str) -> list[str]:
        """The names listed in ``prefix`` (a folder this listing covers)."""
        return self.entries[prefix]

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "marker": self.marker,
            "listed_at": self.listed_at,
            "entries": self.entries,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Listing:
        return cls(value["location"], value.get("marker"), value["listed_at"], dict(value["entries"]))


@dataclass
class Listings:
    """The outcome of a listing phase.

    Attributes
    ----------
    by_name
        Asset name -> its listing (fresh or reused).
    failures
        Asset name -> the error that stopped its listing (those assets have no listing).
    listed
        Assets listed in this build (the others reused their previous listing).
    kept
        Record id -> listing, as the build state keeps them (failed assets keep their previous one).
    """

    by_name: dict[str, Listing] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    listed: int = 0
    kept: dict[str, Listing] = field(default_factory=dict)


def resolve_max_age(max_age_days: float | None) -> timedelta:
    """The age after which a listing is made again: argument > ``BIODATA_CACHE_LISTING_MAX_AGE_DAYS`` >
    :data:`DEFAULT_MAX_AGE_DAYS`.

    Raises
    ------
    InvalidInputError
        If the value is not a non-negative number of days.
    """
    origin, value = "listing_max_age_days", max_age_days
    if value is None:
        origin, value = MAX_AGE_ENV, os.environ.get(MAX_AGE_ENV)
    if value is None or value == "":
        return timedelta(days=DEFAULT_MAX_AGE_DAYS)
    try:
        days = float(value)
    except (TypeError, ValueError):
        days = -1.0
    if isinstance(value, bool) or not days >= 0:
        raise InvalidInputError(
            f"{origin}={value!r} is not a number of days >= 0; pass e.g. 7 (0 lists every asset again)."
        )
    return timedelta(days=days)


def resolve_options(location: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """fsspec options for listing ``location``: ``options`` > ``BIODATA_CACHE_LISTING_ANON`` > the
    store's rule (:func:`~biodata_cache.store.filesystem_options`)."""
    from biodata_cache.store import filesystem_options

    if options is None and os.environ.get(ANON_ENV, "").strip().lower() in ("1", "true", "yes"):
        options = {"anon": True}
    return filesystem_options(location, options)


def read_state(store: Store, folder: str) -> dict[str, Listing]:
    """The listings the previous build kept (record id -> listing); empty before the first one."""
    try:
        document = store.read_json(f"{folder}/{LISTINGS_FILE}")
    except FileNotFoundError:
        return {}
    if not isinstance(document, dict):
        logger.warning("%s is not a listing state: listing every asset again", store.url(LISTINGS_FILE))
        return {}
    return {key: Listing.from_json(value) for key, value in document.items()}


def write_state(store: Store, folder: str, kept: dict[str, Listing]) -> None:
    """Keep the listings for the next build."""
    store.write_json(f"{folder}/{LISTINGS_FILE}", {k: v.to_json() for k, v in sorted(kept.items())})


def list_prefix(fs: Any, path: str) -> list[str]:
    """The names directly in folder ``path`` of ``fs`` (sorted); ``[]`` when it does not exist."""
    try:
        found = fs.ls(path, detail=False, refresh=True)
    except FileNotFoundError:
        return []
    return sorted({str(item).rstrip("/").rsplit("/", 1)[-1] for item in found})


def _fresh(previous: Listing | None, request: Request, now: datetime, max_age: timedelta) -> bool:
    if previous is None or previous.marker != request.marker or previous.location != request.location:
        return False
    if not set(request.prefixes) <= set(previous.entries):
        return False
    return now - datetime.fromisoformat(previous.listed_at) < max_age


def list_assets(
    requests: list[Request],
    previous: dict[str, Listing],
    *,
    max_age: timedelta,
    storage_options: dict[str, Any] | None = None,
    workers: int = DEFAULT_WORKERS,
    now: datetime | None = None,
    lister: Callable[[Any, str], list[str]] | None = None,
) -> Listings:
    """List each requested asset whose previous listing is missing, stale or for another record version.

    Parameters
    ----------
    requests
        One per asset to list.
    previous
        The listings kept by the previous build (record id -> listing).
    max_age
        A listing older than this is made again.
    storage_options
        fsspec options of the asset locations (see :func:`resolve_options`).
    workers
        Threads listing at once (at least 1).
    now
        The time the listings are stamped with (default: now, UTC).
    lister
        Function listing one folder (default :func:`list_prefix`); tests wrap it to count requests.
    """
    from biodata_cache.store import open_filesystem, protocol_of, translate_errors, with_retries

    if workers < 1:
        raise InvalidInputError(f"listing_workers must be at least 1, got {workers!r}.")
    now = now or datetime.now(timezone.utc)
    lister = lister or list_prefix
    result = Listings()
    todo = []
    for request in requests:
        old = previous.get(request.identifier)
        if _fresh(old, request, now, max_age):
            assert old is not None
            result.by_name[request.name] = result.kept[request.identifier] = old
        else:
            todo.append(request)
            if old is not None:
                result.kept[request.identifier] = old  # kept if listing it again fails
    options: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def options_for(location: str) -> dict[str, Any]:
        key = protocol_of(location) + "://" + location.split("://", 1)[-1].split("/", 1)[0]
        with lock:
            if key not in options:
                options[key] = resolve_options(location, storage_options)
            return options[key]

    def one(request: Request) -> Listing:
        location = request.location.rstrip("/")
        fs, root = open_filesystem(location, options_for(location))
        entries = {}
        for prefix in request.prefixes:
            path = f"{root}/{prefix.strip('/')}" if prefix.strip("/") else root
            url = f"{location}/{prefix}" if prefix else location
            with translate_errors(url):
                entries[prefix] = with_retries(
                    lambda path=path: lister(fs, path),
                    what=f"listing {url}",
                    transport=protocol_of(url) != "s3",
                )
        if not any(entries.values()):
            # Nothing under any folder asked for: an asset without those outputs, or a location that
            # does not exist at all (moved or deleted data), which must not read as "no outputs".
            with translate_errors(location):
                found = with_retries(
                    lambda: lister(fs, root),
                    what=f"listing {location}",
                    transport=protocol_of(location) != "s3",
                )
            if not found:
                raise FileNotFoundError(
                    f"{location} holds nothing: the asset's location does not exist (its data moved or was "
                    f"deleted, or the record's location is wrong)"
                )
        return Listing(request.location, request.marker, now.isoformat(), entries)

    if todo:
        logger.info("listing the storage of %d assets (%d threads)", len(todo), workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [(request, pool.submit(one, request)) for request in todo]
        for request, future in futures:
            try:
                listing = future.result()
            except Exception as error:  # reported per asset, never an empty listing
                result.failures[request.name] = f"{type(error).__name__}: {error}"
                logger.warning("could not list %s (%s): %s", request.location, request.name, error)
                continue
            result.listed += 1
            result.by_name[request.name] = result.kept[request.identifier] = listing
    return result
