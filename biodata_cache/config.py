"""Configuration, resolved at call time in one place.

Order of precedence: function argument, then environment variable, then default. Nothing here runs at
import time; :func:`resolve` reads the environment each time it is called.

========================  ===========================================================  =====================
variable                  meaning                                                      default
========================  ===========================================================  =====================
``BIODATA_CACHE_BACKEND`` ``S3`` (production root), ``MEMORY`` (in-process), ``LOCAL``  ``MEMORY``, or
                          (a folder), ``CODEOCEAN`` (a published store attached to a   inferred from the root
                          Code Ocean capsule, read-only); any case
``BIODATA_CACHE_ROOT``    any fsspec URL used as the store root                        per backend
``BIODATA_CACHE_VERSION`` version folder to read, ``0.1`` or ``bdc-v0.1``              installed major.minor
``BIODATA_CACHE_SOURCE``  ``docdb``, ``sample`` or a path/URL of records               ``docdb``
========================  ===========================================================  =====================
"""

from __future__ import annotations

import difflib
import functools
import inspect
import os
import re
from dataclasses import dataclass, field
from typing import Any

from biodata_cache._version import __version__
from biodata_cache.errors import InvalidInputError

BACKENDS = ("S3", "MEMORY", "LOCAL", "CODEOCEAN")
PRODUCTION_ROOT = "s3://allen-data-views/data-asset-cache"
MEMORY_ROOT = "memory://biodata-cache"
#: Where a Code Ocean capsule mounts its attached data assets (biodata-cache 0.42's ``DATA_ROOT``): the
#: default root of the ``CODEOCEAN`` backend.
CODEOCEAN_ROOT = "/data"
#: The folder of the production bucket that holds the store (``s3://allen-data-views/data-asset-cache``):
#: a data asset made from that prefix holds it too.
STORE_FOLDER = "data-asset-cache"
#: Why nothing is ever written to the ``CODEOCEAN`` backend's root.
CODEOCEAN_READ_ONLY = (
    "the CODEOCEAN backend reads a published store attached to the capsule as a data asset ({root}), which "
    "is read-only: nothing is built or written there. To build tables, pass a writable root, e.g. "
    "update_all_tables(root='/results/biodata-cache') or `biodata-cache --backend LOCAL --root "
    "/results/biodata-cache build`; to read the published tables use BIODATA_CACHE_BACKEND=S3; to build "
    "tables from the metadata of the attached assets use BIODATA_CACHE_BACKEND=MEMORY with "
    "BIODATA_CACHE_SOURCE=/data"
)
VERSION_PREFIX = "bdc-v"
#: ``MAJOR.MINOR``, optionally ``.PATCH`` and a PEP 440 pre/post/dev/local suffix, with an optional
#: ``v`` or ``bdc-v`` prefix. ASCII digits only (``\d`` would also take e.g. Arabic-Indic digits).
_VERSION_PATTERN = re.compile(
    r"^(?:bdc-v|v)?([0-9]+)\.([0-9]+)(?:\.[0-9]+)?(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?"
    r"(?:\+[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*)?$"
)
_VERSION_FORMS = (
    "expected 'MAJOR.MINOR' such as '0.1', a package version such as '0.1.3', or a folder name such as "
    "'bdc-v0.1'"
)
LOCAL_PROTOCOLS = ("file", "local")
#: Options every fsspec filesystem takes (instance and listings caches).
_COMMON_OPTIONS = frozenset(
    {"skip_instance_cache", "use_listings_cache", "listings_expiry_time", "max_paths"}
)
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
        ``"0.1"``, ``"v0.1"``, ``"bdc-v0.1"`` or a full package version such as ``"0.1.3"`` or
        ``"0.1.0rc1"`` (surrounding blanks are ignored); ``None`` gives the installed package's
        ``major.minor``. Digits are ASCII; a float (``0.10`` would be ``0.1``) is rejected.

    Returns
    -------
    str
        The folder name, e.g. ``"bdc-v0.1"``.

    Raises
    ------
    InvalidInputError
        For anything else (``"0.1.2.3"``, ``"bdc-v"``, ``"1e3"``, ``"latest"``, an int or a float).
    """
    if version is None:
        version = __version__
    if not isinstance(version, str):
        hint = " (as a float, 0.10 is 0.1)" if isinstance(version, float) else ""
        raise InvalidInputError(
            f"version must be a string such as '0.1' or 'bdc-v0.1', got {type(version).__name__} "
            f"{version!r}{hint}. Pass it quoted: version='0.1'."
        )
    if not version.strip():
        raise InvalidInputError(
            f"version must not be empty, got {version!r}; {_VERSION_FORMS}, or leave it out for the "
            f"installed version."
        )
    match = _VERSION_PATTERN.match(version.strip())
    if not match:
        raise InvalidInputError(f"version {version!r} is not a version: {_VERSION_FORMS}.")
    return f"{VERSION_PREFIX}{int(match.group(1))}.{int(match.group(2))}"


def version_sort_key(folder: str) -> tuple[int, int]:
    """Sort key of a version folder name: ``bdc-v0.10`` sorts after ``bdc-v0.9``."""
    match = _VERSION_PATTERN.match(folder)
    if not match:
        return (-1, -1)
    return (int(match.group(1)), int(match.group(2)))


def infer_backend(root: str) -> str:
    """The backend a root implies: ``memory://`` is ``MEMORY``, a folder ``LOCAL``, other URLs ``S3``."""
    if root.startswith("memory://"):
        return "MEMORY"
    if "://" not in root or root.startswith(("file://", "local://")):
        return "LOCAL"
    return "S3"


def _is_store(folder: str) -> bool:
    """Whether a local folder is a store root: it has ``cache_versions.json`` or a version's registry."""
    if os.path.isfile(os.path.join(folder, "cache_versions.json")):
        return True
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return any(
        name.startswith(VERSION_PREFIX) and os.path.isfile(os.path.join(folder, name, "cache_registry.json"))
        for name in names
    )


def codeocean_store_root(root: str, origin: str) -> str:
    """The published store inside a folder where Code Ocean mounts data assets.

    The store root (the folder holding ``cache_versions.json`` and ``bdc-v*/``) is, first found: the folder
    itself, its ``data-asset-cache/`` (a data asset made from the production bucket's prefix), or one of
    its sub-folders (an attached asset at ``/data/<asset>/``) or their ``data-asset-cache/``.

    Parameters
    ----------
    root
        A local folder (made absolute), by default :data:`CODEOCEAN_ROOT` (``/data``).
    origin
        How it was given, for error messages.

    Returns
    -------
    str
        The absolute folder of the store.

    Raises
    ------
    InvalidInputError
        If the folder does not exist, holds no store, or holds more than one in its sub-folders (the
        message lists them and says to set ``BIODATA_CACHE_ROOT`` to one).
    """
    if not os.path.isdir(root):
        raise InvalidInputError(
            f"{origin}: {root} does not exist. The CODEOCEAN backend reads a published biodata-cache store "
            f"attached to a Code Ocean capsule as a data asset (mounted under {CODEOCEAN_ROOT}); attach it, "
            f"or set BIODATA_CACHE_ROOT to the folder that holds it."
        )
    for candidate in (root, os.path.join(root, STORE_FOLDER)):
        if _is_store(candidate):
            return candidate
    mounts = sorted(
        os.path.join(root, name) for name in os.listdir(root) if os.path.isdir(os.path.join(root, name))
    )
    found = [
        candidate
        for mount in mounts
        for candidate in (mount, os.path.join(mount, STORE_FOLDER))
        if _is_store(candidate)
    ]
    if len(found) == 1:
        return found[0]
    if found:
        raise InvalidInputError(
            f"{origin}: {root} holds more than one biodata-cache store ({', '.join(found)}); set "
            f"BIODATA_CACHE_ROOT to the one to read."
        )
    held = ", ".join(os.path.basename(mount) for mount in mounts[:10]) or "nothing"
    raise InvalidInputError(
        f"{origin}: no biodata-cache store in {root} (it holds {held}): a store is a folder with "
        f"cache_versions.json and bdc-v*/ folders, here or in {STORE_FOLDER}/ or one sub-folder. Attach "
        f"the data asset of a published store, or set BIODATA_CACHE_ROOT to its folder. (To build tables "
        f"from the metadata of attached assets instead, use BIODATA_CACHE_BACKEND=MEMORY with "
        f"BIODATA_CACHE_SOURCE={root}.)"
    )


def local_path(root: str) -> str | None:
    """The folder of a local root (a path, ``file://`` or ``local://`` URL); None for other URLs."""
    if "://" not in root:
        return root
    protocol, rest = root.split("://", 1)
    return rest if protocol in LOCAL_PROTOCOLS else None


@dataclass(frozen=True)
class Settings:
    """Resolved configuration of one call.

    Attributes
    ----------
    backend
        ``S3``, ``MEMORY``, ``LOCAL`` or ``CODEOCEAN``.
    root
        fsspec URL of the store root (a local folder as an absolute path).
    version
        Version folder name, e.g. ``bdc-v0.1``.
    source
        Source specification: ``docdb``, ``sample`` or a path/URL.
    storage_options
        Options for the fsspec filesystem of the root. The repr shows them with credentials redacted
        (see :func:`redacted`); the attribute holds the real values.
    explicit_root
        Whether the root was given (argument or ``BIODATA_CACHE_ROOT``) rather than the backend's default.
    """

    backend: str
    root: str
    version: str
    source: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    explicit_root: bool = False

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

        Only the private backends do, and only for the installed version (this package's builders produce
        that version's tables, not another's): ``MEMORY``, the default ``LOCAL`` cache folder, and a
        ``LOCAL`` root the user named that already exists. A named folder that does not exist is never
        created by a read (a typo in ``--root`` must not start a build: build there with
        ``biodata-cache build --root ...``). A shared store (``S3``, HTTPS, any other URL) never gets
        written behind the user's back.
        """
        if self.version != version_folder(None) or self.backend not in ("MEMORY", "LOCAL"):
            return False
        return self.backend == "MEMORY" or not self.missing_local_root

    @property
    def read_only(self) -> str | None:
        """Why nothing may be written to the root (``CODEOCEAN``: an attached data asset), else None."""
        return CODEOCEAN_READ_ONLY.format(root=self.root) if self.backend == "CODEOCEAN" else None

    @property
    def missing_local_root(self) -> bool:
        """Whether the root is a local folder the user named (not the default one) that does not exist."""
        folder = local_path(self.root)
        return self.explicit_root and folder is not None and not os.path.isdir(folder)


def _given(value: Any, argument: str, variable: str) -> tuple[str | None, str]:
    """The argument if given, else the environment variable (empty: unset); and where it came from."""
    if value is not None:
        if not isinstance(value, str):
            raise InvalidInputError(f"{argument} must be a string, got {type(value).__name__} {value!r}.")
        if not value.strip():
            raise InvalidInputError(
                f"{argument} must not be empty, got {value!r}; pass a value, or leave it out (None) to use "
                f"{variable} or the default."
            )
        return value, f"{argument}={value!r}"
    found = os.environ.get(variable)
    return (found or None), f"{variable}={found!r}"


def source_spec(source: str | None = None) -> str:
    """The source specification: the argument, else ``BIODATA_CACHE_SOURCE``, else ``docdb``.

    Raises
    ------
    InvalidInputError
        If ``source`` is not a string or is empty.
    """
    spec, origin = _given(source, "source", "BIODATA_CACHE_SOURCE")
    if spec is not None and not spec.strip():
        raise InvalidInputError(f"{origin} is blank: set it to 'docdb', 'sample' or a path/URL of records.")
    return spec or "docdb"


def backend_name(value: Any, origin: str = "backend") -> str:
    """The canonical name of a backend: surrounding blanks ignored, any case (``" s3 "`` -> ``"S3"``).

    Parameters
    ----------
    value
        A backend name as given (argument, ``BIODATA_CACHE_BACKEND``, ``--backend``).
    origin
        How the value was given, for the error message (e.g. ``"BIODATA_CACHE_BACKEND='s4'"``).

    Returns
    -------
    str
        One of :data:`BACKENDS`.

    Raises
    ------
    InvalidInputError
        If ``value`` is not a string or names no backend; the message lists the valid names.
    """
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{origin} must be a string naming a backend ({', '.join(BACKENDS)}), got "
            f"{type(value).__name__} {value!r}."
        )
    chosen = value.strip().upper()
    if chosen not in BACKENDS:
        raise InvalidInputError(
            f"{origin} is not a backend; choose one of {', '.join(BACKENDS)} (any case) "
            f"(or set BIODATA_CACHE_ROOT to any fsspec URL)."
        )
    return chosen


def _check_root(root: str, origin: str) -> str:
    """A root as the store uses it, or InvalidInputError naming what is wrong and the fix."""
    examples = "e.g. s3://bucket/prefix, https://mirror/prefix, memory://biodata-cache or a folder"
    if not root.strip() or root != root.strip():
        raise InvalidInputError(
            f"{origin} is not a store root: it is blank or has blanks around it. Give the folder or URL "
            f"itself ({examples})."
        )
    if "://" not in root:
        folder = os.path.abspath(os.path.expanduser(root))
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise InvalidInputError(
                f"{origin}: {folder} is a file, expected a folder (a store root holds cache_versions.json "
                f"and bdc-v* folders). Pass the folder that holds it."
            )
        return folder.rstrip("/") or "/"
    protocol, rest = root.split("://", 1)
    if not rest.strip("/"):
        raise InvalidInputError(f"{origin} has nothing after {protocol}://: name the store ({examples}).")
    if protocol in LOCAL_PROTOCOLS:
        folder = rest
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise InvalidInputError(f"{origin}: {folder} is a file, expected a folder. Pass the folder.")
    elif protocol in ("s3", "s3a"):  # s3fs is a dependency: not imported here (a read may not need it)
        if not rest.split("/", 1)[0]:
            raise InvalidInputError(f"{origin} names no bucket: expected s3://BUCKET/prefix.")
    else:
        _filesystem_class(protocol, origin)
    return root.rstrip("/")


@functools.lru_cache(maxsize=32)
def _filesystem(protocol: str) -> tuple[type | None, str]:
    import fsspec

    if protocol not in fsspec.available_protocols():
        return None, "unknown"
    try:
        return fsspec.get_filesystem_class(protocol), ""
    except (ImportError, ValueError) as error:
        return None, str(error)


def _filesystem_class(protocol: str, origin: str) -> type:
    cls, problem = _filesystem(protocol)
    if cls is None and problem == "unknown":
        raise InvalidInputError(
            f"{origin}: {protocol}:// is not a protocol fsspec knows. Use s3://, https:// (a read-only "
            f"mirror), memory://, a local folder, or another fsspec URL."
        )
    if cls is None:
        raise InvalidInputError(
            f"{origin}: {protocol}:// stores need a package that is not installed: {problem}"
        )
    return cls


#: Options of s3fs's ``S3FileSystem`` checked without importing s3fs (a read of a public bucket does not).
_S3_KNOWN_OPTIONS = frozenset(
    {"anon", "key", "secret", "token", "endpoint_url", "client_kwargs", "config_kwargs"}
)


@functools.lru_cache(maxsize=32)
def _filesystem_options(cls: type) -> frozenset[str]:
    """Option names a filesystem class takes: its (and its bases') named ``__init__`` parameters."""
    names = set(_COMMON_OPTIONS)
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for parameter in inspect.signature(init).parameters.values():
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
                names.add(parameter.name)
    names.discard("self")
    if "http" in (cls.protocol if isinstance(cls.protocol, (tuple, list)) else (cls.protocol,)):
        try:  # HTTPFileSystem passes its other options to each aiohttp request (headers, auth, ...)
            import aiohttp

            names |= set(inspect.signature(aiohttp.ClientSession._request).parameters) - {"self"}
        except (ImportError, TypeError, ValueError):  # pragma: no cover
            pass
    return frozenset(names)


def check_storage_options(root: str, options: Any) -> dict[str, Any]:
    """Validate fsspec ``storage_options`` for a store root and return a copy.

    Parameters
    ----------
    root
        The store root the options are for (its protocol decides which options exist).
    options
        ``None`` or a dict of option names (str) to values.

    Returns
    -------
    dict

    Raises
    ------
    InvalidInputError
        If ``options`` is not a dict, a name is not an option of the root's filesystem (the message
        suggests the closest names), ``anon`` is not a bool, or credentials are incomplete (a ``key``
        without its ``secret`` or the reverse, a ``token`` without a ``key``).
    """
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise InvalidInputError(
            f"storage_options must be a dict of fsspec options such as {{'anon': True}}, got "
            f"{type(options).__name__} {options!r:.100}."
        )
    if not options:
        return {}
    names = [name for name in options if not isinstance(name, str)]
    if names:
        raise InvalidInputError(f"storage_options names must be strings, got {names!r:.100}.")
    protocol = root.split("://", 1)[0] if "://" in root else "file"
    what = "local folder" if protocol in LOCAL_PROTOCOLS else f"{protocol}://"
    if protocol in ("s3", "s3a") and set(options) <= _S3_KNOWN_OPTIONS:
        allowed = _S3_KNOWN_OPTIONS  # options of s3fs: no need to import it to know
    else:
        allowed = _filesystem_options(_filesystem_class(protocol, f"root {root!r}"))
    unknown = sorted(set(options) - allowed)
    if unknown:
        hints = []
        for name in unknown:
            prefixes = sorted((a for a in allowed if name.startswith(a) or a.startswith(name)), key=len)
            close = prefixes[:1] or difflib.get_close_matches(name, allowed, n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        listed = ", ".join(sorted(n for n in allowed if n not in _COMMON_OPTIONS and n not in ("loop",)))
        raise InvalidInputError(
            f"storage_options {', '.join(hints)} {'is' if len(unknown) == 1 else 'are'} not "
            f"{'an option' if len(unknown) == 1 else 'options'} of {what} stores ({root}); their options: "
            f"{listed[:600]}."
        )
    if protocol in ("s3", "s3a"):
        if "anon" in options and not isinstance(options["anon"], bool):
            raise InvalidInputError(f"storage_options 'anon' must be True or False, got {options['anon']!r}.")
        given = {name for name in ("key", "secret", "token") if options.get(name) is not None}
        for name in given:
            if not isinstance(options[name], str):
                raise InvalidInputError(
                    f"storage_options {name!r} must be a string, got {type(options[name]).__name__}."
                )
        if (given and "key" not in given) or ("key" in given and "secret" not in given):
            raise InvalidInputError(
                f"storage_options has {' and '.join(sorted(given))} but not "
                f"{'secret' if 'key' in given else 'key'}: AWS credentials need an access key ('key') and "
                f"its secret ('secret'), plus 'token' for temporary ones. Give both, or neither to use "
                f"AWS_PROFILE / AWS_ACCESS_KEY_ID, or {{'anon': True}} to read a public bucket."
            )
    return dict(options)


def resolve(
    *,
    backend: str | None = None,
    root: str | None = None,
    version: str | None = None,
    source: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Settings:
    """Resolve the configuration: argument, then environment variable, then default.

    An argument must be a non-empty string (``None``: not given); an empty environment variable counts
    as unset. A local folder root is made absolute (``~`` expanded).

    Parameters
    ----------
    backend, root, version, source
        Override ``BIODATA_CACHE_BACKEND``, ``BIODATA_CACHE_ROOT``, ``BIODATA_CACHE_VERSION`` and
        ``BIODATA_CACHE_SOURCE``.
    storage_options
        fsspec options for the store root (e.g. ``{"anon": True}``), checked against the options the
        root's filesystem takes (see :func:`check_storage_options`).

    Returns
    -------
    Settings

    Raises
    ------
    InvalidInputError
        For a value that is not a string, an empty argument, an unknown backend, a ``CODEOCEAN`` root that
        holds no published store (see :func:`codeocean_store_root`), a root that is blank,
        names no bucket or path, uses a protocol fsspec does not know or is a file, a version that is not
        a version (see :func:`version_folder`), or bad ``storage_options``.
    """
    given_root, root_origin = _given(root, "root", "BIODATA_CACHE_ROOT")
    given_backend, backend_origin = _given(backend, "backend", "BIODATA_CACHE_BACKEND")
    if given_root is not None:
        given_root = _check_root(given_root, root_origin)
    if given_backend is None:
        chosen = infer_backend(given_root) if given_root else "MEMORY"
    else:
        chosen = backend_name(given_backend, backend_origin)
    if chosen == "CODEOCEAN":
        folder = local_path(given_root or CODEOCEAN_ROOT)
        if folder is None:
            raise InvalidInputError(
                f"{root_origin}: the CODEOCEAN backend reads a folder attached to the capsule, not a URL. "
                f"Set BIODATA_CACHE_BACKEND=S3 (or leave it unset) to read {given_root}."
            )
        final_root = codeocean_store_root(
            folder, root_origin if given_root else f"{backend_origin} (default root {CODEOCEAN_ROOT})"
        )
    else:
        final_root = (
            given_root
            or {"S3": PRODUCTION_ROOT, "MEMORY": MEMORY_ROOT, "LOCAL": default_local_root()}[chosen]
        )
    given_version, version_origin = _given(version, "version", "BIODATA_CACHE_VERSION")
    try:
        folder = version_folder(given_version)
    except InvalidInputError as error:
        raise InvalidInputError(f"{version_origin}: {error}") from None
    return Settings(
        backend=chosen,
        root=final_root,
        version=folder,
        source=source_spec(source),
        storage_options=check_storage_options(final_root, storage_options),
        explicit_root=given_root is not None and given_root != default_local_root(),
    )


#: The value of a listing's variable that turns the listing off.
NO_LISTING = "none"


def listing_location(variable: str, default: str, *, docdb: bool) -> str | None:
    """Where a listing of top-level folders is taken (see :class:`biodata_cache.tables.Listing`).

    Order: the environment variable ``variable`` (any fsspec URL; ``none``, in any case, turns the
    listing off), else ``default`` when the build reads DocDB (``docdb``: the production records describe
    the default location), else ``None``: the sample and files of records describe no bucket.

    Raises
    ------
    InvalidInputError
        If the variable is set to a value that names no location (blank after stripping is unset).
    """
    found = (os.environ.get(variable) or "").strip()
    if found.lower() == NO_LISTING:
        return None
    if found:
        return _check_root(found, f"{variable}={found!r}")
    return default if docdb else None
