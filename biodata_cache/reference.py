"""Reference pages of the tables, generated from the declarations in :mod:`biodata_cache.tables`.

``builders/regenerate_docs.py`` writes them to ``docs/reference/tables/``; a test fails when the committed
pages differ from what the declarations generate.
"""

from __future__ import annotations

import os

from biodata_cache.tables import TABLES, Table

_READERS = {
    "list": "biodata_cache.{name}()  # -> list of str",
    "frame": "biodata_cache.{name}()  # -> pandas.DataFrame",
}
_EXAMPLES = {
    "asset_basics": 'asset_basics(subject_id="692478", modality="pophys", columns=["name", "created"])',
    "qc": 'qc("692478")  # one partition: one file, whatever the number of subjects',
}


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_table_page(table: Table) -> str:
    """The Markdown reference page of one table."""
    location = f"bdc-v{{X}}/{table.name}" + ("/subject_id=<id>/data.pqt" if table.partitioned else ".pqt")
    lines = [
        f"# `{table.name}`",
        "",
        "<!-- generated from biodata_cache/tables.py by builders/regenerate_docs.py; do not edit -->",
        "",
        table.description,
        "",
        f"- **Kind:** {'list of distinct values' if table.kind == 'list' else 'table (DataFrame)'}",
        f"- **File:** `{location}`",
        f"- **Partitioned by:** `{table.partition_key}`" if table.partitioned else "- **Partitioned:** no",
        (
            f"- **Built from:** distinct values of `{table.derived_from[0]}.{table.derived_from[1]}`"
            if table.derived_from
            else f"- **Built from record fields:** {', '.join(f'`{f}`' for f in table.fields)}"
        ),
        "",
        "## Read it",
        "",
        "```python",
        "import biodata_cache",
        _READERS[table.kind].format(name=table.name),
    ]
    if table.name in _EXAMPLES:
        lines.append("biodata_cache." + _EXAMPLES[table.name])
    lines += [
        "",
        "import intake",
        'cat = intake.open_catalog("s3://allen-data-views/data-asset-cache/catalog.yaml")',
        (
            f'cat.latest.{table.name}({table.partition_key}="692478").read()'
            if table.partitioned
            else f"cat.latest.{table.name}.read()"
        ),
        "```",
        "",
    ]
    if table.partitioned:
        lines += [
            "With DuckDB (keep the partition key a string):",
            "",
            "```sql",
            f"SELECT * FROM read_parquet('<root>/bdc-v0.1/{table.name}/*/*.pqt', hive_partitioning=true,",
            f"                           hive_types={{'{table.partition_key}': VARCHAR}})",
            "```",
            "",
        ]
    lines += ["## Columns", "", "| column | dtype | description |", "| --- | --- | --- |"]
    for column in table.columns:
        lines.append(f"| `{column.name}` | `{column.dtype}` | {_escape(column.description)} |")
    return "\n".join(lines) + "\n"


def render_index() -> str:
    """The Markdown index of the table reference pages."""
    lines = [
        "# Tables",
        "",
        "<!-- generated from biodata_cache/tables.py by builders/regenerate_docs.py; do not edit -->",
        "",
        "| table | kind | partitioned by | description |",
        "| --- | --- | --- | --- |",
    ]
    for table in TABLES:
        lines.append(
            f"| [`{table.name}`]({table.name}.md) | {table.kind} | {table.partition_key or ''} | "
            f"{_escape(table.description)} |"
        )
    return "\n".join(lines) + "\n"


API_FUNCTIONS = (
    "biodata_cache.unique_project_names",
    "biodata_cache.unique_subject_ids",
    "biodata_cache.unique_genotypes",
    "biodata_cache.asset_basics",
    "biodata_cache.source_data",
    "biodata_cache.qc",
    "biodata_cache.qc_status",
    "biodata_cache.metadata_core",
    "biodata_cache.time_to_qc",
    "biodata_cache.raw_to_derived",
    "biodata_cache.custom",
    "biodata_cache.read_table",
    "biodata_cache.get_cache_registry",
    "biodata_cache.get_cache_versions",
    "biodata_cache.open_catalog",
    "biodata_cache.sync.update_all_tables",
    "biodata_cache.sources.open_source",
)


def render_api() -> str:
    """The Markdown API reference: signature and docstring of every public function."""
    import importlib
    import inspect

    lines = [
        "# API",
        "",
        "<!-- generated from the docstrings by builders/regenerate_docs.py; do not edit -->",
        "",
        "Errors: `BiodataCacheError` and its subclasses `InvalidInputError`, `TableNotFoundError`,",
        "`VersionNotFoundError`, `StoreAccessError`, `StoreUnavailableError`, `SourceError` (and its",
        "`RecordError`: one record that cannot be read, which a build skips and counts), `ConflictError`",
        "(all importable from `biodata_cache`). Warning: `NoMatchWarning` (a `UserWarning`), given when a",
        "filter value does not occur in the table at all; see the how-to page on empty results.",
        "",
    ]
    for dotted in API_FUNCTIONS:
        module_name, name = dotted.rsplit(".", 1)
        function = getattr(importlib.import_module(module_name), name)
        signature = str(inspect.signature(function)).replace("'", "")
        lines += [f"## `{dotted}`", "", "```python", f"{name}{signature}", "```", "", "```text"]
        lines += [inspect.cleandoc(function.__doc__ or "").rstrip(), "```", ""]
    return "\n".join(lines)


def write_reference(folder: str | os.PathLike[str]) -> list[str]:
    """Write the index and one page per table into ``folder``; return the paths written."""
    os.makedirs(folder, exist_ok=True)
    pages = {"index.md": render_index()} | {f"{t.name}.md": render_table_page(t) for t in TABLES}
    written = []
    for name, text in pages.items():
        path = os.path.join(os.fspath(folder), name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(path)
    return written
