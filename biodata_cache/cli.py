"""The ``biodata-cache`` command line: build, versions, tables, show, catalog.

Global options (``--backend``, ``--root``, ``--version``, ``--source``) override the ``BIODATA_CACHE_*``
variables for the command. Errors print their message (which says what to do) and exit with status 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from biodata_cache.errors import BiodataCacheError

if TYPE_CHECKING:
    import pandas as pd


def _add_global_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--root", default=default, help="store root (fsspec URL or folder); default BIODATA_CACHE_ROOT"
    )
    parser.add_argument(
        "--backend",
        default=default,
        help="S3, MEMORY, LOCAL or CODEOCEAN (any case); default BIODATA_CACHE_BACKEND",
    )
    parser.add_argument(
        "--version", dest="release", default=default, help="version to read or build, e.g. 0.1"
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", default=default or False, help="log progress details"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="biodata-cache", description="Build, publish and read biodata-cache tables of AIND metadata."
    )
    _add_global_options(parser, default=None)
    # The same options are accepted after the command too (`biodata-cache build --root ./store`).
    shared = argparse.ArgumentParser(add_help=False)
    _add_global_options(shared, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser(
        "build", parents=[shared], help="build every table from a source and publish it"
    )
    build.add_argument("--source", help="docdb, sample, or a folder / .jsonl(.gz) of records")
    build.add_argument("--full", action="store_true", help="rebuild everything (default: incremental)")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.add_argument(
        "--workers", type=int, default=None, help="processes for the row functions (default: CPUs, max 8)"
    )
    build.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=(
            "wait this long for another, running publisher of the same version to finish (default: "
            "fail; a killed publisher's lease is taken over after 30 s without renewal)"
        ),
    )
    build.add_argument(
        "--listing-max-age-days",
        type=float,
        default=None,
        metavar="DAYS",
        help=(
            "list an asset's storage again when its last listing is older than this (default: "
            "BIODATA_CACHE_LISTING_MAX_AGE_DAYS, else 7; 0 lists every asset again)"
        ),
    )
    build.add_argument(
        "--listing-anon",
        action="store_true",
        help="list asset locations anonymously (public aind-open-data; or BIODATA_CACHE_LISTING_ANON=1)",
    )

    commands.add_parser("versions", parents=[shared], help="list the versions in the store")
    commands.add_parser(
        "tables", parents=[shared], help="list the tables of a version with rows and build time"
    )

    show = commands.add_parser("show", parents=[shared], help="print rows of a table")
    show.add_argument("table", help="table name (see `biodata-cache tables`) or custom_<name>")
    show.add_argument("--subject-id", help="only this subject (qc reads one partition)")
    show.add_argument("--columns", help="comma-separated columns")
    show.add_argument("--limit", type=int, default=20, help="rows to print (0: all; default 20)")
    show.add_argument("--format", choices=("table", "csv", "json"), default="table")

    catalog = commands.add_parser(
        "catalog", parents=[shared], help="print the version's Intake catalog (YAML)"
    )
    catalog.add_argument("--republish", action="store_true", help="regenerate it from the registry first")
    return parser


def _configure(arguments: argparse.Namespace) -> None:
    if arguments.backend is not None:
        from biodata_cache.config import backend_name

        os.environ["BIODATA_CACHE_BACKEND"] = backend_name(
            arguments.backend, f"--backend {arguments.backend!r}"
        )
    if arguments.root:
        os.environ["BIODATA_CACHE_ROOT"] = arguments.root
    if arguments.release:
        os.environ["BIODATA_CACHE_VERSION"] = arguments.release


def _build(arguments: argparse.Namespace) -> None:
    from biodata_cache.sync import default_workers, update_all_tables

    report = update_all_tables(
        source=arguments.source,
        full=arguments.full,
        progress=not arguments.no_progress,
        workers=arguments.workers or default_workers(),
        wait=arguments.wait,
        listing_max_age_days=arguments.listing_max_age_days,
        listing_storage_options={"anon": True} if arguments.listing_anon else None,
    )
    print(report)


def _versions(arguments: argparse.Namespace) -> None:
    from biodata_cache import config, get_cache_versions

    versions = get_cache_versions()
    if not versions:
        settings = config.resolve()
        missing = " (no such folder)" if settings.missing_local_root else ""
        raise BiodataCacheError(
            f"the store {settings.root}{missing} has no published versions; publish one with "
            f"`biodata-cache build --root {settings.root}`."
        )
    print("\n".join(versions))


def _tables(arguments: argparse.Namespace) -> None:
    from biodata_cache import get_cache_registry

    frame = get_cache_registry().to_frame()
    print(frame[["name", "type", "rows", "partitions", "partition_key", "built_at"]].to_string(index=False))


def _show(arguments: argparse.Namespace) -> None:
    import warnings

    import pandas as pd

    from biodata_cache.errors import NoMatchWarning

    columns = [c.strip() for c in arguments.columns.split(",")] if arguments.columns else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NoMatchWarning)
        frame = _show_frame(arguments, columns)
    for warning in caught:
        if issubclass(warning.category, NoMatchWarning):  # a value matched nothing: say so, briefly
            print(f"biodata-cache: warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    total = len(frame)
    if arguments.limit:
        frame = frame.head(arguments.limit)
    if arguments.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif arguments.format == "json":
        print(frame.to_json(orient="records", date_format="iso", indent=1))
    else:
        with pd.option_context("display.max_columns", None, "display.width", 160, "display.max_colwidth", 40):
            print(frame.to_string(index=False))
        print(f"({len(frame)} of {total} rows)")


def _show_frame(arguments: argparse.Namespace, columns: list[str] | None) -> pd.DataFrame:
    """The rows ``show`` prints (before --limit)."""
    import pandas as pd

    import biodata_cache
    from biodata_cache.registry import canonical_table_name
    from biodata_cache.tables import TABLES_BY_NAME

    name = canonical_table_name(arguments.table)
    frame: pd.DataFrame
    if name.startswith("custom_"):
        frame = biodata_cache.custom(name[len("custom_") :])
    elif name not in TABLES_BY_NAME:
        raise BiodataCacheError(f"{name!r} is not a table; valid tables: {', '.join(TABLES_BY_NAME)}.")
    elif name == "qc":
        frame = biodata_cache.qc(arguments.subject_id, columns=columns)
    elif name == "asset_basics":
        frame = biodata_cache.asset_basics(subject_id=arguments.subject_id, columns=columns)
    else:
        if arguments.subject_id:
            raise BiodataCacheError(f"--subject-id applies to qc and asset_basics, not {name}.")
        reader = getattr(biodata_cache, name)
        result: Any = reader() if TABLES_BY_NAME[name].kind == "list" else reader(columns=columns)
        frame = (
            pd.DataFrame({TABLES_BY_NAME[name].columns[0].name: result})
            if isinstance(result, list)
            else result
        )
    if columns and name.startswith("custom_"):
        frame = frame[columns]
    return frame


def _catalog(arguments: argparse.Namespace) -> None:
    from biodata_cache import config
    from biodata_cache.catalog import CATALOG_FILE
    from biodata_cache.publish import publish_catalogs
    from biodata_cache.store import Store

    settings = config.resolve()
    store = Store(settings.root, settings.storage_options, read_only=settings.read_only)
    if arguments.republish:
        try:
            publish_catalogs(store, settings.version)
        except FileNotFoundError:
            raise BiodataCacheError(
                f"{store.url(settings.version)} has no cache_registry.json to generate a catalog from; "
                f"build the version first (`biodata-cache build --root {settings.root}`)."
            ) from None
    try:
        text = store.read_bytes(f"{settings.version}/{CATALOG_FILE}").decode()
    except FileNotFoundError:
        raise BiodataCacheError(
            f"{store.url(settings.version, CATALOG_FILE)} does not exist; build the version first "
            f"(`biodata-cache build`) or pick another with --version."
        ) from None
    print(f"# {store.url(settings.version, CATALOG_FILE)}")
    print(text, end="")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    arguments = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if arguments.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    handler = {"build": _build, "versions": _versions, "tables": _tables, "show": _show, "catalog": _catalog}
    try:
        _configure(arguments)
        handler[arguments.command](arguments)
    except BiodataCacheError as error:
        print(f"biodata-cache: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into a program that stopped reading (`| head`)
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
