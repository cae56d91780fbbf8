"""Exceptions raised by biodata-cache.

Every outcome a caller may need to tell apart has its own class: a missing table, a missing version, a
store that refuses access, a store that cannot be reached and bad input. A genuinely empty table is not an
error: it reads as an empty DataFrame (or list) with the declared columns. A filter value that does not occur
in the table at all (a typo, a wrong case) gives an empty answer too, with a :class:`NoMatchWarning`.
"""

from __future__ import annotations


class BiodataCacheError(Exception):
    """Base class of every error raised by biodata-cache."""


class InvalidInputError(BiodataCacheError, ValueError):
    """An argument was rejected before anything was read or written."""


class TableNotFoundError(BiodataCacheError, LookupError):
    """The requested table is not in the store's version folder."""


class VersionNotFoundError(BiodataCacheError, LookupError):
    """The requested version folder does not exist in the store."""


class StoreAccessError(BiodataCacheError, PermissionError):
    """The store refused access (missing or wrong credentials, or a read-only store)."""


class StoreUnavailableError(BiodataCacheError, ConnectionError):
    """The store could not be reached (network failure, timeout, server error after retries)."""


class SourceError(BiodataCacheError):
    """Metadata records could not be read from a source (unreachable, malformed, misconfigured)."""


class RecordError(SourceError):
    """One metadata record cannot be read: not JSON, not UTF-8, not an object, or a field of the wrong type.

    A build skips such a record with a warning that names it (``file:line`` or its ``_id``) and counts it
    in :attr:`BuildReport.records_skipped <biodata_cache.sync.BuildReport>`; reading a source outside a
    build raises it.

    Attributes
    ----------
    where
        The record: ``file:line``, a file, or ``_id "..." name "..."``.
    reason
        What is wrong, e.g. ``quality_control.metrics: expected a list of objects, found an object``.
    """

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.where = where
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # picklable across worker processes
        return type(self), (self.where, self.reason)


class ConflictError(BiodataCacheError):
    """A conditional update of a shared file kept losing to concurrent writers."""


class ReleaseChangedError(BiodataCacheError):
    """A read kept finding files of another release than the one it was told to read.

    A reader opens exactly the files its release names; when one of them is gone (a newer release was
    committed and the old files removed) or records another build, it re-reads the version's registry
    and tries again, a few times, then raises this.
    """


class NoMatchWarning(UserWarning):
    """A filter value does not occur in the table at all, so nothing matches it (a typo, a wrong case).

    The message names the argument, the value and the closest existing values. A value that exists but
    matches no row together with the other filters gives a genuinely empty answer and no warning. Make it
    an error with ``warnings.filterwarnings("error", category=biodata_cache.NoMatchWarning)``.
    """


def check_flag(argument: str, value: object) -> bool:
    """Return ``value`` if it is True or False; else raise :class:`InvalidInputError` naming ``argument``."""
    if not isinstance(value, bool):
        raise InvalidInputError(
            f"{argument} must be True or False, got {type(value).__name__} {value!r:.60}."
        )
    return value
