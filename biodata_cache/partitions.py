"""Names of hive partition folders, and the partition value kept inside each partition file.

A partitioned table (``qc``, key ``subject_id``) is stored one file per value::

    <table>/<key>=<escaped value>/data-<build>.pqt   (data.pqt in releases written before build ids)

The folder name must round-trip every value exactly, never collide, and stay well under the 255-byte
limit of a path segment. The rule:

* The value is UTF-8 percent-escaped: every byte except ASCII letters, digits and ``_ . -`` becomes
  ``%XX`` (so ``/``, ``=``, ``%``, spaces and non-ASCII never appear raw). ``692478`` stays ``692478``;
  ``a/b=c`` becomes ``a%2Fb%3Dc``. DuckDB, Spark and pyarrow decode these escapes.
* A null value (a record without a subject id) is ``__HIVE_DEFAULT_PARTITION__``, which DuckDB and
  pyarrow read as NULL. A value literally spelled ``__HIVE_DEFAULT_PARTITION__`` is written
  ``%5F_HIVE_DEFAULT_PARTITION__`` (its first ``_`` escaped), so the two never share a folder. DuckDB
  reads it back as the literal text; pyarrow's hive partitioning reads it as null.
* An escaped value longer than :data:`MAX_ESCAPED` characters is cut to a readable prefix followed by
  ``~`` and 16 hex digits of the SHA-256 of the value (``~`` is always escaped elsewhere, so such a name
  cannot collide with a short value). Query engines that read folder names see that shortened form;
  biodata-cache's readers return the exact value, which every partition file also keeps in its parquet
  metadata (key :data:`VALUE_METADATA`).
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

PARTITION_FILE = "data.pqt"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
MAX_ESCAPED = 120
PREFIX_LENGTH = 96
HASH_MARK = "~"
VALUE_METADATA = b"biodata_cache.partition"
#: How partition files are written (besides zstd): no dictionary pages and no statistics. Most partitions
#: are a few rows of one subject, where parquet's per-column setup is most of a file's cost: without
#: these, encoding a 10k build's qc partitions takes about 30% less CPU and the files are 29% smaller
#: (statistics of long strings, such as ``metric_json``, were kept twice). Readers fetch a partition file
#: whole and filter it in memory, so nothing reads these statistics (unlike the clustered tables').
PARTITION_WRITE_OPTIONS: dict[str, Any] = {"use_dictionary": False, "write_statistics": False}


def escape_value(value: str | None) -> str:
    """The folder-name form of a partition value (see the module docstring for the rule).

    Parameters
    ----------
    value
        The partition value; ``None`` for a null value.

    Returns
    -------
    str
        The escaped value, at most :data:`MAX_ESCAPED` characters of ASCII.
    """
    if value is None:
        return NULL_PARTITION
    escaped = urllib.parse.quote(value, safe="", errors="surrogatepass").replace("~", "%7E")
    if escaped == NULL_PARTITION:
        escaped = "%5F" + escaped[1:]
    if len(escaped) <= MAX_ESCAPED:
        return escaped
    prefix = escaped[:PREFIX_LENGTH]
    cut = prefix.rfind("%", len(prefix) - 2)
    if cut != -1:  # never split a %XX escape
        prefix = prefix[:cut]
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{prefix}{HASH_MARK}{digest}"


def folder_name(key: str, value: str | None) -> str:
    """The name of a partition folder: ``<key>=<escaped value>``."""
    return f"{key}={escape_value(value)}"


def is_shortened(escaped: str) -> bool:
    """Whether an escaped value was cut to a prefix and a hash (its value is only in the file)."""
    return HASH_MARK in escaped


def value_of_folder(name: str, key: str) -> str | None:
    """The partition value a folder name stands for (``None`` for the null partition).

    For a shortened name (prefix and hash) this is the shortened text: read the exact value from the
    file's metadata with :func:`value_of_file`.

    Raises
    ------
    ValueError
        If ``name`` is not a folder of ``key``.
    """
    if not name.startswith(key + "="):
        raise ValueError(f"{name!r} is not a partition folder of {key!r}")
    escaped = name[len(key) + 1 :]
    if escaped == NULL_PARTITION:
        return None
    return urllib.parse.unquote(escaped, errors="surrogatepass")


def file_metadata(key: str, value: str | None) -> dict[bytes, bytes]:
    """The parquet key-value metadata that records a partition's exact value in its file."""
    return {VALUE_METADATA: json.dumps({"key": key, "value": value}).encode()}


def value_of_file(schema: pa.Schema, key: str) -> tuple[bool, str | None]:
    """The partition value recorded in a partition file's metadata.

    Returns
    -------
    (bool, str or None)
        ``(True, value)`` when the file records a value for ``key``, else ``(False, None)`` (files
        written before the value was recorded).
    """
    metadata = schema.metadata or {}
    raw = metadata.get(VALUE_METADATA)
    if raw is None:
        return False, None
    try:
        recorded = json.loads(raw)
    except ValueError:
        return False, None
    if not isinstance(recorded, dict) or recorded.get("key") != key:
        return False, None
    value = recorded.get("value")
    return True, value if value is None else str(value)
