"""Building and publishing every table from a source (the nightly job's entry point)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from biodata_cache.errors import TableNotFoundError

if TYPE_CHECKING:
    from biodata_cache.config import Settings

logger = logging.getLogger(__name__)


def build_for_read(settings: Settings, *, reason: str) -> None:
    """Build every table into a private store before a read (MEMORY / LOCAL backends)."""
    raise TableNotFoundError(
        f"{reason}, and building tables on first read needs the builders, which this release does not "
        f"have yet. Read a published store instead: BIODATA_CACHE_BACKEND=S3 or BIODATA_CACHE_ROOT=<url>."
    )
