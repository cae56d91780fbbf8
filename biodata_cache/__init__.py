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
    custom,
    get_cache_registry,
    get_cache_versions,
    metadata_core,
    metadata_upgrade,
    open_catalog,
    qc,
    qc_raw_assets,
    qc_status,
    qc_status_long,
    raw_to_derived,
    read_table,
    source_data,
    swdb_2025_bci,
    swdb_2025_v1dd,
    swdb_2026_bci,
    swdb_2026_dynamic_routing,
    swdb_2026_neuropixels_opto,
    swdb_2026_v1dd,
    swdb_2026_visual_coding_neuropixels,
    swdb_2026_visual_coding_ophys,
    swdb_2026_visual_learning,
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
    "custom",
    "get_cache_registry",
    "get_cache_versions",
    "metadata_core",
    "metadata_upgrade",
    "open_catalog",
    "qc",
    "qc_raw_assets",
    "qc_status",
    "qc_status_long",
    "raw_to_derived",
    "read_table",
    "source_data",
    "swdb_2025_bci",
    "swdb_2025_v1dd",
    "swdb_2026_bci",
    "swdb_2026_dynamic_routing",
    "swdb_2026_neuropixels_opto",
    "swdb_2026_v1dd",
    "swdb_2026_visual_coding_neuropixels",
    "swdb_2026_visual_coding_ophys",
    "swdb_2026_visual_learning",
    "time_to_qc",
    "unique_genotypes",
    "unique_project_names",
    "unique_subject_ids",
]
