"""Configuration, resolved at call time in one place.

Order of precedence: function argument, then environment variable, then default. Nothing here runs at
import time; :func:`resolve` reads the environment each time it is called.

========================  ===========================================================  =====================
variable                  meaning                                                      default
========================  ===========================================================  =====================
``BIODATA_CACHE_BACKEND`` ``S3`` (production root), ``MEMORY`` (in-process), ``LOCAL``  ``MEMORY``, or
                          (a folder)                                                   inferred from the root
``BIODATA_CACHE_ROOT``    any fsspec URL used as the store root                        per backend
``BIODATA_CACHE_VERSION`` version folder to read, ``0.1`` or ``bdc-v0.1``              installed major.minor
``BIODATA_CACHE_SOURCE``  ``docdb``, ``sample`` or a path/URL of records               ``docdb``
========================  ===========================================================  =====================
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from biodata_cache._version import __version__
from biodata_cache.errors import InvalidInputError

BACKENDS = ("S3", "MEMORY", "LOCAL")
PRODUCTION_ROOT = "s3://allen-data-views/data-asset-cache"
MEMORY_ROOT = "memory://biodata-cache"
VERSION_PREFIX = "bdc-v"
_VERSION_PATTERN = re.compile(r"^(?:bdc-v|v)?(\d+)\.(\d+)(?:\.\d+.*)?$")
REDACTED = "<redacted>"
# Option names that hold credentials: key/secret/token (s3fs), aws_*_key*, password, Authorization headers,
# cookies, SAS tokens, connection strings, private keys, ... matched anywhere in the lowercased name.
_SECRET_NAME = re.compile(r"secret|token|key|passw|pwd|credential|auth|cookie|signature|connection_string")
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


def default_local_root() -> str:
    """Return the default folder of the ``LOCAL`` backend (``$XDG_CACHE_HOME/biodata-cache``)."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache_home, "biodata-cache")


def redacted(value: Any) -> Any:
    """A copy of ``value`` safe to display: credentials replaced by ``"<redacted>"``.

    The one redaction helper of the package, used by every repr, ``yaml()``, ``describe()``, HTML view and
    log line that could show ``storage_options``. Mappings are walked at any depth (``client_kwargs``,
    ``config_kwargs``, ``headers``, lists of them): the value of every key whose name looks like a
    credential (``key``, ``secret``, ``token``, ``password``, ``Authorization``, ...) is replaced, and
    so is the user-info part of any URL (``https://user:pass@host`` -> ``https://<redacted>@host``).
    The original is never modified: the real values still reach fsspec.

    Parameters
    ----------
    value
        ``storage_options`` (a dict), a URL, or any value holding them.

    Returns
    -------
    Any
        The same shape, with credentials replaced.
    """
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(key, str) and item is not None and _SECRET_NAME.search(key.lower())
            else redacted(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(redacted(item) for item in value)
    if isinstance(value, str):
        return _URL_USERINFO.sub(lambda match: f"{match.group('scheme')}{REDACTED}@", value)
    return value


def version_folder(version: str | None = None) -> str:
    """Normalise a version to its folder name.

    Parameters
    ----------
    version
        ``"0.1"``, ``"v0.1"``, ``"bdc-v0.1"`` or a full package version such as ``"0.1.3"``;
        ``None`` gives the installed package's ``major.minor``.

    Returns
    -------
    str
        The folder name, e.g. ``"bdc-v0.1"``.
    """
    if version is None:
        version = __version__
    if not isinstance(version, str):
        raise InvalidInputError(
            f"version must be a string such as '0.1' or 'bdc-v0.1', got {type(version).__name__} {version!r}."
        )
    match = _VERSION_PATTERN.match(version.strip())
    if not match:
        raise InvalidInputError(
            f"version {version!r} is not a version: expected 'MAJOR.MINOR' such as '0.1', or a "
            f"folder name such as 'bdc-v0.1'."
        )
    return f"{VERSION_PREFIX}{int(match.group(1))}.{int(match.group(2))}"


def version_sort_key(folder: str) -> tuple[int, int]:
    """Sort key of a version folder name: ``bdc-v0.10`` sorts after ``bdc-v0.9``."""
    match = _VERSION_PATTERN.match(folder)
    if not match:
        return (-1, -1)
    return (int(match.group(1)), int(match.group(2)))


def _infer_backend(root: str) -> str:
    if root.startswith("memory://"):
        return "MEMORY"
    if "://" not in root or root.startswith(("file://", "local://")):
        return "LOCAL"
    return "S3"


@dataclass(frozen=True)
class Settings:
    """Resolved configuration of one call.

    Attributes
    ----------
    backend
        ``S3``, ``MEMORY`` or ``LOCAL``.
    root
        fsspec URL of the store root.
    version
        Version folder name, e.g. ``bdc-v0.1``.
    source
        Source specification: ``docdb``, ``sample`` or a path/URL.
    storage_options
        Options for the fsspec filesystem of the root. The repr shows them with credentials redacted
        (see :func:`redacted`); the attribute holds the real values.
    """

    backend: str
    root: str
    version: str
    source: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        fields = {
            "backend": self.backend,
            "root": redacted(self.root),
            "version": self.version,
            "source": redacted(self.source),
            "storage_options": redacted(self.storage_options),
        }
        return f"Settings({', '.join(f'{name}={value!r}' for name, value in fields.items())})"

    @property
    def builds_on_read(self) -> bool:
        """Whether a table missing from the store is built from the source when first read.

        Only the private backends (``MEMORY`` and ``LOCAL``) do, and only for the installed version
        (this package's builders produce that version's tables, not another's); a shared store (``S3``,
        HTTPS, any other URL) never gets written behind the user's back.
        """
        return self.backend in ("MEMORY", "LOCAL") and self.version == version_folder(None)


def resolve(
    *,
    backend: str | None = None,
    root: str | None = None,
    version: str | None = None,
    source: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Settings:
    """Resolve the configuration: argument, then environment variable, then default.

    Parameters
    ----------
    backend, root, version, source
        Override ``BIODATA_CACHE_BACKEND``, ``BIODATA_CACHE_ROOT``, ``BIODATA_CACHE_VERSION`` and
        ``BIODATA_CACHE_SOURCE``.
    storage_options
        fsspec options for the store root (e.g. ``{"anon": True}``).

    Returns
    -------
    Settings
    """
    env = os.environ
    root = root or env.get("BIODATA_CACHE_ROOT") or None
    backend = backend or env.get("BIODATA_CACHE_BACKEND") or None
    if backend is None:
        backend = _infer_backend(root) if root else "MEMORY"
    backend = backend.upper()
    if backend not in BACKENDS:
        raise InvalidInputError(
            f"BIODATA_CACHE_BACKEND={backend!r} is not a backend; choose one of {', '.join(BACKENDS)} "
            f"(or set BIODATA_CACHE_ROOT to any fsspec URL)."
        )
    if root is None:
        root = {"S3": PRODUCTION_ROOT, "MEMORY": MEMORY_ROOT, "LOCAL": default_local_root()}[backend]
    if storage_options is not None and not isinstance(storage_options, dict):
        raise InvalidInputError(
            f"storage_options must be a dict of fsspec options, got {type(storage_options).__name__}."
        )
    return Settings(
        backend=backend,
        root=root.rstrip("/") if root not in ("/",) else root,
        version=version_folder(version or env.get("BIODATA_CACHE_VERSION") or None),
        source=source or env.get("BIODATA_CACHE_SOURCE") or "docdb",
        storage_options=dict(storage_options or {}),
    )
