"""Listings of a storage location's top-level folders, for the tables that compare records with what a
bucket holds (``record_consistency_*``: prefixes of the open-data bucket without a record).

A listing goes through :class:`~biodata_cache.store.Store` (fsspec, with the store's timeouts, retries and
error translation) and is taken once per build. Where it is taken is configured per listing
(:func:`biodata_cache.config.listing_location`).
"""

from __future__ import annotations

import logging

from biodata_cache import config
from biodata_cache.errors import SourceError
from biodata_cache.tables.declaration import Listed, Listing

logger = logging.getLogger(__name__)


def take_listing(listing: Listing, *, docdb: bool) -> Listed | None:
    """List the top-level folders of the listing's location; ``None`` when no location is configured.

    Parameters
    ----------
    listing
        The declared listing (its variable and default location).
    docdb
        Whether the build reads DocDB: only then is the default location listed when the variable is unset.

    Raises
    ------
    SourceError
        If the location does not exist (naming it and the variable to set).
    StoreAccessError, StoreUnavailableError
        If the location refuses access or cannot be reached (after the store's retries).
    """
    from biodata_cache.store import Store

    location = config.listing_location(listing.variable, listing.default, docdb=docdb)
    if location is None:
        logger.info(
            "listing %r not taken: no location (set %s to a URL to list one)", listing.name, listing.variable
        )
        return None
    store = Store(location, read_only=f"the listing {listing.name!r} only reads {location}")
    try:
        names = store.list_folders("")
    except FileNotFoundError as error:
        raise SourceError(
            f"listing {listing.name!r}: {config.redacted(location)} does not exist (expected a bucket or "
            f"folder to list the top-level folders of). Set {listing.variable} to the location to list, or "
            f"to 'none' to build without it."
        ) from error
    logger.info("listing %r: %d top-level folders in %s", listing.name, len(names), location)
    return Listed(location=location, names=tuple(names))
