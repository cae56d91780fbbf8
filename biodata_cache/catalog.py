"""Intake catalogs generated from the registry (or, for ``catalogs/``, from the table declarations).

Two files per store, both legacy Intake v1 YAML (``metadata:`` + ``sources:``), which intake 2.x and 0.7
both read:

* ``bdc-v{X}/catalog.yaml``: one entry per table, driver ``biodata_parquet``, every urlpath relative to
  ``{{ CATALOG_DIR }}`` so ``storage_options`` reach the entries and a copied folder keeps working. The
  partitioned ``qc`` entry takes a ``subject_id`` parameter and opens only that partition. Each name
  biodata-cache 0.42 gave a table that is published here under another name
  (:data:`~biodata_cache.registry.TABLE_ALIASES`: ``quality_control``) is one more entry reading the same
  files as that table, so ``cat.quality_control.read()`` works as in 0.42; it is not another table (the
  registry and the docs list ``qc`` once).
* ``catalog.yaml`` at the root: one nested catalog per version plus ``latest``.

Catalog metadata says ``release``, never ``version`` (a ``version`` above 1 makes intake 2.0.9 parse the
file as its v2 format).

User text is never templated. When an entry is opened, intake 2.0.8 (``LocalCatalogEntry._create_open_args``
-> ``merge_pars`` -> ``expand_templates``) renders every string of the entry's ``args`` and ``metadata``,
at any depth, with jinja2 and its ``env()`` and ``shell()`` functions: a custom column named
``{{ env('AWS_SECRET_ACCESS_KEY') }}`` would become the variable's value. It does not render entry names,
descriptions, parameter descriptions or the catalog's own metadata. So every string of an entry's
``metadata`` (column names and descriptions, source, ...) goes through :func:`to_catalog_text`, which
leaves ordinary text as it is and rewrites text jinja would change into a template that renders back to
exactly the original; :func:`from_catalog_text` undoes it where the YAML is read without intake (our
reader, ``describe()``, the HTML views). Descriptions stay as written. The registry JSON keeps the
original text.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import yaml

from biodata_cache._version import __version__
from biodata_cache.registry import TABLE_ALIASES, CacheTable, Registry

if TYPE_CHECKING:
    from intake.catalog import Catalog

    from biodata_cache.tables import Table

logger = logging.getLogger(__name__)

_JINJA_LITERALS = {"{": "{{ '{' }}", "\r": "{{ '\\r' }}", "\n": "{{ '\\n' }}"}
_JINJA_LITERAL = re.compile(r"\{\{ '(\{|\\r|\\n)' \}\}")
_FROM_JINJA_LITERAL = {"{": "{", "\\r": "\r", "\\n": "\n"}

CATALOG_FILE = "catalog.yaml"
DRIVER = "biodata_parquet"
CATALOG_DRIVER = "biodata_catalog"


def needs_escaping(text: str) -> bool:
    """Whether jinja2 (as intake runs it) would render ``text`` differently from itself.

    True for text holding ``{{``, ``{%`` or ``{#`` (templates, blocks, comments), a carriage return
    (jinja normalises newlines) or a trailing newline (jinja drops it).
    """
    return "{{" in text or "{%" in text or "{#" in text or "\r" in text or text.endswith("\n")


def to_catalog_text(value: Any) -> Any:
    """User text as written into a catalog entry's metadata: intake's jinja2 renders it back exactly.

    Strings that :func:`needs_escaping` get each ``{`` written as ``{{ '{' }}``, each carriage return as
    ``{{ '\\r' }}`` and a trailing newline as ``{{ '\\n' }}``: jinja2 outputs those literally and nothing
    in the text can start a template, block or comment. Other strings are unchanged. Dicts and lists are
    walked (values, not keys).

    Parameters
    ----------
    value
        A string, or a dict / list holding strings.

    Returns
    -------
    Any
        The same shape, escaped where needed.
    """
    if isinstance(value, dict):
        return {key: to_catalog_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_catalog_text(item) for item in value]
    if not isinstance(value, str) or not needs_escaping(value):
        return value
    text = value.replace("{", _JINJA_LITERALS["{"]).replace("\r", _JINJA_LITERALS["\r"])
    if text.endswith("\n"):
        text = text[:-1] + _JINJA_LITERALS["\n"]
    return text


def from_catalog_text(value: Any) -> Any:
    """The original user text of catalog entry metadata written by :func:`to_catalog_text`.

    What intake's rendering gives, without running jinja2 (for readers that parse the YAML themselves
    and for ``describe()`` / HTML views, which show the YAML as written). Unescaped text is returned as it
    is: it never holds ``{{``, so it cannot hold an escape sequence.
    """
    if isinstance(value, dict):
        return {key: from_catalog_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_catalog_text(item) for item in value]
    if not isinstance(value, str) or "{{ '" not in value:
        return value
    return _JINJA_LITERAL.sub(lambda match: _FROM_JINJA_LITERAL[match.group(1)], value)


def table_path(table: Table) -> str:
    """Path of a declared table relative to its version folder."""
    return table.name if table.partitioned else f"{table.name}.pqt"


def spec_entry(table: Table) -> CacheTable:
    """A registry entry for a declared table that has not been built (no rows, no build time)."""
    return CacheTable(
        name=table.name,
        description=table.description,
        location="",
        path=table_path(table),
        partitioned=table.partitioned,
        partition_key=table.partition_key,
        kind=table.kind,
        columns=[{"name": c.name, "dtype": c.dtype, "description": c.description} for c in table.columns],
        rows=0,
        built_at="",
        source="",
        partitions=0,
    )


def _entry(table: CacheTable) -> dict[str, Any]:
    metadata: dict[str, Any] = {"type": table.kind}
    if table.built_at:
        metadata.update(rows=table.rows, partitions=table.partitions, built_at=table.built_at)
        metadata["source"] = table.source
    if table.partition_key:
        metadata["partition_key"] = table.partition_key
    metadata["columns"] = [dict(column) for column in table.columns]
    entry: dict[str, Any] = {
        "description": table.description,
        "driver": DRIVER,
        "args": {"urlpath": "{{ CATALOG_DIR }}/" + table.path},
    }
    if table.partition_key:
        key = table.partition_key
        # No default: intake 2.0.9 warns about shell commands for every str default it sees.
        entry["parameters"] = {
            key: {
                "description": f"Read only the partition of this {key} (opens one file); "
                f"empty reads every partition.",
                "type": "str",
            }
        }
        entry["args"]["partition_key"] = key
        entry["args"]["partition_value"] = "{{ " + key + " }}"
    if table.build:  # the release's files: readers open exactly these (see biodata_cache.release)
        entry["args"]["build"] = table.build
        if table.manifest:
            entry["args"]["manifest"] = "{{ CATALOG_DIR }}/" + table.manifest
    entry["metadata"] = to_catalog_text(metadata)  # intake renders metadata with jinja2: never template it
    return entry


def _dump(document: dict[str, Any]) -> str:
    # libyaml's dumper when the wheel has it: about 10x faster; a few characters are escaped differently
    # (e.g. emoji as "\U0001F389"), which every YAML reader reads back as the same text.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(document, Dumper=dumper, sort_keys=False, allow_unicode=True, width=110)


def render_version_catalog(tables: Iterable[CacheTable], *, release: str, built_at: str | None = None) -> str:
    """The YAML text of a version's ``catalog.yaml``.

    Parameters
    ----------
    tables
        Registry entries, in the order the catalog lists them.
    release
        The version folder name (``bdc-v0.1``).
    built_at
        When the version was built (omitted for the catalogs generated from the declarations).
    """
    metadata: dict[str, Any] = {
        "release": release,
        "description": f"biodata-cache {release}: tables of AIND data-asset metadata.",
        "generated_by": f"biodata-cache {'.'.join(__version__.split('.')[:2])}",
    }
    if built_at:
        metadata["built_at"] = built_at
    # Each entry is dumped on its own (the same text as inside the whole document) and remembered by
    # the table's registry JSON: a custom() or a build that changes one table dumps only its entry.
    tables = {t.name: json.dumps(t.to_json()) for t in tables}
    texts = {name: _source_text(name, table, None) for name, table in tables.items()}
    for alias, target in TABLE_ALIASES.items():
        if target in tables and alias not in tables:
            texts[alias] = _source_text(alias, tables[target], target)
    if not texts:
        return _dump({"metadata": metadata, "sources": {}})
    return _dump({"metadata": metadata}) + "sources:\n" + "".join(texts.values())


@functools.lru_cache(maxsize=4096)
def _source_text(name: str, table: str, alias_of: str | None) -> str:
    """The YAML lines of the ``sources`` entry ``name`` of a table (given as its registry JSON), as they
    are in the whole catalog's text; with ``alias_of``, the entry of biodata-cache 0.42's name of it."""
    entry = _entry(CacheTable.from_dict(json.loads(table)))
    if alias_of is not None:
        entry = _alias_entry(alias_of, entry)
    text = _dump({"sources": {name: entry}})
    assert text.startswith("sources:\n")
    return text[len("sources:\n") :]


def _alias_entry(target: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The entry of a :data:`~biodata_cache.registry.TABLE_ALIASES` name of ``target``: the table's own
    entry (same files, parameters and columns) under biodata-cache 0.42's name."""
    alias = copy.deepcopy(entry)
    alias["description"] = (
        f"{target} under its biodata-cache 0.42 name: the same files as the {target!r} entry. "
        f"{entry['description']}"
    )
    alias["metadata"]["alias_of"] = target
    return alias


def render_registry_catalog(registry: Registry) -> str:
    """The YAML text of a version's ``catalog.yaml``, generated from its registry."""
    return render_version_catalog(registry.tables, release=registry.release, built_at=registry.built_at)


def render_top_catalog(versions: list[str]) -> str:
    """The YAML text of the top-level ``catalog.yaml``: one nested catalog per version plus ``latest``.

    Parameters
    ----------
    versions
        Version folder names, sorted oldest to newest.
    """
    sources: dict[str, Any] = {}
    for version in versions:
        sources[version] = {
            "description": f"biodata-cache tables, release {version}.",
            "driver": CATALOG_DRIVER,
            "args": {"path": "{{ CATALOG_DIR }}/" + f"{version}/{CATALOG_FILE}"},
        }
    if versions:
        sources["latest"] = {
            "description": f"The newest release ({versions[-1]}).",
            "driver": CATALOG_DRIVER,
            "args": {"path": "{{ CATALOG_DIR }}/" + f"{versions[-1]}/{CATALOG_FILE}"},
        }
    document = {
        "metadata": {
            "release": versions[-1] if versions else "",
            "description": "biodata-cache: versioned tables of AIND data-asset metadata.",
            "versions": list(versions),
        },
        "sources": sources,
    }
    return _dump(document)


def open_intake_catalog(url: str, storage_options: dict[str, Any] | None = None) -> Catalog:
    """Open a catalog YAML as a :class:`~biodata_cache.intake_driver.BiodataCatalog` (HTML display)."""
    from biodata_cache.intake_driver import BiodataCatalog

    return BiodataCatalog(url, storage_options=storage_options or None)


def write_repository_catalogs(folder: str | os.PathLike[str]) -> list[str]:
    """Write the catalogs generated from the table declarations (the repository's ``catalogs/``).

    ``catalog.yaml`` is the production top-level catalog listing the installed version, and
    ``bdc-v{X}/catalog.yaml`` that version's catalog (no row counts: those come from a build).

    Returns
    -------
    list of str
        The paths written.
    """
    from biodata_cache.config import version_folder
    from biodata_cache.tables import TABLES

    version = version_folder()
    files = {
        CATALOG_FILE: render_top_catalog([version]),
        f"{version}/{CATALOG_FILE}": render_version_catalog([spec_entry(t) for t in TABLES], release=version),
    }
    written = []
    for relative, text in files.items():
        path = os.path.join(os.fspath(folder), relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(path)
    return written
