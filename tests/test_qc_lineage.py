"""qc along a raw asset's lineage: the newest chain per modality set, each metric once (0.42's content),
and qc(raw_asset_name=...) opening only the partitions the qc_raw_assets index names."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import biodata_cache as bdc
from biodata_cache.errors import InvalidInputError, NoMatchWarning
from biodata_cache.sync import update_all_tables

RECORDS = Path(__file__).parent / "data" / "aind_records"
RAW = "ecephys_700001_2025-01-01_10-00-00"
OLD = f"{RAW}_sorted_2025-02-01_00-00-00"
NEW = f"{RAW}_sorted_2025-06-01_00-00-00"
VIDEO = f"{RAW}_videos_2025-03-01_00-00-00"
OTHER_RAW = "ecephys_700002_2025-01-02_10-00-00"


def metric(name: str, status: str = "Pass", value: object = 1, modality: str = "ecephys") -> dict:
    return {
        "name": name,
        "modality": {"abbreviation": modality},
        "stage": "Processing",
        "value": value,
        "status_history": [{"status": status, "timestamp": "2025-01-01T00:00:00Z"}],
    }


def record(name: str, subject: str, metrics: list[dict], sources=None, modality="ecephys", stamp="1"):
    return {
        "_id": name,
        "name": name,
        "_last_modified": f"2026-01-0{stamp}T00:00:00Z",
        "location": f"s3://bucket/{name}",
        "subject": {"subject_id": subject},
        "data_description": {
            "data_level": "derived" if sources else "raw",
            "modalities": [{"abbreviation": modality}],
            "source_data": sources,
        },
        "quality_control": {"metrics": metrics, "default_grouping": ["probe"]},
    }


def write(folder: Path, *records: dict) -> None:
    folder.mkdir(exist_ok=True)
    for item in records:
        (folder / f"{item['name']}.json").write_text(json.dumps(item))


@pytest.fixture
def lineage_store(tmp_path, monkeypatch):
    """R (metrics a, b) -> OLD (a, b, own "x"=1) and NEW (a with a newer status, b, own "x"=2); VIDEO
    (behavior-videos, own "v") from R; another raw asset of another subject."""
    folder = tmp_path / "records"
    write(
        folder,
        record(RAW, "700001", [metric("a"), metric("b")]),
        record(OLD, "700001", [metric("a"), metric("b"), metric("x", value=1)], [RAW]),
        record(NEW, "700001", [metric("a", "Fail"), metric("b"), metric("x", value=2)], [RAW]),
        record(VIDEO, "700001", [metric("v", modality="behavior-videos")], [RAW], "behavior-videos"),
        record(OTHER_RAW, "700002", [metric("a")]),
    )
    root = str(tmp_path / "store")
    update_all_tables(source=str(folder), root=root, progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    return folder, root


def rows(frame) -> list[tuple]:
    return [
        (r.asset_name, r.name, r.value, list(r.downstream_asset_names))
        for r in frame.sort_values(["asset_name", "metric_index"]).itertuples()
    ]


def test_inherited_metric_is_one_row_at_the_raw_asset_and_only_the_newest_chain_is_kept(lineage_store):
    qc = bdc.qc(raw_asset_name=RAW)
    # a and b: at the raw asset, carried by the newest sorted asset; OLD's chain is older than NEW's
    # (same modalities), so its own "x" is not kept; VIDEO is another modality set: its chain is kept.
    assert rows(qc) == [
        (RAW, "a", "1", [NEW]),
        (RAW, "b", "1", [NEW]),
        (NEW, "x", "2", []),
        (VIDEO, "v", "1", []),
    ]
    assert set(qc["raw_asset_name"]) == {RAW}
    assert set(qc["subject_id"]) == {"700001"}
    first = qc[qc["name"] == "a"].iloc[0]
    assert first["metric_key"] == json.dumps(
        {"modality": "ecephys", "name": "a", "stage": "Processing", "tags": None}, sort_keys=True
    )
    assert json.loads(first["metric_json"])["status_history"][0]["status"] == "Pass"
    assert first["default_grouping"] == '["probe"]'
    assert first["asset_location"] == f"s3://bucket/{RAW}" and first["asset_data_level"] == "raw"


def test_metrics_of_one_asset_sharing_a_key_are_all_kept(tmp_path, monkeypatch):
    # v2_derived.json has 131 metrics; seven HarpHub checks share one name, stage, modality and tags but
    # are different devices (0.42 kept one of them, giving 119 rows).
    folder = tmp_path / "records"
    folder.mkdir()
    shutil.copy(RECORDS / "v2_derived.json", folder)
    root = str(tmp_path / "store")
    update_all_tables(source=str(folder), root=root, progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    qc = bdc.qc("828418")
    assert len(qc) == 131 and sorted(qc["metric_index"]) == list(range(131))
    harp = qc[qc["name"] == "HarpHubTestSuite::test_devices_are_subordinate"]
    assert len(harp) == 7 and harp["description"].nunique() == 7
    assert "Device HarpTreadmill is subordinate" in " ".join(harp["description"])


def test_incremental_build_chooses_again_when_a_newer_chain_arrives_and_when_it_goes(
    lineage_store, monkeypatch
):
    folder, root = lineage_store
    (folder / f"{NEW}.json").unlink()
    report = update_all_tables(source=str(folder), root=root, progress=False)
    assert not report.full and report.records_deleted == 1
    # Without NEW, OLD is the newest chain: its own metric comes back (kept aside by the build).
    assert rows(bdc.qc(raw_asset_name=RAW)) == [
        (RAW, "a", "1", [OLD]),
        (RAW, "b", "1", [OLD]),
        (OLD, "x", "1", []),
        (VIDEO, "v", "1", []),
    ]
    newest = record(f"{RAW}_sorted_2025-09-01_00-00-00", "700001", [metric("a"), metric("y")], [RAW])
    write(folder, newest)
    again = update_all_tables(source=str(folder), root=root, progress=False)
    assert not again.full and again.records_read == 1
    incremental = bdc.qc(raw_asset_name=RAW)
    full_root = str(Path(root).parent / "full")
    update_all_tables(source=str(folder), root=full_root, progress=False)
    index = bdc.read_table("qc_raw_assets").to_pylist()
    monkeypatch.setenv("BIODATA_CACHE_ROOT", full_root)
    full = bdc.qc(raw_asset_name=RAW)
    assert (
        rows(incremental)
        == rows(full)
        == [
            (RAW, "a", "1", [newest["name"]]),
            (RAW, "b", "1", []),
            (newest["name"], "y", "1", []),
            (VIDEO, "v", "1", []),
        ]
    )
    assert (
        index
        == bdc.read_table("qc_raw_assets").to_pylist()
        == [
            {"raw_asset_name": RAW, "subject_id": "700001", "rows": 4},
            {"raw_asset_name": OTHER_RAW, "subject_id": "700002", "rows": 1},
        ]
    )


def test_qc_of_a_raw_asset_opens_only_its_partition(lineage_store):
    _, root = lineage_store
    location = bdc.qc(raw_asset_name=RAW, lazy=True)
    assert re.fullmatch(
        rf"{re.escape(root)}/bdc-v0\.1/qc/subject_id=700001/data-[0-9TZ]+-[0-9a-f]+\.pqt", location
    )
    assert pq.read_table(location).num_rows == 4
    # Every other partition gone: a raw asset's QC still reads, from the index and its one file.
    shutil.rmtree(Path(root, "bdc-v0.1", "qc", "subject_id=700002"))
    assert len(bdc.qc(raw_asset_name=RAW)) == 4
    assert bdc.qc(raw_asset_name=RAW, return_df=False) is None


def test_a_positional_raw_asset_name_is_read_as_raw_asset_name(lineage_store):
    # 0.42's qc took a raw asset name first.
    assert rows(bdc.qc(RAW)) == rows(bdc.qc(raw_asset_name=RAW))
    narrowed = bdc.qc(RAW, asset_names=[NEW], columns=["name"])
    assert narrowed["name"].tolist() == ["x"]
    assert bdc.qc("700002")["asset_name"].tolist() == [OTHER_RAW]
    assert bdc.qc(lazy=True).endswith("/bdc-v0.1/qc/*/*.pqt")


def test_a_derived_asset_given_as_raw_asset_is_an_error_naming_its_source(lineage_store):
    with pytest.raises(InvalidInputError, match=rf"{NEW}' is a derived asset.*derived from '{RAW}'"):
        bdc.qc(raw_asset_name=NEW)
    with pytest.raises(InvalidInputError, match="is a derived asset, not a subject id or a raw asset name"):
        bdc.qc(NEW)


def test_an_unknown_raw_asset_warns_with_the_closest_names(lineage_store):
    with pytest.warns(NoMatchWarning, match=rf"did you mean '{RAW}'"):
        frame = bdc.qc(raw_asset_name=RAW[:-1] + "1")
    assert frame.empty


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"lazy": "yes"}, "lazy must be True or False"),
        ({"return_df": 0}, "return_df must be True or False"),
        ({"raw_asset_name": 7}, "raw_asset_name must be a non-empty str"),
        ({"subject_id": "700001", "raw_asset_name": RAW}, "not both"),
    ],
)
def test_qc_arguments_are_checked(lineage_store, arguments, message):
    with pytest.raises(InvalidInputError, match=message):
        bdc.qc(**arguments)
