"""HTML views for Jupyter: catalogs, entries, registries and version lists as tables.

Every value that comes from a store (names, descriptions, column names, custom tables) is escaped, so a
table described as ``<script>`` shows as text. Only the standard library is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

_STYLE = (
    "<style>.bdc-table td,.bdc-table th{text-align:left;vertical-align:top;padding:2px 8px}"
    ".bdc-table details summary{cursor:pointer}.bdc-muted{color:#777}</style>"
)


def _columns_cell(columns: Iterable[Mapping[str, Any]]) -> str:
    columns = list(columns)
    if not columns:
        return ""
    items = "".join(
        f"<li title='{escape(str(c.get('description', '')), quote=True)}'><code>{escape(str(c.get('name')))}"
        f"</code> <span class='bdc-muted'>{escape(str(c.get('dtype', '')))}</span>"
        + (f" &mdash; {escape(str(c['description']))}" if c.get("description") else "")
        + "</li>"
        for c in columns
    )
    return f"<details><summary>{len(columns)} columns</summary><ul>{items}</ul></details>"


def _rows(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else escape(str(value or ""))


def tables_html(title: str, tables: Iterable[Mapping[str, Any]], footer: str = "") -> str:
    """An HTML table of tables.

    Parameters
    ----------
    title
        Caption (escaped).
    tables
        Mappings with ``name``, ``description``, ``rows``, ``columns`` (name, dtype, description),
        ``partition_key``, ``parameters`` (names), ``built_at``.
    footer
        Trusted HTML shown under the table (how to read).
    """
    body = "".join(
        "<tr>"
        f"<td><b>{escape(str(t.get('name', '')))}</b></td>"
        f"<td>{escape(str(t.get('description') or ''))}</td>"
        f"<td style='text-align:right'>{_rows(t.get('rows'))}</td>"
        f"<td>{_columns_cell(t.get('columns') or [])}</td>"
        f"<td>{escape(str(t.get('partition_key') or ''))}</td>"
        f"<td>{escape(', '.join(t.get('parameters') or []))}</td>"
        f"<td>{escape(str(t.get('built_at') or ''))}</td>"
        "</tr>"
        for t in tables
    )
    header = "".join(
        f"<th>{h}</th>"
        for h in ("table", "description", "rows", "columns", "partition key", "parameters", "built at")
    )
    return (
        f"{_STYLE}<table class='bdc-table'><caption style='text-align:left'><b>{escape(title)}</b></caption>"
        f"<thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>{footer}"
    )


def entry_metadata(
    name: str, description: str | None, metadata: Mapping[str, Any], parameters: list[str]
) -> dict:
    """The row of :func:`tables_html` for a catalog entry."""
    return {
        "name": name,
        "description": description,
        "rows": metadata.get("rows"),
        "columns": metadata.get("columns") or [],
        "partition_key": metadata.get("partition_key"),
        "parameters": parameters,
        "built_at": metadata.get("built_at"),
    }


def entry_html(name: str, description: str | None, metadata: Mapping[str, Any], parameters: list[str]) -> str:
    """One catalog entry: its row, its columns spelled out, and how to read it."""
    key = metadata.get("partition_key")
    reads = [
        f"cat.{name}.read()",
        f"cat.{name}.discover()  # shape and dtypes without reading",
        f"cat.{name}.to_dask()",
    ]
    if key:
        reads.insert(0, f'cat.{name}({key}="692478").read()  # one partition: one file')
    columns = "".join(
        f"<tr><td><code>{escape(str(c.get('name')))}</code></td><td>{escape(str(c.get('dtype', '')))}</td>"
        f"<td>{escape(str(c.get('description') or ''))}</td></tr>"
        for c in metadata.get("columns") or []
    )
    footer = (
        f"<table class='bdc-table'><thead><tr><th>column</th><th>dtype</th><th>description</th></tr></thead>"
        f"<tbody>{columns}</tbody></table><p>Read it:</p><pre>{escape(chr(10).join(reads))}</pre>"
    )
    return tables_html(
        f"catalog entry {name}", [entry_metadata(name, description, metadata, parameters)], footer
    )


def versions_html(rows: Iterable[Mapping[str, Any]]) -> str:
    """Versions, newest first, with build time and table count."""
    body = "".join(
        f"<tr><td><b>{escape(str(r['version']))}</b></td><td>{escape(str(r.get('built_at') or ''))}</td>"
        f"<td style='text-align:right'>{escape(str(r.get('tables', '')))}</td></tr>"
        for r in rows
    )
    return (
        f"{_STYLE}<table class='bdc-table'><caption style='text-align:left'><b>biodata-cache versions</b>"
        f"</caption><thead><tr><th>version</th><th>built at</th><th>tables</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def display_html(obj: Any, html: str) -> None:
    """Show ``html`` for ``obj`` in IPython (taking over intake's YAML-only ``_ipython_display_``)."""
    from IPython.display import display

    display({"text/html": html, "text/plain": repr(obj)}, raw=True)
