"""Record-consistency tables: whole-source checks of the records, and of the records against a listing.

``record_consistency_results`` has one row per evaluated record (or listed folder) and check, with its
status (``pass`` / ``fail``); ``record_consistency_checks`` one row per check with the counts of the
current results. Both are computed after every build from ``asset_basics`` (all records, so a changed or
deleted record is seen by an incremental build too) and, for checks that compare with a bucket, from a
listing of its top-level folders.

Each check is one :class:`Check` declaration in :data:`CHECKS` (key, description, severity, what it reads,
and a pure function). biodata-cache 0.42's checks (``cache_table_helpers/record_consistency/checks/``):

- ``docdb_duplicate_name_v2``: kept (needs only the records);
- ``aind_open_data_prefix_missing_docdb_v2``: kept (needs the records and a listing of
  ``s3://aind-open-data``; the location is set with ``BIODATA_CACHE_OPEN_DATA_ROOT``);
- ``docdb_v1_name_missing_in_v2``: left out, it reads DocDB's v1 database, a second source this
  builder does not read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from biodata_cache.tables.declaration import Column, Listed, Listing, Table

PASS = "pass"
FAIL = "fail"

#: 0.42's record kinds: a record of the source (DocDB's v2 database in production), a listed folder.
RECORD = "docdb_v2"
PREFIX = "s3_prefix"

#: The top-level prefixes of the public open-data bucket.
OPEN_DATA = Listing(
    name="aind_open_data_prefixes",
    description="top-level prefixes of the aind-open-data bucket",
    variable="BIODATA_CACHE_OPEN_DATA_ROOT",
    default="s3://aind-open-data",
)

#: Columns of asset_basics the checks read.
BASICS_COLUMNS = ("_id", "name", "location", "_last_modified")


@dataclass(frozen=True)
class Check:
    """Declaration of one record-consistency check.

    Attributes
    ----------
    key
        Stable identifier (0.42's check key).
    description
        What the check fails.
    severity
        ``error`` (the records contradict each other) or ``warning`` (something may be missing).
    source
        What it evaluates: ``docdb_v2`` (the records) or a :class:`Listing`'s name.
    reads
        What it reads: ``asset_basics.<column>`` and listings, for the docs and the checks table.
    evaluate
        Pure function ``(records, listed) -> statuses``: ``records`` are the ``asset_basics`` rows (dicts
        of :data:`BASICS_COLUMNS`), ``listed`` the listing of ``source`` (``None`` for record checks);
        returns one ``pass`` / ``fail`` per evaluated item, in the order of :func:`_items`.
    """

    key: str
    description: str
    severity: str
    source: str
    reads: tuple[str, ...]
    evaluate: Callable[[list[dict[str, Any]], Listed | None], list[str]]


def duplicate_names(records: list[dict[str, Any]], listed: Listed | None) -> list[str]:
    """``fail`` for each record whose exact name another record also has, else ``pass``."""
    counts = Counter(record["name"] for record in records)
    return [FAIL if counts[record["name"]] > 1 else PASS for record in records]


def prefixes_without_record(records: list[dict[str, Any]], listed: Listed | None) -> list[str]:
    """``fail`` for each listed prefix whose URL is no record's ``location`` (trailing ``/`` ignored)."""
    assert listed is not None
    locations = {record["location"].rstrip("/") for record in records if record["location"]}
    return [PASS if listed.uri(name) in locations else FAIL for name in listed.names]


CHECKS: tuple[Check, ...] = (
    Check(
        key="aind_open_data_prefix_missing_docdb_v2",
        description="Fails top-level aind-open-data prefixes whose S3 URI is not the 'location' field of "
        "any record.",
        severity="warning",
        source=OPEN_DATA.name,
        reads=(f"listing:{OPEN_DATA.name}", "asset_basics.location"),
        evaluate=prefixes_without_record,
    ),
    Check(
        key="docdb_duplicate_name_v2",
        description="Fails records whose 'name' field exactly matches the 'name' field of another record.",
        severity="error",
        source=RECORD,
        reads=("asset_basics._id", "asset_basics.name"),
        evaluate=duplicate_names,
    ),
)


def _items(check: Check, records: list[dict[str, Any]], listed: Listed | None) -> list[dict[str, Any]]:
    """What a check evaluates, as result rows without status: the records, or the listed folders."""
    if check.source == RECORD:
        return [
            {
                "record_kind": RECORD,
                "record_id": record["_id"],
                "name": record["name"],
                "location": record["location"],
                "record_last_modified": record["_last_modified"],
            }
            for record in records
        ]
    assert listed is not None
    return [
        {
            "record_kind": PREFIX,
            "record_id": listed.uri(name),
            "name": name,
            "location": listed.uri(name),
            "record_last_modified": None,
        }
        for name in listed.names
    ]


def _listed(check: Check, listings: dict[str, Listed | None]) -> tuple[bool, Listed | None]:
    """Whether a check can be evaluated in this build, and the listing it reads."""
    if check.source == RECORD:
        return True, None
    listed = listings.get(check.source)
    return listed is not None and listed.error is None, listed


def consistency_results(
    records: list[dict[str, Any]], *, listings: dict[str, Listed | None]
) -> list[dict[str, Any]]:
    """Rows of ``record_consistency_results``: every check's items with their status.

    A check whose listing has no location configured is not evaluated (it has no rows; its row in
    ``record_consistency_checks`` says why). Rows are ordered by check key, name and record id, as in 0.42.
    """
    rows: list[dict[str, Any]] = []
    for check in CHECKS:
        evaluated, listed = _listed(check, listings)
        if not evaluated:
            continue
        items = _items(check, records, listed)
        statuses = check.evaluate(records, listed)
        if len(statuses) != len(items) or not set(statuses) <= {PASS, FAIL}:
            raise ValueError(
                f"check {check.key!r} returned {len(statuses)} statuses {sorted(set(statuses))} for "
                f"{len(items)} items; expected one 'pass' or 'fail' per item: fix its evaluate function."
            )
        rows.extend(
            {"check_key": check.key, "status": s, **item} for s, item in zip(statuses, items, strict=True)
        )
    rows.sort(key=lambda row: (row["check_key"], row["name"], row["record_id"]))
    return rows


def _not_listed(listing: Listing) -> str:
    return f"no location to list: set {listing.variable} (default {listing.default} for DocDB builds)"


def consistency_checks(
    results: list[dict[str, Any]], *, listings: dict[str, Listed | None]
) -> list[dict[str, Any]]:
    """Rows of ``record_consistency_checks``: each declared check with the counts of its results."""
    evaluated = Counter(row["check_key"] for row in results)
    failed = Counter(row["check_key"] for row in results if row["status"] == FAIL)
    rows = []
    for check in sorted(CHECKS, key=lambda c: c.key):
        run, listed = _listed(check, listings)
        listing = next((item for item in LISTINGS if item.name == check.source), None)
        rows.append(
            {
                "check_key": check.key,
                "check_description": check.description,
                "severity": check.severity,
                "source": check.source,
                "reads": list(check.reads),
                "listed_location": listed.location if listed else None,
                "evaluated": run,
                "not_evaluated_reason": (
                    None
                    if run
                    else f"listing failed: {listed.error}"
                    if listed is not None and listed.error
                    else _not_listed(listing)
                    if listing is not None
                    else None
                ),
                "evaluated_count": evaluated[check.key],
                "failed_count": failed[check.key],
            }
        )
    return rows


#: Listings the checks read.
LISTINGS: tuple[Listing, ...] = (OPEN_DATA,)

TABLES: tuple[Table, ...] = (
    Table(
        name="record_consistency_results",
        description="Record-consistency results, one row per evaluated record (or listed prefix) and check, "
        "with its status (pass or fail). Recomputed after every build from all of asset_basics and, for "
        "checks that compare with a bucket, a listing of its top-level prefixes.",
        kind="frame",
        columns=(
            Column("check_key", "string", "Check identifier; joins record_consistency_checks."),
            Column("status", "string", "Check result for this record: pass or fail."),
            Column(
                "record_kind",
                "string",
                "Kind of item evaluated: docdb_v2 (a record of the source) or s3_prefix (a listed prefix).",
            ),
            Column("record_id", "string", "Record identifier: the DocDB _id, or a listed prefix's URL."),
            Column("name", "string", "Record name, or the listed prefix's name."),
            Column("location", "string", "The record's location, or the listed prefix's URL."),
            Column(
                "record_last_modified",
                "timestamp",
                "When the record last changed (asset_basics._last_modified; UTC); null for a prefix.",
            ),
        ),
        derived_from=("asset_basics", "_id"),
        derive=consistency_results,
        derive_columns=BASICS_COLUMNS,
        listings=LISTINGS,
    ),
    Table(
        name="record_consistency_checks",
        description="Record-consistency checks, one row per declared check, with the counts of its current "
        "results in record_consistency_results. Built: docdb_duplicate_name_v2 (records only) and "
        "aind_open_data_prefix_missing_docdb_v2 (records and a listing of the open-data bucket). Left out: "
        "biodata-cache 0.42's docdb_v1_name_missing_in_v2, which reads DocDB's v1 database, a second "
        "source this builder does not read.",
        kind="frame",
        columns=(
            Column("check_key", "string", "Stable check identifier (biodata-cache 0.42's check key)."),
            Column("check_description", "string", "What the check fails."),
            Column(
                "severity",
                "string",
                "error (records contradict each other) or warning (something may be missing).",
            ),
            Column(
                "source",
                "string",
                "What the check evaluates: docdb_v2 (the records) or a listing's name.",
            ),
            Column("reads", "list<string>", "What the check reads: asset_basics columns and listings."),
            Column("listed_location", "string", "The location listed for this build; null if none."),
            Column("evaluated", "bool", "Whether the check ran in this build."),
            Column(
                "not_evaluated_reason",
                "string",
                "Why the check did not run (no location to list), with the variable to set; else null.",
            ),
            Column("evaluated_count", "int64", "Items with a result in record_consistency_results."),
            Column("failed_count", "int64", "Items that failed the check."),
        ),
        derived_from=("record_consistency_results", "check_key"),
        derive=consistency_checks,
        listings=LISTINGS,
    ),
)
