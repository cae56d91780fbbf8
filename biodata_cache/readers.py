"""One-line readers. Each resolves its table's entry from the versioned catalog and reads it.

Every reader takes ``version=`` (``"0.1"`` or ``"bdc-v0.1"``; default ``BIODATA_CACHE_VERSION`` or the
installed major.minor) and ``storage_options=`` (fsspec options for the store root). The store is chosen by
``BIODATA_CACHE_BACKEND`` / ``BIODATA_CACHE_ROOT`` (see :mod:`biodata_cache.config`).

With the ``MEMORY`` and ``LOCAL`` backends a table missing from the store is built from the source on
first read. On ``S3`` or any other shared store a missing table is an error naming the table, the version
and the versions that exist.

A filter value that does not occur in the table at all (``modality="ephys"``, ``data_level="Raw"``, a
mistyped subject id) gives an empty answer with a :class:`~biodata_cache.errors.NoMatchWarning` naming the
closest existing values. That check runs only for requested values missing from the answer; a value that
exists but matches no row together with the other filters is a genuine empty answer, without a warning.

This module imports only the standard library at import time; pandas, pyarrow and intake load on the
first call.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from biodata_cache import config
from biodata_cache.errors import (
    BiodataCacheError,
    InvalidInputError,
    NoMatchWarning,
    ReleaseChangedError,
    TableNotFoundError,
    VersionNotFoundError,
    check_flag,
)
from biodata_cache.tables import TABLES_BY_NAME, get_table

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from biodata_cache.registry import CacheVersions, Registry
    from biodata_cache.release_source import ReleaseSource
    from biodata_cache.store import Store

logger = logging.getLogger(__name__)

#: A custom table's name, checked with ``fullmatch`` (``match`` with ``$`` also takes a trailing newline).
CUSTOM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,127}")
_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[+-]\d{2}:\d{2})?$")  # a date, perhaps with an offset


# -- resolving catalog entries --------------------------------------------------------------------


def _store(settings: config.Settings) -> Store:
    from biodata_cache.store import Store

    return Store(settings.root, settings.storage_options, read_only=settings.read_only)


def _missing_version_error(store: Store, settings: config.Settings) -> VersionNotFoundError:
    from biodata_cache.registry import read_versions

    if settings.missing_local_root:
        return VersionNotFoundError(
            f"the store root {settings.root} does not exist (no such folder), so it has no version "
            f"{settings.version}; a read never creates it. Check the path (--root / BIODATA_CACHE_ROOT), or "
            f"create a store there: `biodata-cache build --root {settings.root}` (add --source sample for "
            f"the bundled sample records)."
        )
    try:
        versions = read_versions(store)
        listed = ", ".join(versions) if versions else "none: the store has no cache_versions.json"
    except BiodataCacheError as error:  # the version is missing either way; say why the list is not known
        versions, listed = [], f"unknown ({type(error).__name__}: {error})"
    return VersionNotFoundError(
        f"version {settings.version} is not in the store {settings.root}. Versions there: {listed}. "
        f"Pass version= (or set BIODATA_CACHE_VERSION) to one of them"
        + ("." if versions else ", or point BIODATA_CACHE_ROOT at a store that has been published.")
    )


def _load_catalog(store: Store, settings: config.Settings) -> dict[str, Any] | None:
    """The parsed YAML of the version's catalog, or None if the version does not exist.

    The catalog is fetched on every call (one GET: a nightly build may have replaced it) but parsed
    only when its bytes changed. The parsed document is shared between calls: treat it as read-only.
    """
    from biodata_cache.catalog import CATALOG_FILE
    from biodata_cache.store import DamagedObjectError

    url = store.url(settings.version, CATALOG_FILE)

    def parse(text: bytes) -> Any:
        import yaml

        try:
            return _parse_catalog(text)
        except (yaml.YAMLError, UnicodeDecodeError) as error:  # cut short in transit, or damaged
            raise DamagedObjectError(f"{url} is not valid YAML: {error}") from error

    try:
        document = store.read_bytes(f"{settings.version}/{CATALOG_FILE}", parse)
    except FileNotFoundError:
        return None
    problem = _catalog_problem(document)
    if problem:
        raise DamagedObjectError(
            f"{url} is not a biodata-cache catalog: {problem}. Regenerate it from the registry with "
            f"`biodata-cache catalog --republish`, or republish the version (`biodata-cache build`)."
        )
    return document


def _catalog_problem(document: Any) -> str | None:
    """What makes a parsed catalog unusable (expected a ``sources`` mapping of entries), or None."""
    if not isinstance(document, dict) or not isinstance(document.get("sources"), dict):
        return f"expected a mapping with a 'sources' mapping, found {type(document).__name__}"
    for name, entry in document["sources"].items():
        args = entry.get("args") if isinstance(entry, dict) else None
        if not isinstance(args, dict) or not isinstance(args.get("urlpath"), str):
            return f"entry {name!r} has no 'args' mapping with a 'urlpath' string (found {entry!r:.100})"
        if not isinstance(entry.get("parameters") or {}, dict) or not isinstance(
            entry.get("metadata") or {}, dict
        ):
            return f"entry {name!r} has 'parameters' or 'metadata' that are not mappings"
    return None


@functools.lru_cache(maxsize=16)
def _parse_catalog(text: bytes) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it
    return yaml.load(text, Loader=loader)


def _render(value: Any, variables: dict[str, str]) -> Any:
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        return variables[match.group(1)]

    return _TEMPLATE.sub(substitute, value)


def _build_on_read(settings: config.Settings, reason: str) -> None:
    """Build every table from the source into a private store (MEMORY / LOCAL backends)."""
    from biodata_cache.sync import build_for_read

    build_for_read(settings, reason=reason)


def open_source_entry(
    name: str,
    settings: config.Settings,
    *,
    parameters: dict[str, str] | None = None,
    columns: list[str] | None = None,
    filters: list[tuple[str, str, Any]] | None = None,
    document: dict[str, Any] | None = None,
) -> ReleaseSource:
    """Resolve a catalog entry of the settings' version and return its configured data source.

    ``document`` is the parsed catalog to resolve it in (default: the version's catalog, fetched now);
    sources resolved from one document read one release, unless one of them had to follow the
    registry (its ``followed_release`` is then true).

    Raises
    ------
    VersionNotFoundError, TableNotFoundError
        When the version or the entry does not exist and the backend does not build on read.
    """
    from biodata_cache.catalog import from_catalog_text
    from biodata_cache.release_source import ReleaseSource

    store = _store(settings)
    given = document is not None
    if document is None:
        document = _load_catalog(store, settings)
    built = False
    if (
        not given
        and (document is None or name not in document["sources"])
        and settings.builds_on_read
        and (name in TABLES_BY_NAME)
        and not TABLES_BY_NAME[name].custom_input  # built from a custom table: a build would not make it
    ):
        _build_on_read(settings, reason=f"table {name!r} is not in {store.url(settings.version)}")
        document, built = _load_catalog(store, settings), True
    if document is None:
        raise _missing_version_error(store, settings)
    sources = document["sources"]
    if name not in sources:
        hint = "" if built or not settings.builds_on_read else " Custom tables are created by custom()."
        declared = TABLES_BY_NAME.get(name)
        if declared is not None and declared.custom_input:
            hint = (
                f" It is built from the custom table {declared.custom_input!r}, which this version does not "
                f"have: publish it with custom({declared.custom_input!r}, df), then build."
            )
        raise TableNotFoundError(
            f"table {name!r} is not in version {settings.version} of the store {settings.root}. Tables "
            f"there: {', '.join(sources) or '(none)'}.{hint} To build it, run "
            f"`biodata-cache build` (or biodata_cache.sync.update_all_tables()) against this store."
        )
    entry = sources[name]
    variables = {"CATALOG_DIR": store.url(settings.version)}
    for parameter, spec in (entry.get("parameters") or {}).items():
        variables[parameter] = (parameters or {}).get(parameter, spec.get("default") or "")
    args = {key: _render(value, variables) for key, value in (entry.get("args") or {}).items()}
    if columns is not None:
        args["columns"] = columns
    if filters:
        args["filters"] = filters
    # The metadata as intake would render it: user text (column names, ...) exactly as written.
    metadata = from_catalog_text(dict(entry.get("metadata") or {}))
    return ReleaseSource(metadata=metadata, storage_options=store.storage_options or None, **args)


def _settings(version: str | None, storage_options: dict[str, Any] | None) -> config.Settings:
    return config.resolve(version=version, storage_options=storage_options)


def read_table(
    name: str,
    *,
    columns: list[str] | None = None,
    filters: list[tuple[str, str, Any]] | None = None,
    parameters: dict[str, str] | None = None,
    force_update: bool = False,
    version: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pa.Table:
    """Read a published table as an arrow table (the path every reader takes).

    Parameters
    ----------
    name
        A published table (``biodata_cache.TABLES``; ``"quality_control"``, biodata-cache 0.42's name of
        ``qc``, reads ``qc``) or a custom table, ``custom_<name>``.
    columns
        Columns to read, each once (default: all).
    filters
        ``(column, operator, value)`` triples pushed down to parquet and combined with AND. Operators:
        ``==``, ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, and ``in`` / ``not in`` with a list of values.
    parameters
        Values of the entry's parameters as str, e.g. ``{"subject_id": "692478"}`` for ``qc``.
    force_update, version, storage_options
        See :func:`unique_project_names`.

    Returns
    -------
    pyarrow.Table

    Raises
    ------
    InvalidInputError
        For arguments of the wrong type or a column (in ``columns`` or ``filters``) the table does not have.
    VersionNotFoundError, TableNotFoundError
        When the version or the table does not exist in the store.
    """
    _update_first(force_update, version, storage_options)
    from biodata_cache.registry import canonical_table_name

    name = canonical_table_name(name)
    _check_read_arguments(name, columns, filters, parameters)
    settings = _settings(version, storage_options)
    source = open_source_entry(name, settings, parameters=parameters, columns=columns, filters=filters)
    _check_column_names(name, source.metadata, columns, filters)
    return _read_source(source, name, settings)


def _read_source(source: ReleaseSource, name: str, settings: config.Settings) -> pa.Table:
    """Read a resolved source, with the store's errors translated."""
    from biodata_cache.store import translate_errors

    with translate_errors(source._urlpath):
        try:
            return source.read_arrow()
        except FileNotFoundError as error:
            raise TableNotFoundError(
                f"the catalog of {settings.version} lists table {name!r} but its data is missing at "
                f"{source._urlpath}. Republish the version (biodata-cache build)."
            ) from error


# -- argument checks --------------------------------------------------------------------------------

_FILTER_OPERATORS = ("==", "=", "!=", "<", "<=", ">", ">=", "in", "not in")


def _check_read_arguments(name: Any, columns: Any, filters: Any, parameters: Any) -> None:
    """Check the types of :func:`read_table`'s arguments before anything is read."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError(
            f"table name must be a non-empty str, got {type(name).__name__} {name!r}; published tables: "
            f"{', '.join(TABLES_BY_NAME)} (custom tables: 'custom_<name>')."
        )
    if columns is not None:
        if isinstance(columns, str) or not isinstance(columns, (list, tuple)):
            raise InvalidInputError(f"columns must be a list of column names, got {columns!r:.100}.")
        if not columns or not all(isinstance(c, str) for c in columns) or len(set(columns)) != len(columns):
            raise InvalidInputError(
                f"columns must be a non-empty list of distinct column names (str), got {columns!r:.100}."
            )
    if filters is not None:
        if isinstance(filters, (str, bytes)) or not isinstance(filters, (list, tuple)):
            raise InvalidInputError(
                f"filters must be a list of (column, operator, value) triples, got {filters!r:.100}."
            )
        for item in filters:
            if not isinstance(item, (list, tuple)) or len(item) != 3 or not isinstance(item[0], str):
                raise InvalidInputError(
                    f"filters must be (column, operator, value) triples such as ('subject_id', '==', "
                    f"'692478'), got {item!r:.100}."
                )
            column, operator, value = item
            if operator not in _FILTER_OPERATORS:
                raise InvalidInputError(
                    f"filter operator {operator!r} (on {column!r}) is not one of "
                    f"{', '.join(_FILTER_OPERATORS)}."
                )
            if (operator in ("in", "not in")) != isinstance(value, (list, tuple, set, frozenset)):
                raise InvalidInputError(
                    f"filter ({column!r}, {operator!r}, {value!r:.60}): 'in' and 'not in' take a list of "
                    f"values, the other operators one value."
                )
    if parameters is not None and (
        not isinstance(parameters, dict)
        or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in parameters.items())
    ):
        raise InvalidInputError(
            f"parameters must be a dict of names to non-empty str values such as {{'subject_id': '692478'}}, "
            f"got {parameters!r:.100} (subject ids are strings: '692478', not 692478)."
        )


def _check_column_names(name: str, metadata: dict[str, Any], columns: Any, filters: Any) -> None:
    """Columns and filter columns must be columns of the entry (as its catalog metadata declares)."""
    declared = [c.get("name") for c in metadata.get("columns") or [] if isinstance(c, dict)]
    if not declared:
        return
    wanted = list(columns or []) + [item[0] for item in filters or []]
    unknown = [c for c in wanted if c not in declared]
    if unknown:
        raise InvalidInputError(
            f"table {name!r} has no column {', '.join(map(repr, dict.fromkeys(unknown)))}; its columns are: "
            f"{', '.join(declared)}."
        )


def _check_strings(argument: str, value: Any) -> list[str] | None:
    """A filter value: None, a str or a sequence of str; returns a list or None."""
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple, set)) or not all(isinstance(v, str) for v in values):
        hint = " (subject ids are strings: pass '692478', not 692478)" if "subject" in argument else ""
        raise InvalidInputError(
            f"{argument} must be a str or a list of str, got {type(value).__name__} {value!r}{hint}."
        )
    if not values or any(not v for v in values):
        raise InvalidInputError(f"{argument} must not be empty, got {value!r}.")
    return list(values)


def _in_filter(column: str, values: list[str] | None) -> list[tuple[str, str, Any]]:
    if values is None:
        return []
    return [(column, "==", values[0])] if len(values) == 1 else [(column, "in", values)]


def _to_list(table: pa.Table) -> list[str]:
    return sorted(v for v in table.column(0).to_pylist() if v is not None)


# -- filter values that match nothing ----------------------------------------------------------------
#
# A reader first answers, then looks only at the requested values that do not appear in its answer. Only
# for those it reads the values the table has (unique_subject_ids / unique_project_names, or one column of
# asset_basics) and warns about the values that are not among them. A non-empty answer in which every
# requested value appears costs nothing extra.

# Where an argument's existing values come from: (description in messages, how a user lists them).
_EXISTING = {
    "subject_id": ("unique_subject_ids()", "biodata_cache.unique_subject_ids()"),
    "project_name": ("unique_project_names()", "biodata_cache.unique_project_names()"),
    "modality": ("asset_basics.modalities", "biodata_cache.asset_basics(columns=['modalities'])"),
    "data_level": ("asset_basics.data_level", "biodata_cache.asset_basics(columns=['data_level'])"),
    "asset_names": ("asset_basics.name", "biodata_cache.asset_basics(columns=['name'])"),
    "raw_asset_name": ("qc_raw_assets.raw_asset_name", "biodata_cache.read_table('qc_raw_assets')"),
    "name": ("asset_basics.name", "biodata_cache.asset_basics(columns=['name'])"),
}
# asset_basics column holding each filter argument's values.
_COLUMN = {
    "subject_id": "subject_id",
    "project_name": "project_name",
    "modality": "modalities",
    "data_level": "data_level",
    "name": "name",
}
# Arguments whose values match ignoring case (asset_basics' modality): how their warning says so.
_FOLDED_RULE = "Modalities match whole abbreviations, ignoring case"
_LISTED = 30  # a table with at most this many distinct values lists them all in the warning
_FUZZY_LIMIT = 20_000  # above this many values, only the value's sorted neighbours are compared


def _distinct(column: pa.ChunkedArray) -> set[str]:
    """Distinct non-null values of a string column (or of the items of a list<string> column)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_list(column.type):
        column = pc.list_flatten(column)
    return {v for v in pc.unique(column).to_pylist() if v is not None}


def _missing(table: pa.Table, column: str, values: list[str], *, fold: bool = False) -> list[str]:
    """The requested ``values`` that no row of the answer ``table`` holds in ``column``.

    When the answer was read without the column, the filter was a single value: every row holds it.
    With ``fold``, values are compared ignoring case.
    """
    if column not in table.column_names:
        return [] if table.num_rows else list(values)
    present = _distinct(table.column(column))
    if fold:
        folded = {p.casefold() for p in present}
        return [v for v in values if v.casefold() not in folded]
    return [v for v in values if v not in present]


def _closest(value: str, existing: Sequence[str]) -> list[str]:
    """Existing values closest to ``value``: equal but for case first, else difflib's best three.

    ``existing`` is sorted. Beyond ``_FUZZY_LIMIT`` values only the value's sorted neighbours are
    compared, so a warning about one of a million asset names stays quick.
    """
    import bisect
    import difflib

    folded = value.casefold()
    same = [e for e in existing if e.casefold() == folded]
    if same:
        return same[:3]
    candidates = existing
    if len(existing) > _FUZZY_LIMIT:
        at = bisect.bisect_left(existing, value)
        candidates = existing[max(at - 50, 0) : at + 50]
    return difflib.get_close_matches(value, candidates, n=3, cutoff=0.6)


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside biodata_cache."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("biodata_cache"):
        frame, level = frame.f_back, level + 1
    return level


def _warn_no_match(
    call: str,
    argument: str,
    unknown: list[str],
    existing: Sequence[str],
    release: str,
    *,
    scope: tuple[str, str] | None = None,
    rule: str = "Values match exactly and are case-sensitive",
) -> None:
    """Warn that the ``unknown`` values of ``argument`` do not occur in the table at all.

    ``existing`` are the values to suggest from; ``scope`` (what they are, how to list them) when they
    are a subset of the table's values, e.g. one subject's assets; ``rule`` how values match.
    """
    where, listed_by = _EXISTING[argument]
    label, listed_by = scope or ("the existing values", listed_by)
    existing = sorted(set(existing))
    clauses = []
    for value in unknown:
        close = _closest(value, existing)
        hint = f"did you mean {' or '.join(map(repr, close))}?" if close else "no existing value is close"
        clauses.append(f"{value!r} ({hint})")
    if len(unknown) == 1:
        what, verb, pronoun = f"{argument} {clauses[0]}", "is", "it"
    else:
        what, verb, pronoun = f"{argument} values {', '.join(clauses[:-1])} and {clauses[-1]}", "are", "them"
    if len(existing) <= _LISTED:
        listing = f"{label} are {', '.join(map(repr, existing)) or '(none)'}"
    else:
        listing = f"list {label} ({len(existing)}) with {listed_by}"
    warnings.warn(
        f"{call}: {what} {verb} not in {where} of {release}, so no row matches {pronoun}. {rule}; {listing}.",
        NoMatchWarning,
        stacklevel=_caller_stacklevel(),
    )


def _existing_values(
    arguments: Sequence[str], version: str | None, storage_options: dict[str, Any] | None
) -> dict[str, list[str]]:
    """The values the version's tables hold for each filter argument (small tables, or one column)."""
    existing: dict[str, list[str]] = {}
    if "subject_id" in arguments:
        existing["subject_id"] = unique_subject_ids(version=version, storage_options=storage_options)
    if "project_name" in arguments:
        existing["project_name"] = unique_project_names(version=version, storage_options=storage_options)
    own_columns = ("modality", "data_level")
    columns = [_COLUMN[a] for a in own_columns if a in arguments]
    if columns:
        table = read_table("asset_basics", columns=columns, version=version, storage_options=storage_options)
        for argument in own_columns:
            if argument in arguments:
                existing[argument] = sorted(_distinct(table.column(_COLUMN[argument])))
    return existing


def _warn_values_not_in_table(
    call: str,
    missing: dict[str, list[str]],
    version: str | None,
    storage_options: dict[str, Any] | None,
    *,
    folded: Sequence[str] = (),
) -> None:
    """Of the requested values missing from an answer, warn about those the table does not hold at all.

    Values of the arguments in ``folded`` are compared ignoring case.
    """
    missing = {argument: values for argument, values in missing.items() if values}
    if missing.get("name"):
        held = _names_not_held(missing.pop("name"), version, storage_options)
        if held is not None and held[0]:
            unknown, existing_names, scope = held
            release = _settings(version, storage_options).version
            _warn_no_match(call, "name", unknown, existing_names, release, scope=scope)
    if not missing:
        return
    try:
        existing = _existing_values(list(missing), version, storage_options)
    except TableNotFoundError:  # a release without the table of values: nothing to compare with
        return
    release = _settings(version, storage_options).version
    for argument, values in missing.items():
        if argument in folded:
            known = {v.casefold() for v in existing[argument]}
            unknown = [v for v in values if v.casefold() not in known]
            if unknown:
                _warn_no_match(call, argument, unknown, existing[argument], release, rule=_FOLDED_RULE)
            continue
        known = set(existing[argument])
        unknown = [v for v in values if v not in known]
        if unknown:
            _warn_no_match(call, argument, unknown, existing[argument], release)


# -- distinct-value tables ----------------------------------------------------------------------------


def _update_first(force_update: Any, version: str | None, storage_options: dict[str, Any] | None) -> None:
    """``force_update=True``: bring a store this process builds up to date with the source, or say why not.

    Raises
    ------
    InvalidInputError
        If ``force_update`` is not a bool, or the store is one readers never write to (a published or
        shared store, another version, a named folder that does not exist).
    """
    if force_update is False:
        return
    check_flag("force_update", force_update)
    settings = _settings(version, storage_options)
    if not settings.builds_on_read:
        if settings.read_only:
            what = "a data asset attached read-only (backend CODEOCEAN)"
        elif settings.backend not in ("MEMORY", "LOCAL"):
            what = f"a shared store (backend {settings.backend})"
        elif settings.missing_local_root:
            what = "a folder that does not exist"
        else:
            what = f"version {settings.version}, not this package's {config.version_folder(None)}"
        raise InvalidInputError(
            f"force_update=True updates a store this process builds (BIODATA_CACHE_BACKEND=MEMORY or "
            f"LOCAL), but {settings.root} is {what}: readers never write there. To publish new tables, "
            f"run `biodata-cache --root {settings.root} build --source {settings.source}` (or "
            f"biodata_cache.sync.update_all_tables(root=...)), then read without force_update."
        )
    _build_on_read(settings, reason="force_update=True")


def _list_reader(name: str) -> Callable[..., list[str]]:
    """The one-liner of a distinct-value table, documented from its declaration."""
    table = get_table(name)

    def reader(
        force_update: bool = False,
        *,
        version: str | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> list[str]:
        return _to_list(
            read_table(name, force_update=force_update, version=version, storage_options=storage_options)
        )

    reader.__name__ = reader.__qualname__ = name
    reader.__doc__ = f"""{table.description}

    Parameters
    ----------
    force_update
        Update the store from the source before reading (``MEMORY`` and ``LOCAL`` stores, which this
        process builds; only records changed since the last build are read). A shared store raises
        :class:`~biodata_cache.InvalidInputError` saying how to publish (``biodata-cache build``). The
        one argument every reader takes by position, first, as in biodata-cache 0.42.
    version
        Version to read (``"0.1"`` or ``"bdc-v0.1"``); default: ``BIODATA_CACHE_VERSION`` or the
        installed major.minor.
    storage_options
        fsspec options for the store root, e.g. ``{{"anon": True}}``.

    Returns
    -------
    list of str
        Sorted.
    """
    return reader


unique_project_names = _list_reader("unique_project_names")
unique_subject_ids = _list_reader("unique_subject_ids")
unique_genotypes = _list_reader("unique_genotypes")


# -- frame tables -------------------------------------------------------------------------------------


def _frame(
    name: str,
    *,
    columns: list[str] | None = None,
    filters: list[tuple[str, str, Any]] | None = None,
    parameters: dict[str, str] | None = None,
    version: str | None,
    storage_options: dict[str, Any] | None,
) -> pd.DataFrame:
    columns = get_table(name).check_columns(columns)
    table = read_table(
        name,
        columns=columns,
        filters=filters,
        parameters=parameters,
        version=version,
        storage_options=storage_options,
    )
    return table.to_pandas()


def _frame_reader(name: str) -> Callable[..., pd.DataFrame]:
    """The one-liner of a whole table (no filters but columns), documented from its declaration."""
    table = get_table(name)

    def reader(
        force_update: bool = False,
        *,
        columns: list[str] | None = None,
        version: str | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        _update_first(force_update, version, storage_options)
        return _frame(name, columns=columns, version=version, storage_options=storage_options)

    reader.__name__ = reader.__qualname__ = name
    reader.__doc__ = f"""{table.description}

    Parameters
    ----------
    force_update, version, storage_options
        See :func:`unique_project_names`.
    columns
        Columns to read (default: all): {", ".join(table.column_names)}.

    Returns
    -------
    pandas.DataFrame
    """
    return reader


def _rows_with_any(table: pa.Table, column: str, values: list[str]) -> pa.Table:
    """Rows of ``table`` whose list column ``column`` holds any of ``values``, ignoring case.

    Whole items are compared (``behavior`` does not match ``behavior-videos``); rows keep their order.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    lists = table.column(column).combine_chunks()
    wanted = pa.array(sorted({v.casefold() for v in values}), pa.string())
    hits = pc.is_in(pc.utf8_lower(pc.list_flatten(lists)), value_set=wanted)
    parents = pc.filter(pc.list_parent_indices(lists), hits)
    return table.take(pc.unique(parents))


def _check_time(argument: str, value: Any) -> Any:
    """A time bound as an aware UTC datetime; a time without an offset is lab time (America/Los_Angeles)."""
    from biodata_cache.records import lab_time_zone

    example = f"{argument}='2024-03-01T12:00:00-08:00' (or '2024-03-01T20:00:00Z', or a datetime)"
    if isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        if _DATE_ONLY.match(text):  # midnight; Python 3.10's fromisoformat reads "2024-03-01+00:00" wrongly
            text = text[:10] + "T00:00:00" + text[10:]
        try:
            parsed = dt.datetime.fromisoformat(text) if text else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise InvalidInputError(
                f"{argument} must be an ISO 8601 time such as {example}; {value!r} does not parse."
            )
    elif isinstance(value, dt.datetime):
        parsed = value
    else:
        raise InvalidInputError(
            f"{argument} must be an ISO 8601 str or a datetime, got {type(value).__name__} {value!r:.60}; "
            f"pass e.g. {example}."
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        # The lab-time rule of docs/reference/record-shapes.md for times recorded without an offset.
        parsed = parsed.replace(tzinfo=lab_time_zone())
    return parsed.astimezone(dt.timezone.utc)


def _check_count(argument: str, value: Any, *, allow_none: bool) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        allowed = "a non-negative int or None (no limit)" if allow_none else "a non-negative int"
        raise InvalidInputError(f"{argument} must be {allowed}, got {type(value).__name__} {value!r:.60}.")
    return value


def asset_basics(
    force_update: bool = False,
    *,
    subject_id: str | Sequence[str] | None = None,
    project_name: str | Sequence[str] | None = None,
    modality: str | Sequence[str] | None = None,
    data_level: str | Sequence[str] | None = None,
    name: str | Sequence[str] | None = None,
    name_contains: str | None = None,
    acquisition_start_before: str | dt.datetime | None = None,
    acquisition_start_after: str | dt.datetime | None = None,
    columns: list[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
    include_total: bool = False,
    version: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pd.DataFrame | tuple[pd.DataFrame, int]:
    """One row per data asset, optionally filtered and paged, ordered by asset name.

    Filters combine with AND.

    Parameters
    ----------
    subject_id, project_name, data_level
        Keep rows whose value equals this str (or is in this list of str). Pushed down to parquet.
        Values are exact and case-sensitive: ``data_level`` is ``"raw"`` or ``"derived"``.
    modality
        Keep assets that have this modality abbreviation (or any of these), e.g. ``"ecephys"``. Whole
        abbreviations match, ignoring case: ``"ECEPHYS"`` matches ``ecephys``, ``"behavior"`` does not
        match ``behavior-videos``.
    name
        Keep the asset with this exact name (or the assets with these names). Pushed down to parquet.
    name_contains
        Keep assets whose name contains this text, ignoring case. The text is literal, not a pattern:
        ``%``, ``_``, ``.`` and ``*`` match themselves.
    acquisition_start_before, acquisition_start_after
        Keep assets whose ``acquisition_start_time`` is strictly before ``acquisition_start_before``
        and at or after ``acquisition_start_after`` (a half-open interval ``[after, before)``, as in
        biodata-cache 0.42). Each is an ISO 8601 str (``"2024-03-01T12:00:00-08:00"``,
        ``"2024-03-01T20:00:00Z"``, ``"2024-03-01"`` for midnight) or a ``datetime``. Times are compared
        as instants, whatever their offsets. A time **without an offset** (a naive ``datetime``
        included) is lab time, America/Los_Angeles with daylight saving, the rule the tables apply to
        acquisition times recorded without an offset (docs/reference/record-shapes.md). Assets without
        an acquisition start time are left out when either bound is given. Pushed down to parquet.
    columns
        Columns to read (default: all). Unknown names raise :class:`InvalidInputError`.
    limit, offset
        Return at most ``limit`` rows (default ``None``: all; no other cap applies) after skipping the
        first ``offset`` rows of the matching rows ordered by name.
    include_total
        Also return the number of matching rows before ``limit`` and ``offset``.
    force_update, version, storage_options
        See :func:`unique_project_names`.

    Returns
    -------
    pandas.DataFrame, or tuple of (pandas.DataFrame, int)
        The matching rows ordered by ``name`` (empty when no asset matches all the filters together).
        With ``include_total=True``, the tuple ``(rows, total)`` as in biodata-cache 0.42.

    Raises
    ------
    InvalidInputError
        For an argument of the wrong type, an empty value, a time that does not parse, a negative
        ``limit`` or ``offset``, or ``acquisition_start_after`` not before ``acquisition_start_before``.

    Warns
    -----
    NoMatchWarning
        When a ``subject_id``, ``project_name``, ``modality``, ``data_level`` or ``name`` value does not
        occur in the table at all (``modality="ephys"``, ``data_level="Raw"``, a mistyped subject id):
        the message names the argument, the value and the closest existing values. Values that exist but
        match no asset together (a subject without ``ecephys`` assets) give an empty DataFrame without a
        warning.
    """
    _update_first(force_update, version, storage_options)
    import pyarrow.compute as pc

    table = get_table("asset_basics")
    columns = table.check_columns(columns)
    requested = {
        "subject_id": _check_strings("subject_id", subject_id),
        "project_name": _check_strings("project_name", project_name),
        "data_level": _check_strings("data_level", data_level),
        "modality": _check_strings("modality", modality),
        "name": _check_strings("name", name),
    }
    if name_contains is not None and (not isinstance(name_contains, str) or not name_contains):
        raise InvalidInputError(
            f"name_contains must be a non-empty str (literal text, case ignored), got "
            f"{type(name_contains).__name__} {name_contains!r:.60}; for exact names pass name=."
        )
    before = (
        None
        if acquisition_start_before is None
        else _check_time("acquisition_start_before", acquisition_start_before)
    )
    after = (
        None
        if acquisition_start_after is None
        else _check_time("acquisition_start_after", acquisition_start_after)
    )
    if before is not None and after is not None and not after < before:
        raise InvalidInputError(
            f"acquisition_start_after ({after.isoformat()}) must be before acquisition_start_before "
            f"({before.isoformat()}): the interval [after, before) is empty. Swap them or widen it."
        )
    limit = _check_count("limit", limit, allow_none=True)
    offset = _check_count("offset", offset, allow_none=False)
    check_flag("include_total", include_total)
    # Pushed down to the parquet read: exact values and the time bounds (timestamp[us, UTC] column,
    # compared with UTC instants).
    filters = [
        *_in_filter("subject_id", requested["subject_id"]),
        *_in_filter("project_name", requested["project_name"]),
        *_in_filter("data_level", requested["data_level"]),
        *_in_filter("name", requested["name"]),
    ]
    if before is not None:
        filters.append(("acquisition_start_time", "<", before))
    if after is not None:
        filters.append(("acquisition_start_time", ">=", after))
    modalities = requested["modality"]
    read_columns = columns
    if columns is not None:
        # Columns that tell which requested values appear in the answer: modalities (filtered here) and
        # those filtered with several values (a single pushed-down value appears in every row); name,
        # to order the rows and to match name_contains.
        extra = [
            _COLUMN[argument]
            for argument, values in requested.items()
            if values and (argument == "modality" or len(values) > 1)
        ]
        extra.append("name")
        read_columns = [*columns, *(c for c in dict.fromkeys(extra) if c not in columns)]
    data = read_table(
        "asset_basics",
        columns=read_columns,
        filters=filters or None,
        version=version,
        storage_options=storage_options,
    )
    # Not parquet filters (pyarrow.compute on the table read with the filters above): a list item equal
    # ignoring case, and a case-insensitive literal substring.
    if modalities:
        data = _rows_with_any(data, "modalities", modalities)
    if name_contains is not None:
        data = data.filter(pc.match_substring(data.column("name"), name_contains, ignore_case=True))
    missing = {
        a: _missing(data, _COLUMN[a], values, fold=a == "modality")
        for a, values in requested.items()
        if values
    }
    _warn_values_not_in_table("asset_basics", missing, version, storage_options, folded=("modality",))
    data = data.sort_by([("name", "ascending")])
    total = data.num_rows
    data = data.slice(offset, limit)
    if columns is not None:
        data = data.select(columns)
    frame = data.to_pandas()
    return (frame, total) if include_total else frame


source_data = _frame_reader("source_data")
platform_smartspim = _frame_reader("platform_smartspim")
#: biodata-cache 0.42's name of :func:`platform_smartspim`.
assets_smartspim = platform_smartspim
platform_exaspim = _frame_reader("platform_exaspim")
platform_exaspim_intermediates = _frame_reader("platform_exaspim_intermediates")


def qc(
    subject_id: str | None = None,
    asset_names: str | Sequence[str] | None = None,
    force_update: bool = False,
    lazy: bool = False,
    return_df: bool = True,
    *,
    raw_asset_name: str | None = None,
    columns: list[str] | None = None,
    version: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pd.DataFrame | str | list[str] | None:
    """Quality-control metrics along each raw asset's lineage, one row per metric.

    A metric that a derived asset inherits from the asset it was made from is one row, at the earliest
    asset that has it (``downstream_asset_names`` lists the others), and only the newest processing chain
    of each set of modalities is kept, as in biodata-cache 0.42 (see :mod:`biodata_cache.lineage`).

    Parameters
    ----------
    subject_id
        Read only this subject's partition (one file, whatever the number of subjects). ``None`` reads
        every subject. A raw asset name here (0.42's ``qc`` took one first) is read as ``raw_asset_name``:
        a value with ``_`` (AIND asset names have one, subject ids do not) is looked up in the
        ``qc_raw_assets`` index first. A derived asset's name is an error naming the calls that work.
    raw_asset_name
        Read the metrics of this raw asset and the assets derived from it: a small index
        (``qc_raw_assets``) names the subject partition(s) that hold them, and only those are opened.
    asset_names
        Keep metrics of these assets only (``asset_name``: where each metric first appears in the chain;
        pushed down to parquet).
    columns
        Columns to read (default: all).
    lazy
        Return the location of the data instead of reading it (nothing is read or checked): the URL of
        the one partition file, a list of URLs when a raw asset's rows are in several, or the URL glob of
        every partition (``.../qc/*/*.pqt``, for DuckDB's ``read_parquet(..., hive_partitioning=true)``).
        The location is of whole files: ``asset_names`` and ``columns`` do not apply (filter in the
        query that reads them). File names carry the build that wrote them: a URL is valid until a
        later build replaces that partition (ask again after a nightly build).
    return_df
        ``False``: read nothing and return ``None`` (0.42 used it with ``force_update=True`` to rebuild
        without reading).
    force_update, version, storage_options
        See :func:`asset_basics`.

    Returns
    -------
    pandas.DataFrame, str, list of str or None
        A DataFrame; empty, without a warning, for a subject of :func:`unique_subject_ids` or a raw asset
        of ``asset_basics`` that has no QC metrics. With ``lazy=True`` the location(s); with
        ``return_df=False`` None.

    Raises
    ------
    InvalidInputError
        If an argument has the wrong type, or ``subject_id`` / ``raw_asset_name`` is the name of an asset
        that is not a raw asset with QC (the message names its raw asset and the call that works).

    Warns
    -----
    NoMatchWarning
        When ``subject_id`` is not in :func:`unique_subject_ids`, ``raw_asset_name`` is not an asset of
        ``asset_basics``, or an asset name is not in ``asset_basics`` at all: the message names the closest
        existing values.
    """
    _update_first(force_update, version, storage_options)
    check_flag("lazy", lazy)
    check_flag("return_df", return_df)
    for argument, value in (("subject_id", subject_id), ("raw_asset_name", raw_asset_name)):
        if value is not None and (not isinstance(value, str) or not value):
            example = "'692478'" if argument == "subject_id" else "'ecephys_692478_2023-09-26_13-07-10'"
            raise InvalidInputError(
                f"{argument} must be a non-empty str such as {example}, got {type(value).__name__} {value!r}."
            )
    if subject_id is not None and raw_asset_name is not None:
        raise InvalidInputError(
            f"qc() takes a subject id or a raw asset name, not both: got subject_id={subject_id!r} and "
            f"raw_asset_name={raw_asset_name!r}."
        )
    names = _check_strings("asset_names", asset_names)
    columns = get_table("qc").check_columns(columns)
    if not return_df:
        return None
    # 0.42's first parameter was a raw asset name (AIND asset names have "_"; subject ids do not).
    subjects = None
    if subject_id is not None and "_" in subject_id:  # AIND asset names have "_", subject ids do not
        subjects = _raw_asset_subjects(subject_id, version, storage_options)
        if subjects or (subjects is None and not _is_subject(subject_id, version, storage_options)):
            subject_id, raw_asset_name = None, subject_id
    if raw_asset_name is not None:
        return _qc_of_raw_asset(raw_asset_name, names, columns, lazy, version, storage_options)
    if lazy:
        return _qc_location(EVERY_PARTITION if subject_id is None else subject_id, version, storage_options)
    parameters = None if subject_id is None else {"subject_id": subject_id}
    read_columns = columns
    if names and len(names) > 1 and columns is not None and "asset_name" not in columns:
        read_columns = [*columns, "asset_name"]  # to tell which requested assets appear in the answer
    data = read_table(
        "qc",
        columns=read_columns,
        filters=_in_filter("asset_name", names) or None,
        parameters=parameters,
        version=version,
        storage_options=storage_options,
    )
    known_subject = True
    if subject_id is not None and not data.num_rows:
        known_subject = _check_qc_subject(subject_id, version, storage_options)
    if names and known_subject:
        missing = _missing(data, "asset_name", names)
        if missing:
            _warn_asset_names_not_in_table(subject_id, missing, version, storage_options)
    if read_columns is not columns:
        data = data.select(columns)
    return data.to_pandas()


def _raw_asset_subjects(
    name: str, version: str | None, storage_options: dict[str, Any] | None
) -> list[str | None] | None:
    """The qc partitions holding a raw asset's rows (from ``qc_raw_assets``); None for a release without
    the index."""
    settings = _settings(version, storage_options)
    document = _load_catalog(_store(settings), settings)
    if document is not None and "qc" in document["sources"] and "qc_raw_assets" not in document["sources"]:
        return None  # a release published before the index (not one to build it in)
    try:
        index = read_table(
            "qc_raw_assets",
            columns=["subject_id"],
            filters=[("raw_asset_name", "==", name)],
            version=version,
            storage_options=storage_options,
        )
    except TableNotFoundError:
        return None
    return index.column("subject_id").to_pylist()


def _is_subject(value: str, version: str | None, storage_options: dict[str, Any] | None) -> bool:
    """Whether ``value`` is a subject id of the release (asked only of a release without the index)."""
    try:
        return value in set(unique_subject_ids(version=version, storage_options=storage_options))
    except TableNotFoundError:
        return True


#: ``_qc_location``'s subject for the glob of every partition (``None`` is the partition without subject).
EVERY_PARTITION: Any = object()


def _qc_location(subject_id: Any, version: str | None, storage_options: dict[str, Any] | None) -> str:
    """URL of one qc partition file (``None``: rows without a subject), or the glob of every partition."""
    settings = _settings(version, storage_options)
    if subject_id is EVERY_PARTITION:
        return _store(settings).url(f"{settings.version}/qc/*/*.pqt")
    return open_source_entry("qc", settings).partition_location(subject_id)


def _qc_of_raw_asset(
    name: str,
    names: list[str] | None,
    columns: list[str] | None,
    lazy: bool,
    version: str | None,
    storage_options: dict[str, Any] | None,
) -> pd.DataFrame | str | list[str]:
    """``qc(raw_asset_name=...)``: open only the partitions the ``qc_raw_assets`` index names.

    The index and the partitions are resolved from one fetch of the catalog, so they are of one release;
    when a publish removed a file on the way (a source had to follow the registry) the whole read starts
    again (:data:`~biodata_cache.release_source.RELEASE_ATTEMPTS` times, then
    :class:`~biodata_cache.ReleaseChangedError`).
    """
    import pyarrow as pa

    from biodata_cache.release_source import RELEASE_ATTEMPTS

    settings = _settings(version, storage_options)
    if lazy:
        subjects = _raw_asset_subjects(name, version, storage_options)
        if subjects is None:  # a release without the index: the rows may be in any partition
            return _qc_location(EVERY_PARTITION, version, storage_options)
        locations = [_qc_location(s, version, storage_options) for s in subjects]
        return locations[0] if len(locations) == 1 else locations
    store = _store(settings)
    filters = [("raw_asset_name", "==", name), *_in_filter("asset_name", names)]
    read_columns = columns
    if columns is not None and names and "asset_name" not in columns:
        read_columns = [*columns, "asset_name"]
    for _attempt in range(RELEASE_ATTEMPTS):
        document = _load_catalog(store, settings)
        if document is None or "qc" not in document["sources"]:
            open_source_entry("qc", settings)  # builds on read, or raises naming the tables there
            document = _load_catalog(store, settings)
        assert document is not None
        sources = []
        subjects = None
        if "qc_raw_assets" in document["sources"]:
            index = open_source_entry(
                "qc_raw_assets",
                settings,
                columns=["subject_id"],
                filters=[("raw_asset_name", "==", name)],
                document=document,
            )
            sources.append(index)
            subjects = _read_source(index, "qc_raw_assets", settings).column("subject_id").to_pylist()
        parts = []
        for subject in subjects if subjects and None not in subjects else [None]:
            source = open_source_entry(
                "qc",
                settings,
                columns=read_columns,
                filters=filters,
                parameters=None if subject is None else {"subject_id": subject},
                document=document,
            )
            sources.append(source)
            parts.append(_read_source(source, "qc", settings))
        if not any(getattr(source, "followed_release", False) for source in sources):
            break
        logger.debug("qc(raw_asset_name=%r): a publish moved the release on the way; reading again", name)
    else:
        raise ReleaseChangedError(
            f"qc(raw_asset_name={name!r}) found a newer release on each of {RELEASE_ATTEMPTS} reads of "
            f"{store.url(settings.version)} (builds publishing one after the other). Call it again."
        )
    data = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    if not subjects and not data.num_rows:
        _check_raw_asset(name, version, storage_options)
    if names:
        missing = _missing(data, "asset_name", names)
        if missing:
            _warn_asset_names_not_in_table(None, missing, version, storage_options)
    if read_columns is not columns:
        data = data.select(columns)
    return data.to_pandas()


def _check_raw_asset(name: str, version: str | None, storage_options: dict[str, Any] | None) -> None:
    """A raw asset name with no QC rows: fine for a raw asset without metrics, an error for a derived
    asset (naming its raw asset), a warning for a name no asset has."""
    try:
        assets = read_table(
            "asset_basics",
            columns=["name", "subject_id", "data_level"],
            filters=[("name", "==", name)],
            version=version,
            storage_options=storage_options,
        ).to_pylist()
        if not assets:
            known = read_table(
                "qc_raw_assets", columns=["raw_asset_name"], version=version, storage_options=storage_options
            )
    except TableNotFoundError:  # a release without the tables to compare with: the answer stands
        return
    if not assets:
        release = _settings(version, storage_options).version
        _warn_no_match("qc", "raw_asset_name", [name], _distinct(known.column("raw_asset_name")), release)
        return
    if assets[0]["data_level"] != "derived":
        return
    sources = (
        read_table(
            "source_data",
            columns=["source_data"],
            filters=[("name", "==", name)],
            version=version,
            storage_options=storage_options,
        )
        .column("source_data")
        .to_pylist()
    )
    source = next((s for s in sources if s), None)
    hint = (
        f"its metrics are under the raw asset it was derived from: call qc(raw_asset_name=<raw asset>, "
        f"asset_names=[{name!r}])"
    )
    if source is not None:
        hint += f" (it was derived from {source!r}; raw_to_derived lists a raw asset's derived assets)"
    call = f"qc(raw_asset_name={name!r})"
    raise InvalidInputError(f"{call}: {name!r} is a derived asset, not a raw asset; {hint}.")


def _check_qc_subject(subject_id: str, version: str | None, storage_options: dict[str, Any] | None) -> bool:
    """Whether a subject with no QC rows is a known subject; raises for an asset name, else warns."""
    try:
        subjects = unique_subject_ids(version=version, storage_options=storage_options)
        if subject_id in set(subjects):
            return True
        assets = []
        if (
            "_" in subject_id
        ):  # AIND asset names do (<platform>_<subject>_<date>_<time>); others get the warning
            assets = read_table(
                "asset_basics",
                columns=["name", "subject_id", "data_level"],
                filters=[("name", "==", subject_id)],
                version=version,
                storage_options=storage_options,
            ).to_pylist()
    except TableNotFoundError:  # a release without the tables to compare with: the answer stands
        return True
    if assets and assets[0]["data_level"] != "derived":
        return True  # a raw asset (0.42's first parameter) without QC metrics: the empty answer stands
    if assets:
        raise InvalidInputError(_asset_name_given_as_subject(subject_id, assets[0]))
    _warn_no_match("qc", "subject_id", [subject_id], subjects, _settings(version, storage_options).version)
    return False


def _asset_name_given_as_subject(name: str, asset: dict[str, Any]) -> str:
    subject = asset["subject_id"]
    message = (
        f"qc({name!r}): {name!r} is a derived asset, not a subject id or a raw asset name (what qc takes "
        f"first). Its metrics are under the raw asset it was derived from: "
        f"qc(raw_asset_name=<raw asset>, asset_names=[{name!r}])"
    )
    if subject is not None:
        message += f", or qc({subject!r}, asset_names=[{name!r}]) (its subject's partition)"
    return message + "."


def _warn_asset_names_not_in_table(
    subject_id: str | None,
    missing: list[str],
    version: str | None,
    storage_options: dict[str, Any] | None,
) -> None:
    """Warn about requested asset names that are not in asset_basics at all.

    The closest names offered are the subject's own assets when a subject was given (see
    :func:`_names_not_held`).
    """
    held = _names_not_held(missing, version, storage_options, subject_id=subject_id)
    if held is not None and held[0]:
        unknown, existing, scope = held
        release = _settings(version, storage_options).version
        _warn_no_match("qc", "asset_names", unknown, existing, release, scope=scope)


def _names_not_held(
    names: list[str],
    version: str | None,
    storage_options: dict[str, Any] | None,
    *,
    subject_id: str | None = None,
) -> tuple[list[str], list[str], tuple[str, str] | None] | None:
    """Of asset ``names``, those asset_basics does not hold at all, with the names to suggest instead and
    what they are (``None``: every name); ``None`` for a release without asset_basics.

    The reads stay small on asset_basics' clustered file: the names asked (the row groups its lookup index
    gives them), then the names of ``subject_id`` or, without it, of the subjects the unknown names embed
    (``ecephys_692478_2024-...``: their row groups). Only when an unknown name embeds no subject id are
    the suggestions taken from every name.
    """
    import pyarrow.compute as pc

    from biodata_cache.clustered import embedded_value

    def names_where(filters: list[tuple[str, str, Any]] | None) -> list[str]:
        table = read_table(
            "asset_basics",
            columns=["name"],
            filters=filters,
            version=version,
            storage_options=storage_options,
        )
        return [n for n in pc.unique(table.column("name")).to_pylist() if n is not None]

    try:
        held = set(names_where([("name", "in", sorted(set(names)))]))
        unknown = [name for name in names if name not in held]
        if not unknown:
            return [], [], None
        subjects = (
            [subject_id] if subject_id is not None else sorted({embedded_value(n) for n in unknown}, key=str)
        )
        if None in subjects:
            return unknown, sorted(names_where(None)), None
        near = names_where([("subject_id", "in", subjects)])
    except TableNotFoundError:  # a release without asset_basics: nothing to compare with
        return None
    if not near:
        return unknown, sorted(names_where(None)), None
    listed = ", ".join(map(repr, subjects))
    scope = (
        f"the assets of subject {listed}" if len(subjects) == 1 else f"the assets of subjects {listed}",
        f"biodata_cache.asset_basics(subject_id={subjects[0] if len(subjects) == 1 else subjects!r}, "
        "columns=['name'])",
    )
    return unknown, sorted(near), scope


metadata_core = _frame_reader("metadata_core")


def qc_status(
    force_update: bool = False,
    *,
    columns: list[str] | None = None,
    version: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """QC status in biodata-cache 0.42's wide form: a row per asset, a column per modality and stage.

    Parameters
    ----------
    columns
        Columns to read (default: all): ``name``, then one per modality abbreviation
        (``biodata_cache.records.MODALITIES``) and per QC stage (``Raw data``, ``Processing``, ...),
        sorted ignoring case.
    force_update, version, storage_options
        See :func:`unique_project_names`.

    Returns
    -------
    pandas.DataFrame
        One row per asset name, sorted by name. Each modality or stage column holds the asset's
        ``quality_control.status`` of that key (``Pass``, ``Fail``, ``Pending``), null where it has none.
        Of records sharing an asset name, the newest (``_last_modified``, then ``_id``) wins.

    See Also
    --------
    qc_status_long : every status key of every record (tags too), one row per record and key.

    Notes
    -----
    The wide form is the default because it is what ``qc_status()`` returned in biodata-cache 0.42:
    ``qc_status()["ecephys"]`` and ``qc_status().set_index("name")["Processing"]`` work unchanged. Its
    columns are declared (the whole modality and stage vocabulary, every one always present, null where
    no asset has it) instead of following the data as 0.42's did, so every release has the same schema,
    registry entry and catalog entry. The long form stays its own table, ``qc_status_long``: it is what
    the wide form is built from after every build (newest record per name) and the only place tags and
    keys outside the vocabulary are kept.
    """
    _update_first(force_update, version, storage_options)
    return _frame("qc_status", columns=columns, version=version, storage_options=storage_options)


qc_status_long = _frame_reader("qc_status_long")


qc_raw_assets = _frame_reader("qc_raw_assets")


time_to_qc = _frame_reader("time_to_qc")


def qc_tag_status(
    subject_id: str | None = None,
    force_update: bool = False,
    *,
    columns: list[str] | None = None,
    version: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """QC status keys of each asset (``quality_control.status``), one row per key, partitioned by subject.

    Parameters
    ----------
    subject_id
        Read only this subject's partition (one file, whatever the number of subjects), e.g. ``"692478"``;
        ``None`` reads every subject.
    columns
        Columns to read (default: all): tag, status, asset_name, subject_id, timestamp, _id.
    force_update, version, storage_options
        See :func:`unique_project_names`.

    Returns
    -------
    pandas.DataFrame
        Empty for a subject without QC status keys.

    Warns
    -----
    NoMatchWarning
        When ``subject_id`` is not in :func:`unique_subject_ids`: the message names the closest ids.

    Raises
    ------
    InvalidInputError
        If ``subject_id`` is not a non-empty str (subject ids are strings: ``"692478"``, not ``692478``).
    """
    if subject_id is not None and (not isinstance(subject_id, str) or not subject_id):
        raise InvalidInputError(
            f"subject_id of qc_tag_status() must be a non-empty str such as '692478' (or None for every "
            f"subject), got {type(subject_id).__name__} {subject_id!r}."
        )
    _update_first(force_update, version, storage_options)
    data = _frame(
        "qc_tag_status",
        columns=columns,
        parameters=None if subject_id is None else {"subject_id": subject_id},
        version=version,
        storage_options=storage_options,
    )
    if subject_id is not None and data.empty:
        try:
            subjects = unique_subject_ids(version=version, storage_options=storage_options)
        except TableNotFoundError:  # a release without the table to compare with: the answer stands
            subjects = None
        if subjects is not None and subject_id not in set(subjects):
            release = _settings(version, storage_options).version
            _warn_no_match("qc_tag_status", "subject_id", [subject_id], subjects, release)
    return data


def platform_qc(
    platform: str,
    force_update: bool = False,
    *,
    columns: list[str] | None = None,
    version: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Tag-level QC status of one platform's assets (one partition of ``platform_qc``).

    Parameters
    ----------
    platform
        One of ``spim``, ``fib``, ``vr``, ``dynamic_foraging``, ``slap2``
        (:data:`biodata_cache.tables.platform.PLATFORMS`). Only that partition is read.
    columns
        Columns to read (default: all): platform, asset_name, tag, status, timestamp,
        instrument_id_normalized, experimenters_normalized, _id.
    force_update, version, storage_options
        See :func:`unique_project_names`.

    Returns
    -------
    pandas.DataFrame
        Empty when no asset of the platform has a status key of its modalities.

    Raises
    ------
    InvalidInputError
        If ``platform`` is not one of the platforms (the message lists them).
    """
    from biodata_cache.tables.platform import PLATFORMS

    if not isinstance(platform, str) or platform not in PLATFORMS:
        raise InvalidInputError(
            f"platform_qc() takes a platform, one of {', '.join(PLATFORMS)}; got "
            f"{type(platform).__name__} {platform!r}."
        )
    _update_first(force_update, version, storage_options)
    return _frame(
        "platform_qc",
        columns=columns,
        parameters={"platform": platform},
        version=version,
        storage_options=storage_options,
    )


platform_fib = _frame_reader("platform_fib")
platform_smartspim_fiber_ccf = _frame_reader("platform_smartspim_fiber_ccf")
platform_smartspim_qc_metrics = _frame_reader("platform_smartspim_qc_metrics")


record_consistency_results = _frame_reader("record_consistency_results")


record_consistency_checks = _frame_reader("record_consistency_checks")


# -- course and upgrade tables ------------------------------------------------------------------------

swdb_2025_bci = _frame_reader("swdb_2025_bci")
swdb_2025_v1dd = _frame_reader("swdb_2025_v1dd")
swdb_2026_bci = _frame_reader("swdb_2026_bci")
swdb_2026_v1dd = _frame_reader("swdb_2026_v1dd")
swdb_2026_visual_learning = _frame_reader("swdb_2026_visual_learning")
swdb_2026_visual_coding_neuropixels = _frame_reader("swdb_2026_visual_coding_neuropixels")
swdb_2026_visual_coding_ophys = _frame_reader("swdb_2026_visual_coding_ophys")
swdb_2026_dynamic_routing = _frame_reader("swdb_2026_dynamic_routing")
swdb_2026_neuropixels_opto = _frame_reader("swdb_2026_neuropixels_opto")


def metadata_upgrade(
    force_update: bool = False,
    *,
    columns: list[str] | None = None,
    version: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Metadata upgrade status (v1 -> v2): one row per v1 record and upgrader version.

    Built by every build from the custom table ``metadata_upgrade_status_prod`` (which the upgrade
    publishes with ``custom("metadata_upgrade_status_prod", df)``) and ``asset_basics``; see the
    table's reference page for its columns. Pivot on ``upgrader_version`` for biodata-cache 0.42's wide
    form (one column per upgrader version).

    Parameters
    ----------
    force_update, version, storage_options
        See :func:`unique_project_names`.
    columns
        Columns to read (default: all).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    TableNotFoundError
        When the version has no ``metadata_upgrade`` because the custom table does not exist: the message
        names it and how to publish it (biodata-cache 0.42 returned an empty DataFrame).
    InvalidInputError
        From a build (``force_update`` or a build on read) when the custom table lacks a required column.
    """
    from biodata_cache.registry import CUSTOM_PREFIX
    from biodata_cache.tables.upgrade import UPGRADE_STATUS_COLUMNS, UPGRADE_STATUS_TABLE

    _update_first(force_update, version, storage_options)
    settings = _settings(version, storage_options)
    registry = _registry_or_none(_store(settings), settings.version)
    if registry is None or (
        "metadata_upgrade" not in registry and CUSTOM_PREFIX + UPGRADE_STATUS_TABLE not in registry
    ):
        raise TableNotFoundError(
            f"table 'metadata_upgrade' is not in version {settings.version} of the store {settings.root}: it "
            f"is built from the custom table {UPGRADE_STATUS_TABLE!r}, which does not exist there. Publish "
            f"the upgrade's results with custom({UPGRADE_STATUS_TABLE!r}, df) (columns "
            f"{', '.join(UPGRADE_STATUS_COLUMNS)}), then build (biodata_cache.sync.update_all_tables() or "
            f"`biodata-cache build`)."
        )
    return _frame("metadata_upgrade", columns=columns, version=version, storage_options=storage_options)


# -- lineage ------------------------------------------------------------------------------------------


def raw_to_derived(
    asset_name: str | Sequence[str],
    latest: bool = False,
    modality: str | Sequence[str] | None = None,
    force_update: bool = False,
    *,
    version: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> list[str] | dict[str, list[str]]:
    """Names of the assets derived from a raw asset.

    Parameters
    ----------
    asset_name
        A raw asset name (returns a list) or a list of names (returns a dict name -> list).
    latest
        Keep only the newest derived asset of each pipeline: per ``pipeline_name`` of ``source_data``
        (derived assets without a recorded pipeline form one group), the one with the latest
        ``processing_time`` (ties and missing times: the greatest name wins among those of the latest
        time; a missing time counts as older than any time).
    modality
        Keep derived assets that have this modality abbreviation (or any of these): whole
        abbreviations, any case, as in :func:`asset_basics`.
    force_update, version, storage_options
        See :func:`unique_project_names`.

    Returns
    -------
    list of str, or dict of str to list of str
        Derived names, oldest processing first. An asset with no derived assets (or none of the
        requested modalities) maps to ``[]``. A raw asset that is named as a source in ``source_data``
        but has no record of its own (not in ``asset_basics``) still gives its derived assets.

    Raises
    ------
    TableNotFoundError
        If an asset name is neither in ``asset_basics`` nor a source in ``source_data`` (a typo, or an
        asset not yet published).

    Warns
    -----
    NoMatchWarning
        When a ``modality`` is not the modality of any asset in ``asset_basics`` (``"ephys"`` for
        ``"ecephys"``); the message names the closest existing modalities.
    """
    _update_first(force_update, version, storage_options)
    single = isinstance(asset_name, str)
    if asset_name is None:
        raise InvalidInputError("asset_name must be a str or a list of str (raw asset names), got None.")
    names = _check_strings("asset_name", asset_name)
    assert names is not None
    modalities = _check_strings("modality", modality)
    check_flag("latest", latest)
    lineage, assets = _lineage_of(names, bool(modalities), version, storage_options)
    known = {row["name"]: {m.casefold() for m in row["modalities"] or []} for row in assets}
    sources = {row["source_data"] for row in lineage}
    unknown = [n for n in names if n not in known and n not in sources]
    if unknown:
        raise TableNotFoundError(
            f"asset(s) {', '.join(map(repr, unknown))} are neither in asset_basics nor a source in "
            f"source_data of this version; check "
            f"the name(s) with asset_basics(columns=['name']) or pass version= for another version."
        )
    wanted = {m.casefold() for m in modalities or []}
    if modalities:
        present = set().union(*known.values())
        missing = {"modality": [m for m in modalities if m.casefold() not in present]}
        _warn_values_not_in_table("raw_to_derived", missing, version, storage_options, folded=("modality",))
    result: dict[str, list[str]] = {}
    for name in names:
        rows = [r for r in lineage if r["source_data"] == name]
        if modalities:
            rows = [r for r in rows if known.get(r["name"], set()) & wanted]
        rows.sort(key=_processing_order)
        if latest:
            newest = {r["pipeline_name"] or "": r for r in rows}  # the last of each pipeline is its newest
            rows = sorted(newest.values(), key=_processing_order)
        result[name] = list(dict.fromkeys(r["name"] for r in rows))
    return result[names[0]] if single else result


def _lineage_of(
    names: list[str], modalities: bool, version: str | None, storage_options: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``raw_to_derived``'s reads, from one fetch of the catalog: the ``source_data`` rows of the names
    (name, source_data, pipeline_name, processing_time) and the ``asset_basics`` rows (name, modalities)
    it needs: of the names and their derived assets with ``modalities``, else only of the names that
    are no source (to tell a raw asset without derived assets from an unknown name). Both are read
    by ranged reads of the row groups that can match (:mod:`biodata_cache.parquet_ranges`); a publish
    on the way (a source had to follow the registry) reads both again.
    """
    from biodata_cache.intake_driver import RELEASE_ATTEMPTS

    settings = _settings(version, storage_options)
    store = _store(settings)
    for _attempt in range(RELEASE_ATTEMPTS):
        document = _load_catalog(store, settings)
        if document is None or "source_data" not in document["sources"]:
            open_source_entry("source_data", settings)  # builds on read, or raises naming the tables there
            document = _load_catalog(store, settings)
        lineage_source = open_source_entry(
            "source_data",
            settings,
            columns=["name", "source_data", "pipeline_name", "processing_time"],
            filters=_in_filter("source_data", names),
            document=document,
        )
        sources = [lineage_source]
        lineage = _read_source(lineage_source, "source_data", settings).to_pylist()
        found = {row["source_data"] for row in lineage}
        lookup = set(names) | {row["name"] for row in lineage} if modalities else set(names) - found
        assets: list[dict[str, Any]] = []
        if lookup:
            asset_source = open_source_entry(
                "asset_basics",
                settings,
                columns=["name", "modalities"],
                filters=_in_filter("name", sorted(lookup)),
                document=document,
            )
            sources.append(asset_source)
            assets = _read_source(asset_source, "asset_basics", settings).to_pylist()
        if not any(getattr(source, "followed_release", False) for source in sources):
            return lineage, assets
        logger.debug("raw_to_derived: a publish moved the release on the way; reading again")
    raise ReleaseChangedError(
        f"raw_to_derived found a newer release on each of {RELEASE_ATTEMPTS} reads of "
        f"{store.url(settings.version)} (builds publishing one after the other). Call it again."
    )


def _processing_order(row: dict[str, Any]) -> tuple[bool, Any, str]:
    """Sort key of a ``source_data`` row: missing processing times first, then by time, then by name."""
    return (row["processing_time"] is not None, row["processing_time"] or 0, row["name"])


# -- custom tables ------------------------------------------------------------------------------------


def _check_custom_name(name: Any) -> str:
    if not isinstance(name, str) or not CUSTOM_NAME.fullmatch(name) or ".." in name:
        raise InvalidInputError(
            f"custom table name {name!r} is not allowed: use 1-128 letters, digits, '_' or '-', "
            f"starting with a letter or digit (no '/', '.', spaces, newlines or other control "
            f"characters)."
        )
    if name in TABLES_BY_NAME:
        raise InvalidInputError(
            f"{name!r} is a published table; pick another name for your custom table (published "
            f"tables: {', '.join(TABLES_BY_NAME)})."
        )
    return name


def _custom_arrow(name: str, df: Any) -> pa.Table:
    import pandas as pd
    import pyarrow as pa

    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(
            f"custom({name!r}, df): df must be a pandas DataFrame, got {type(df).__name__}."
        )
    if not all(isinstance(c, str) for c in df.columns) or df.columns.duplicated().any():
        raise InvalidInputError(
            f"custom({name!r}, df): column names must be unique strings, got {list(df.columns)!r}."
        )
    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError) as error:
        raise InvalidInputError(
            f"custom({name!r}, df): a column has a dtype parquet cannot store ({error}). Convert it "
            f"to numbers, strings, booleans, timestamps or lists of those."
        ) from error
    unsupported = [f.name for f in table.schema if pa.types.is_null(f.type)]
    if unsupported and len(df):
        raise InvalidInputError(
            f"custom({name!r}, df): column(s) {unsupported} hold only None; give them a dtype "
            f"(e.g. df[col].astype('string'))."
        )
    return table


def custom(
    name: str,
    df: pd.DataFrame | None = None,
    *,
    description: str | None = None,
    version: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Store a DataFrame as a custom table of a version, or read one back.

    The table is written to ``bdc-v{X}/custom/<name>.pqt`` and listed in the version's registry and
    catalog as ``custom_<name>``.

    Parameters
    ----------
    name
        1-128 ASCII letters, digits, ``_`` or ``-`` and nothing else (no ``/``, ``.``, spaces,
        newlines or other control characters), starting with a letter or digit; not the name of a
        published table.
    df
        The DataFrame to store. ``None`` reads the custom table back.
    description
        What the table holds, shown in the registry and the catalog (default: a generic line). The
        description and the column names are stored as written and read back exactly: intake never
        renders them as templates (``{{ ... }}`` stays text).
    version, storage_options
        See :func:`unique_project_names`.

    Returns
    -------
    pandas.DataFrame
        The table as stored.

    Raises
    ------
    InvalidInputError
        For a bad name, a non-DataFrame or an unsupported dtype; nothing is written.
    TableNotFoundError
        When reading a custom table that does not exist; the message lists those that do.
    """
    from biodata_cache.registry import CUSTOM_PREFIX

    name = _check_custom_name(name)
    entry = CUSTOM_PREFIX + name
    if df is None:
        settings = _settings(version, storage_options)
        try:
            return read_table(entry, version=version, storage_options=storage_options).to_pandas()
        except TableNotFoundError as error:
            registry = _registry_or_none(_store(settings), settings.version)
            existing = [t.name[len(CUSTOM_PREFIX) :] for t in registry or [] if t.kind == "custom"]
            raise TableNotFoundError(
                f"custom table {name!r} does not exist in {settings.version} of {settings.root}; "
                f"custom tables there: {', '.join(existing) or '(none)'}. Create it with "
                f"custom({name!r}, df)."
            ) from error
    table = _custom_arrow(name, df)
    _check_custom_input(name, table)
    if description is not None and not isinstance(description, str):
        raise InvalidInputError(f"description must be a str, got {type(description).__name__}.")
    return _write_custom(_settings(version, storage_options), name, table, description)


def _check_custom_input(name: str, table: pa.Table) -> None:
    """A custom table a published table is built from (``Table.custom_input``) must have the columns that
    table reads: checked here, where the mistake is made, rather than by the next build.

    Raises
    ------
    InvalidInputError
        Naming the table built from it and the columns missing.
    """
    from biodata_cache.tables import TABLES

    for declared in TABLES:
        if declared.custom_input != name:
            continue
        missing = [c for c in declared.custom_columns if c not in table.column_names]
        if missing:
            raise InvalidInputError(
                f"custom table {name!r} is the input of table {declared.name!r}, which reads the columns "
                f"{', '.join(declared.custom_columns)}; the frame has no {', '.join(map(repr, missing))}. "
                f"Add them and call custom({name!r}, df) again."
            )


def _registry_or_none(store: Store, version: str) -> Registry | None:
    from biodata_cache.registry import read_registry

    try:
        return read_registry(store, version)
    except FileNotFoundError:
        return None


def _write_custom(
    settings: config.Settings, name: str, table: pa.Table, description: str | None
) -> pd.DataFrame:
    """Publish a custom table (see :func:`biodata_cache.publish.publish_custom_table`) and return it as
    a reader will read it: parsed from the bytes written, without fetching them again."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from biodata_cache.publish import publish_custom_table, utc_now
    from biodata_cache.registry import CUSTOM_PREFIX, CacheTable

    store = _store(settings)
    path = f"custom/{name}.pqt"
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    data = buffer.getvalue()
    entry = CacheTable(
        name=CUSTOM_PREFIX + name,
        description=description or f"Custom table {name!r}, stored with biodata_cache.custom().",
        location=store.url(settings.version, path),
        path=path,
        partitioned=False,
        partition_key=None,
        kind="custom",
        columns=[{"name": f.name, "dtype": str(f.type), "description": ""} for f in table.schema],
        rows=table.num_rows,
        built_at=utc_now(),
        source="custom()",
    )
    publish_custom_table(store, settings.version, entry, data)
    logger.info("stored custom table %r in %s", name, store.url(settings.version, path))
    return pq.ParquetFile(pa.BufferReader(data)).read().to_pandas()  # without read_table's dataset setup


# -- registry and versions ----------------------------------------------------------------------------


def get_cache_registry(
    version: str | None = None, *, storage_options: dict[str, Any] | None = None
) -> Registry:
    """The registry of a version: every table with description, location, columns, rows, built_at.

    As in biodata-cache 0.42: the tables are sorted by name, each a
    :class:`~biodata_cache.registry.CacheTable` with attributes (``name``, ``description``,
    ``location``, ``partitioned``, ``partition_key``, ``type``, ``columns`` whose items read as
    attributes: ``columns[0].name``) and ``model_dump_json()``; ``registry.tables`` lists them,
    ``registry["quality_control"]`` is ``registry["qc"]``.

    Parameters
    ----------
    version, storage_options
        See :func:`unique_project_names`.

    Returns
    -------
    Registry

    Raises
    ------
    VersionNotFoundError
        If the version has no registry in the store (the message lists the versions there).
    """
    from biodata_cache.registry import read_registry

    settings = _settings(version, storage_options)
    store = _store(settings)
    try:
        return read_registry(store, settings.version).sorted_by_name()
    except FileNotFoundError:
        if not settings.builds_on_read:
            raise _missing_version_error(store, settings) from None
    # Built outside the except block: a failed build must not carry "registry not found" as its context.
    _build_on_read(settings, reason=f"{store.url(settings.version)} has no registry")
    return read_registry(store, settings.version).sorted_by_name()


def get_cache_versions(*, storage_options: dict[str, Any] | None = None) -> CacheVersions:
    """Version folders of the store (``cache_versions.json``), sorted oldest to newest.

    ``bdc-v0.10`` sorts after ``bdc-v0.9``. An empty store gives an empty list. The result is a list of
    str that displays in Jupyter as a table, newest first, with build times and table counts.
    """
    from biodata_cache.registry import CacheVersions, read_versions

    settings = _settings(None, storage_options)
    store = _store(settings)
    return CacheVersions(read_versions(store), store)


def open_catalog(version: str | None = None, *, storage_options: dict[str, Any] | None = None) -> Any:
    """Open a version's Intake catalog (``<root>/bdc-v{X}/catalog.yaml``) with ``intake.open_catalog``.

    Raises
    ------
    VersionNotFoundError
        If the version does not exist (and the backend does not build on read).
    """
    from biodata_cache.catalog import CATALOG_FILE, open_intake_catalog

    settings = _settings(version, storage_options)
    store = _store(settings)
    if _load_catalog(store, settings) is None:
        if not settings.builds_on_read:
            raise _missing_version_error(store, settings)
        _build_on_read(settings, reason=f"{store.url(settings.version)} has no catalog")
    return open_intake_catalog(store.url(settings.version, CATALOG_FILE), store.storage_options)
