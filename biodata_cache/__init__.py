"""biodata-cache: tables of AIND data-asset metadata, read in one line of Python.

>>> from biodata_cache import unique_project_names, asset_basics, qc
>>> names = unique_project_names()                      # doctest: +SKIP
>>> ephys = asset_basics(modality="ecephys")            # doctest: +SKIP
>>> metrics = qc("692478")                              # doctest: +SKIP

Where tables come from is configured at call time (arguments, then ``BIODATA_CACHE_BACKEND``,
``BIODATA_CACHE_ROOT``, ``BIODATA_CACHE_VERSION``, ``BIODATA_CACHE_SOURCE``); importing the package
reads nothing and creates no client.
"""

from biodata_cache._version import __version__
from biodata_cache.errors import (
    BiodataCacheError,
    ConflictError,
    InvalidInputError,
    NoMatchWarning,
    RecordError,
    ReleaseChangedError,
    SourceError,
    StoreAccessError,
    StoreUnavailableError,
    TableNotFoundError,
    VersionNotFoundError,
)
from biodata_cache.readers import (
    asset_basics,
    assets_smartspim,
    custom,
    get_cache_registry,
    get_cache_versions,
    metadata_core,
    open_catalog,
    platform_exaspim,
    platform_exaspim_intermediates,
    platform_fib,
    platform_qc,
    platform_smartspim,
    platform_smartspim_fiber_ccf,
    platform_smartspim_qc_metrics,
    qc,
    qc_raw_assets,
    qc_status,
    qc_status_long,
    qc_tag_status,
    raw_to_derived,
    read_table,
    record_consistency_checks,
    record_consistency_results,
    source_data,
    time_to_qc,
    unique_genotypes,
    unique_project_names,
    unique_subject_ids,
)
from biodata_cache.tables import TABLES

__all__ = [
    "TABLES",
    "BiodataCacheError",
    "ConflictError",
    "InvalidInputError",
    "NoMatchWarning",
    "RecordError",
    "ReleaseChangedError",
    "SourceError",
    "StoreAccessError",
    "StoreUnavailableError",
    "TableNotFoundError",
    "VersionNotFoundError",
    "__version__",
    "asset_basics",
    "assets_smartspim",
    "custom",
    "get_cache_registry",
    "get_cache_versions",
    "metadata_core",
    "open_catalog",
    "platform_exaspim",
    "platform_exaspim_intermediates",
    "platform_fib",
    "platform_qc",
    "platform_smartspim",
    "platform_smartspim_fiber_ccf",
    "platform_smartspim_qc_metrics",
    "qc",
    "qc_raw_assets",
    "qc_status",
    "qc_status_long",
    "qc_tag_status",
    "raw_to_derived",
    "read_table",
    "record_consistency_checks",
    "record_consistency_results",
    "source_data",
    "time_to_qc",
    "unique_genotypes",
    "unique_project_names",
    "unique_subject_ids",
]
