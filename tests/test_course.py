"""Course tables (swdb_2025_*, swdb_2026_*) and metadata_upgrade: rows read by hand from real records, and
the build paths of tables that are not built from records (package data files, a custom table)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import biodata_cache as bdc
from biodata_cache.errors import InvalidInputError, TableNotFoundError
from biodata_cache.records import normalize
from biodata_cache.registry import read_registry
from biodata_cache.store import Store
from biodata_cache.sync import update_all_tables
from biodata_cache.tables import Column, Table, course

RECORDS = Path(__file__).parent / "data" / "aind_records"
V1DD_RECORD = RECORDS / "real" / "v1mix_pophys_nwb_2019.json"
BCI_RAW_RECORD = RECORDS / "real" / "v1_singleplane_ophys_raw.json"
UTC = dt.timezone.utc


def load(path: Path) -> dict:
    return json.loads(path.read_text())


# -- swdb_2025_v1dd ---------------------------------------------------------------------------------


def test_v1dd_row_of_a_real_v1_deep_dive_record_has_the_values_read_by_hand():
    # Every expected value read from tests/data/aind_records/real/v1mix_pophys_nwb_2019.json:
    rows = course.v1dd_rows(normalize(load(V1DD_RECORD)))
    assert rows == [
        {
            "_id": "6847bee8-3e95-4001-8ca2-44bb08b21794",  # _id
            "name": "438833_2019-03-15_15-31-03_nwb_2025-08-08_16-28-11",  # name
            "project_name": "V1 Deep Dive",  # data_description.project_name
            "subject_id": "438833",  # subject.subject_id / data_description.subject_id
            "golden_mouse": False,  # 438833 is not the reference mouse 409828
            # subject.subject_details.genotype / .date_of_birth / .sex
            "genotype": "Slc17a7-IRES2-Cre/wt;Camk2a-tTA/wt;Ai94(TITL-GCaMP6s)/wt",
            "date_of_birth": "2018-12-01",
            "sex": "Male",
            # data_description.modalities[].name
            "modality": ["Planar optical physiology", "Behavior videos"],
            # acquisition.acquisition_start_time "2019-03-15 15:31:03.507360-07:00", as written
            "session_date": "2019-03-15",
            "session_time": "15:31:03.507360",
            "age": 104,  # 2018-12-01 -> 2019-03-15: 30 + 31 + 28 + 15 days
            "column": 2,  # data_description.tags[0] "Column 2"
            "volume": 2,  # data_description.tags[1] "Volume 2"
        }
    ]


def test_v1dd_leaves_out_assets_of_other_projects_and_reads_missing_tags_as_null():
    record = load(V1DD_RECORD)
    other = copy.deepcopy(record)
    other["data_description"]["project_name"] = "Brain Computer Interface"
    assert course.v1dd_rows(normalize(other)) == []
    record["data_description"]["tags"] = ["Column 4"]  # one tag only: no volume
    [row] = course.v1dd_rows(normalize(record))
    assert (row["column"], row["volume"]) == (4, None)


# -- swdb_2025_bci ----------------------------------------------------------------------------------


def bci_session() -> dict:
    """A derived BCI single-neuron-stim record constructed from the real raw BCI record
    tests/data/aind_records/real/v1_singleplane_ophys_raw.json (aind-data-schema 1.1; no public derived
    BCI record has these fields). Changed, following the 1.x models the notebook's query reads:
    data_description.data_level "derived" (DataLevel), session.session_type "BCI single neuron stim"
    (Session.session_type is free text), the real "single neuron BCI conditioning" epoch (index 6) given
    session_number 3 (StimulusEpoch.session_number), the first stream's stack_parameters
    {"targeted_structure": "MOp"} (Stack.targeted_structure) and its first FOV's notes "FOV 1"
    (FieldOfView.notes), one ViralMaterial {"material_type": "Virus", "name": "AAV-GCaMP8m"} in the first
    injection (injection_materials), and one processing step started 2025-08-05 (DataProcess)."""
    record = load(BCI_RAW_RECORD)
    record["name"] = "single-plane-ophys_776628_2025-06-23_09-24-00_processed_2025-08-05_10-00-00"
    record["data_description"]["data_level"] = "derived"
    session = record["session"]
    session["session_type"] = "BCI single neuron stim"
    assert session["stimulus_epochs"][6]["stimulus_name"] == "single neuron BCI conditioning"
    session["stimulus_epochs"][6]["session_number"] = 3
    session["data_streams"][0]["stack_parameters"] = {"targeted_structure": "MOp"}
    session["data_streams"][0]["ophys_fovs"][0]["notes"] = "FOV 1"
    injection = next(
        p
        for sp in record["procedures"]["subject_procedures"]
        for p in sp["procedures"]
        if "injection_materials" in p
    )
    injection["injection_materials"] = [{"material_type": "Virus", "name": "AAV-GCaMP8m"}]
    record["processing"]["processing_pipeline"]["data_processes"] = [
        {"name": "Video motion correction", "start_date_time": "2025-08-05T10:00:00-07:00"}
    ]
    return record


def test_bci_row_of_a_constructed_derived_session_has_the_values_read_by_hand():
    [row] = course.bci_rows(normalize(bci_session()))
    assert row == {
        "_id": "17e48fd5-9424-4a5d-a184-29f1b1e5696e",  # _id of the real record
        "name": "single-plane-ophys_776628_2025-06-23_09-24-00_processed_2025-08-05_10-00-00",
        "project_name": "Brain Computer Interface",  # data_description.project_name (real)
        "session_type": "BCI single neuron stim",
        "subject_id": "776628",  # subject.subject_id (real)
        "genotype": "Oi8(H11-CAG-Cas9)/Oi8(H11-CAG-Cas9)",  # subject.genotype (real)
        "date_of_birth": "2024-11-09",  # subject.date_of_birth (real)
        "sex": "Male",  # subject.sex (real)
        "virus": "AAV-GCaMP8m",
        "modality": "Planar optical physiology",  # data_description.modality[0].name (real)
        # session.session_start_time "2025-06-23T09:24:00.069000-07:00" (real), as written
        "session_date": "2025-06-23",
        "session_time": "09:24:00.069000",
        "age": 226,  # 2024-11-09 -> 2025-06-23
        "targeted_structure": "MOp",
        "ophys_fov": "FOV 1",
        "session_number": 3,
    }


def test_bci_selects_like_the_2025_notebook_query():
    # The real raw record: session_type "BCI" and data_level "raw", so not a curated session.
    assert course.bci_rows(normalize(load(BCI_RAW_RECORD))) == []
    early = bci_session()
    early["processing"]["processing_pipeline"]["data_processes"][0]["start_date_time"] = "2025-08-02T23:00:00"
    assert course.bci_rows(normalize(early)) == []  # processed before 2025-08-03
    problem = bci_session()
    problem["name"] = "single-plane-ophys_731015_2025-01-28_17-40-57_processed_2025-08-04_04-38-08"
    assert course.bci_rows(normalize(problem)) == []  # one of the notebook's problem assets
    no_virus = bci_session()
    for sp in no_virus["procedures"]["subject_procedures"]:
        for p in sp.get("procedures", []):
            p.pop("injection_materials", None)
    assert course.bci_rows(normalize(no_virus)) == []  # 0.42's $unwind drops it


# -- swdb_2026_* (package data files) ---------------------------------------------------------------


@pytest.fixture
def records_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "records"
    folder.mkdir()
    for path in [*RECORDS.glob("v2_*.json"), V1DD_RECORD, BCI_RAW_RECORD]:
        shutil.copy(path, folder / path.name)
    return folder


def test_swdb_2026_tables_come_from_their_data_files_and_are_rewritten_only_when_they_change(
    monkeypatch, tmp_path, records_folder
):
    root = str(tmp_path / "store")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    first = update_all_tables(source=str(records_folder), root=root, progress=False)
    bci = bdc.swdb_2026_bci()
    # Read by hand from biodata-cache 0.42.26 swdb_public_assets.py (SWDB_2026_DERIVED_ASSETS["bci"], 22
    # names, the first below) and public_collections.py (collection 23ffb03b-...,
    # brain-computer-interface-v2).
    assert len(bci) == 22 == first.rows["swdb_2026_bci"]
    assert bci.iloc[0].to_dict() == {
        "collection_id": "23ffb03b-1f54-4369-95b2-a8cea1a9ab33",
        "collection_url": "https://codeocean.allenneuraldynamics.org/collections/23ffb03b-1f54-4369-95b2-a8cea1a9ab33",
        "data_asset_id": "4bf7c961-8bf8-42a9-8221-c0185e41d2c5",
        "collection_asset_name": "brain-computer-interface-v2",
        "name": "single-plane-ophys_731015_2025-01-10_18-06-31_processed_2025-08-03_20-39-09",
    }
    v1dd = bdc.swdb_2026_v1dd()
    # four V1DD data assets of 25 sessions each (v1dd_409, v1dd_427, v1dd_438, v1dd_416 in 0.42)
    assert v1dd.groupby("collection_asset_name").size().to_dict() == {
        "409828_V1DD_Filtered": 25,
        "416296_V1DD_Filtered": 25,
        "427836_V1DD_Filtered": 25,
        "438833_V1DD_Filtered": 25,
    }
    assert "swdb_2026_bci" in first.tables_written
    second = update_all_tables(source=str(records_folder), root=root, progress=False)
    assert not [name for name in second.tables_written if name.startswith("swdb_2026_")]
    registry = read_registry(Store(root), first.version)
    assert registry["swdb_2026_bci"].build and registry["swdb_2026_bci"].rows == 22


def test_a_data_file_that_does_not_match_its_declaration_is_an_error_naming_it():
    table = Table(
        name="swdb_2026_bci",
        description="x",
        kind="frame",
        columns=(Column("name", "string", "x"),),
        data_file="course/swdb_2026_bci.json",
    )
    with pytest.raises(ValueError, match=r"course/swdb_2026_bci.json.*swdb_2026_bci.*\['name'\]"):
        table.data_rows()


# -- metadata_upgrade -------------------------------------------------------------------------------


def test_metadata_upgrade_without_its_custom_table_is_not_published_and_says_how_to_publish_it(
    monkeypatch, tmp_path, records_folder
):
    root = str(tmp_path / "store")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    report = update_all_tables(source=str(records_folder), root=root, progress=False)
    assert "metadata_upgrade" not in read_registry(Store(root), report.version)
    with pytest.raises(TableNotFoundError, match=r"metadata_upgrade_status_prod.*custom\('metadata_upgrade"):
        bdc.metadata_upgrade()


def upgrade_results(version: str = "0.4.0") -> pd.DataFrame:
    """An upgrade run as the upgrader publishes it (0.42's metadata_upgrade_columns): the v1 record
    real/v1mix_pophys_nwb_2019.json upgraded into the v2 record v2_record.json (ids of those files),
    and real/v1_singleplane_ophys_raw.json failed (no v2_id)."""
    return pd.DataFrame(
        {
            "v1_id": ["6847bee8-3e95-4001-8ca2-44bb08b21794", "17e48fd5-9424-4a5d-a184-29f1b1e5696e"],
            "v2_id": ["c9888108-f413-41cc-9a1d-418937a04410", None],
            "upgrader_version": [version, version],
            "status": ["success", "failed"],
            "upgrade_datetime": pd.to_datetime(["2025-09-01T10:00:00Z", "2025-09-01T10:00:05Z"], utc=True),
        }
    )


def test_metadata_upgrade_joins_the_custom_table_with_asset_basics_and_keeps_earlier_versions(
    monkeypatch, tmp_path, records_folder
):
    root = str(tmp_path / "store")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    update_all_tables(source=str(records_folder), root=root, progress=False)
    bdc.custom("metadata_upgrade_status_prod", upgrade_results("0.4.0"))
    update_all_tables(source=str(records_folder), root=root, progress=False)
    rows = bdc.metadata_upgrade().set_index("_id")
    success = rows.loc["6847bee8-3e95-4001-8ca2-44bb08b21794"]
    # name, project_name, data_level of the v2 record (tests/data/aind_records/v2_record.json: name,
    # data_description.project_name, data_description.data_level)
    assert success["name"] == "multiplane-ophys_692478_2023-09-29_08-53-45_processed_2025-04-22_20-50-47"
    assert success["data_level"] == "derived" and success["status"] == "success" and success["current"]
    assert success["upgrade_datetime"] == pd.Timestamp("2025-09-01T10:00:00Z")
    failed = rows.loc["17e48fd5-9424-4a5d-a184-29f1b1e5696e"]
    # no v2 record: the v1 record's own (real/v1_singleplane_ophys_raw.json name, project, level)
    assert failed["name"] == "single-plane-ophys_776628_2025-06-23_09-24-00"
    assert failed["project_name"] == "Brain Computer Interface" and failed["data_level"] == "raw"
    assert pd.isna(failed["v2_id"])

    bdc.custom("metadata_upgrade_status_prod", upgrade_results("0.5.0").iloc[:1])
    update_all_tables(source=str(records_folder), root=root, progress=False)
    again = bdc.metadata_upgrade()
    assert sorted(zip(again["_id"], again["upgrader_version"], again["current"], strict=True)) == [
        ("17e48fd5-9424-4a5d-a184-29f1b1e5696e", "0.4.0", False),
        ("6847bee8-3e95-4001-8ca2-44bb08b21794", "0.4.0", False),
        ("6847bee8-3e95-4001-8ca2-44bb08b21794", "0.5.0", True),
    ]


def test_custom_refuses_an_upgrade_table_without_a_required_column_naming_it(
    monkeypatch, tmp_path, records_folder
):
    root = str(tmp_path / "store")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    update_all_tables(source=str(records_folder), root=root, progress=False)
    with pytest.raises(InvalidInputError, match=r"input of table 'metadata_upgrade'.*no 'status'"):
        bdc.custom("metadata_upgrade_status_prod", upgrade_results().drop(columns=["status"]))
    assert "custom_metadata_upgrade_status_prod" not in bdc.get_cache_registry()


def test_a_bad_upgrade_table_in_the_store_keeps_the_published_rows_and_the_other_tables_build(
    monkeypatch, tmp_path, records_folder, caplog
):
    import logging

    from biodata_cache import readers

    root = str(tmp_path / "store")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    update_all_tables(source=str(records_folder), root=root, progress=False)
    bdc.custom("metadata_upgrade_status_prod", upgrade_results("0.4.0"))
    update_all_tables(source=str(records_folder), root=root, progress=False)
    published = bdc.metadata_upgrade()
    # A custom table written without the check (e.g. by an older biodata-cache) lacks a column.
    monkeypatch.setattr(readers, "_check_custom_input", lambda name, table: None)
    bdc.custom("metadata_upgrade_status_prod", upgrade_results("0.5.0").drop(columns=["status"]))
    with caplog.at_level(logging.ERROR, logger="biodata_cache.sync"):
        report = update_all_tables(source=str(records_folder), root=root, progress=False)
    assert "no column 'status'" in caplog.text and "published rows are kept" in caplog.text
    assert report.rows["asset_basics"] == len(bdc.asset_basics())  # the rest of the build went on
    assert bdc.metadata_upgrade().equals(published)


def test_reading_metadata_upgrade_without_its_custom_table_names_it_and_builds_nothing(
    monkeypatch, tmp_path, records_folder
):
    from biodata_cache import readers

    root = str(tmp_path / "store")
    update_all_tables(source=str(records_folder), root=root, progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)  # a LOCAL store, which builds missing tables on read

    def no_build(*args, **kwargs):
        raise AssertionError("a build would not make metadata_upgrade")

    monkeypatch.setattr(readers, "_build_on_read", no_build)
    with pytest.raises(TableNotFoundError, match=r"custom table 'metadata_upgrade_status_prod'.*custom\("):
        bdc.read_table("metadata_upgrade")
