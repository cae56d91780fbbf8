"""get_cache_registry() and table names as a drop-in for biodata-cache 0.42 (issue 10, item 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import ROWS, publish_fixture

import biodata_cache as bdc
from biodata_cache.errors import TableNotFoundError
from biodata_cache.registry import Column
from biodata_cache.tables import get_table


@pytest.fixture
def root(tmp_path, monkeypatch) -> str:
    publish_fixture(str(tmp_path))
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path))
    return str(tmp_path)


def test_tables_are_sorted_by_name(root):
    bdc.custom("aaa_first", pd.DataFrame({"a": [1]}))
    names = [table.name for table in bdc.get_cache_registry().tables]
    assert names == sorted(names)
    assert names[:2] == ["asset_basics", "custom_aaa_first"]
    # The file keeps publish order: sorting is what the reader returns.
    stored = json.loads((Path(root) / "bdc-v0.1" / "cache_registry.json").read_text())
    assert [t["name"] for t in stored["tables"]][:1] == ["unique_project_names"]


def test_entries_read_as_attributes_like_0_42(root):
    qc = bdc.get_cache_registry()["qc"]
    assert qc.name == "qc"
    assert qc.partitioned is True and qc.partition_key == "subject_id"
    assert qc.location.endswith("bdc-v0.1/qc")
    assert isinstance(qc.description, str) and qc.description
    first = qc.columns[0]
    assert isinstance(first, Column)
    assert first.name == first["name"] == get_table("qc").columns[0].name
    assert first.description == get_table("qc").columns[0].description
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        first.nope  # noqa: B018


def test_type_values_are_those_of_0_42(root):
    bdc.custom("scores", pd.DataFrame({"a": [1]}))
    registry = bdc.get_cache_registry()
    # 0.42's table_specs: quality_control is CacheTableType.asset, these tables are metadata.
    assert registry["qc"].type == "asset"
    for name in (
        "unique_project_names",
        "asset_basics",
        "source_data",
        "qc_status",
        "qc_status_long",
        "metadata_core",
        "time_to_qc",
        "record_consistency_results",
        "record_consistency_checks",
    ):
        assert registry[name].type == "metadata", name
    assert registry["custom_scores"].type == "custom"  # 0.42 has no custom tables in its registry
    assert registry["qc"].kind == "frame" and registry["unique_subject_ids"].kind == "list"
    # The registry file and the catalog keep biodata-cache's kinds.
    stored = json.loads((Path(root) / "bdc-v0.1" / "cache_registry.json").read_text())
    assert {t["name"]: t["type"] for t in stored["tables"]}["qc"] == "frame"
    assert bdc.open_catalog()["qc"].describe()["metadata"]["type"] == "frame"


def test_model_dump_json_of_an_entry_and_of_the_registry(root):
    registry = bdc.get_cache_registry()
    entry = json.loads(registry["source_data"].model_dump_json())
    assert list(entry)[:7] == [
        "name",
        "description",
        "location",
        "partitioned",
        "partition_key",
        "type",
        "columns",
    ]
    assert entry["name"] == "source_data" and entry["type"] == "metadata" and entry["partitioned"] is False
    assert entry["rows"] == len(ROWS["source_data"])
    assert [c["name"] for c in entry["columns"]] == [
        "name",
        "source_data",
        "pipeline_name",
        "processing_time",
        "_id",
    ]
    assert set(entry["columns"][0]) == {"name", "description", "dtype"}
    whole = json.loads(registry.model_dump_json(indent=2))
    assert [t["name"] for t in whole["tables"]] == registry.names
    assert whole["tables"][registry.names.index("qc")]["type"] == "asset"


def test_quality_control_is_the_name_of_qc_wherever_a_table_name_is_taken(root):
    registry = bdc.get_cache_registry()
    assert "quality_control" in registry
    assert registry["quality_control"] is registry["qc"]
    assert bdc.read_table("quality_control").num_rows == len(ROWS["qc"])
    assert bdc.read_table("quality_control", parameters={"subject_id": "692478"}).equals(
        bdc.read_table("qc", parameters={"subject_id": "692478"})
    )
    assert get_table("quality_control") is get_table("qc")
    with pytest.raises(TableNotFoundError, match="quality_controls"):
        registry["quality_controls"]


def test_cli_show_takes_quality_control(root, capsys):
    from biodata_cache.cli import main

    main(["--root", root, "show", "quality_control", "--subject-id", "828418", "--columns", "subject_id"])
    assert "828418" in capsys.readouterr().out
