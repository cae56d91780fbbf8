"""HTML views of catalogs, entries, registries and versions (what Jupyter shows)."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import publish_fixture

import biodata_cache as bdc
from biodata_cache.errors import InvalidInputError
from biodata_cache.tables import TABLES


@pytest.fixture
def root(tmp_path, monkeypatch):
    root = str(tmp_path / "store")
    publish_fixture(root)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    return root


def test_catalog_displays_a_table_of_entries(root):
    html = bdc.open_catalog()._repr_html_()
    assert html.count("<tr>") == 2 + len(
        TABLES
    )  # header, one row per table and quality_control (0.42's name of qc)
    for name in ("asset_basics", "qc", "unique_subject_ids"):
        assert f"<b>{name}</b>" in html
    assert "subject_id" in html and "5" in html  # partition key / parameter, rows of asset_basics
    assert "<details><summary>24 columns</summary>" in html


def test_catalog_takes_over_intakes_yaml_display(root, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append(obj))
    bdc.open_catalog()._ipython_display_()
    assert "text/html" in shown[0] and "<table" in shown[0]["text/html"]
    assert "application/yaml" not in shown[0]


def test_entry_displays_description_columns_and_how_to_read(root):
    html = bdc.open_catalog().qc._repr_html_()
    assert "Quality-control metrics" in html
    assert "raw_asset_name" in html and "Raw asset at the root of the lineage" in html
    assert "cat.qc(subject_id=&quot;692478&quot;).read()" in html


def test_registry_and_versions_display_as_tables(root):
    registry = bdc.get_cache_registry()._repr_html_()
    assert "cache registry bdc-v0.1" in registry and "<b>time_to_qc</b>" in registry
    publish_fixture(root, version="0.2")
    versions = bdc.get_cache_versions()
    assert versions == ["bdc-v0.1", "bdc-v0.2"]
    html = versions._repr_html_()
    assert html.index("bdc-v0.2") < html.index("bdc-v0.1")  # newest first
    assert f"<td style='text-align:right'>{len(TABLES)}</td>" in html


def test_user_provided_descriptions_are_escaped(root):
    bdc.custom("scores", pd.DataFrame({"a": [1]}), description="<script>alert('x')</script>")
    for html in (bdc.open_catalog()._repr_html_(), bdc.get_cache_registry()._repr_html_(),
                 bdc.open_catalog().custom_scores._repr_html_()):  # fmt: skip
        assert "<script>" not in html
        assert "&lt;script&gt;" in html


def test_custom_table_named_like_markup_is_rejected(root):
    with pytest.raises(InvalidInputError):
        bdc.custom("<script>", pd.DataFrame({"a": [1]}))
