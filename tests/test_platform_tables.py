"""platform_qc, platform_fib and qc_tag_status: rows read by hand from real records, the one-liners,
and the builder's generic path for partitioned tables (incremental, only changed partitions rewritten,
the DuckDB glob)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

import biodata_cache as bdc
from biodata_cache.records import normalize
from biodata_cache.rows import asset_basics_rows
from biodata_cache.store import Store
from biodata_cache.sync import update_all_tables
from biodata_cache.tables.platform import (
    platform_fib_rows,
    platform_qc_rows,
    smartspim_fiber_ccf_rows,
    smartspim_qc_metrics_rows,
)
from biodata_cache.tables.qc import qc_tag_status_rows

DATA = Path(__file__).parent / "data" / "aind_records"
REAL = DATA / "real"
FIBER3 = REAL / "v2_fib_derived_qc_fiber3.json"
FIBER3_NAME = "808054_2026-04-16_19-38-24_processed_2026-04-17_15-47-55"
VR = DATA / "v2_derived.json"
VR_NAME = "828418_2026-02-13_18-31-13_processed_2026-02-14_12-44-45"
UTC = dt.timezone.utc


def load(path: Path) -> dict:
    return json.loads(path.read_text())


# -- rows from real records -------------------------------------------------------------------------------


def test_platform_qc_keeps_the_status_keys_that_fib_metrics_carry_as_tags():
    # v2_fib_derived_qc_fiber3.json: data_description.modalities = [fib]; quality_control.status has 17
    # keys; the 66 quality_control.metrics (all modality fib) carry the tags Channel:<8 channels>,
    # Fiber ROI:Fiber ROI 0..3 and Dataset_Contract:{Contract tests, Dataset tests} (14 keys), and "fib"
    # is the modality key: 15 rows. "Processing" and "Raw data" are stages no metric carries.
    asset = normalize(load(FIBER3))
    rows = platform_qc_rows(asset)
    assert {r["platform"] for r in rows} == {"fib"}
    status = {r["tag"]: r["status"] for r in rows}
    assert len(rows) == 15 and len(status) == 15
    assert "Processing" not in status and "Raw data" not in status
    assert status["fib"] == "Fail"  # quality_control.status["fib"]
    assert status["Channel:red"] == "Fail"  # quality_control.status["Channel:red"]
    assert status["Channel:background_green"] == "Pass"
    assert status["Fiber ROI:Fiber ROI 3"] == "Pending"
    assert status["Dataset_Contract:Contract tests"] == "Fail"
    row = rows[0]
    assert row["asset_name"] == FIBER3_NAME
    # acquisition.acquisition_start_time "2026-04-16T19:38:24.983132Z"
    assert row["timestamp"] == dt.datetime(2026, 4, 16, 19, 38, 24, 983132, tzinfo=UTC)
    # the 0.42 join with asset_basics: the same normalized instrument and experimenters
    basics = asset_basics_rows(asset)[0]
    assert row["instrument_id_normalized"] == basics["instrument_id_normalized"]
    assert row["experimenters_normalized"] == basics["experimenters_normalized"]
    assert basics["instrument_id"] == "13A"  # acquisition.instrument_id


def test_platform_qc_puts_vr_foraging_behavior_assets_under_vr():
    # v2_derived.json: modalities [behavior], acquisition.acquisition_type "AindVrForaging"; its 25
    # status keys are tags of behavior metrics (24) or the modality "behavior", except "Processing".
    rows = platform_qc_rows(normalize(load(VR)))
    assert {r["platform"] for r in rows} == {"vr"}
    status = {r["tag"]: r["status"] for r in rows}
    assert len(status) == 24 and "Processing" not in status
    assert status["HarpHub:HarpHubTestSuite"] == "Fail"  # quality_control.status
    assert status["HarpLickometer:HarpLicketySplitTestSuite"] == "Pending"


def test_platform_qc_gives_an_asset_of_two_platforms_rows_in_both():
    # Constructed from v2_derived.json: its acquisition_type set to "Coupled Baiting" (dynamic foraging)
    # and data_description.modalities extended with {"name": "Fiber photometry", "abbreviation": "fib"}
    # (aind-data-schema Modality), with one fib metric tagged {"Channel": "green"} and the status key
    # "Channel:green". It belongs to fib (modality fib) and dynamic_foraging (behavior + regex).
    record = load(VR)
    record["acquisition"]["acquisition_type"] = "Coupled Baiting"
    record["data_description"]["modalities"].append({"name": "Fiber photometry", "abbreviation": "fib"})
    metric = copy.deepcopy(record["quality_control"]["metrics"][0])
    metric.update(modality={"name": "Fiber photometry", "abbreviation": "fib"}, tags={"Channel": "green"})
    record["quality_control"]["metrics"].append(metric)
    record["quality_control"]["status"]["Channel:green"] = "Pass"
    rows = platform_qc_rows(normalize(record))
    by_platform: dict[str, set[str]] = {}
    for row in rows:
        by_platform.setdefault(row["platform"], set()).add(row["tag"])
    assert set(by_platform) == {"fib", "dynamic_foraging"}
    assert by_platform["fib"] == {"Channel:green"}
    assert "Channel:green" not in by_platform["dynamic_foraging"]
    assert "HarpHub:HarpHubTestSuite" in by_platform["dynamic_foraging"]


def test_platform_qc_has_no_rows_for_v1_records_without_a_status_dict():
    # v1_fib_derived_qc.json: fib + behavior, "Uncoupled Baiting", QC as v1 evaluations (no status dict)
    assert platform_qc_rows(normalize(load(REAL / "v1_fib_derived_qc.json"))) == []


def test_qc_tag_status_has_one_row_per_status_key():
    rows = qc_tag_status_rows(normalize(load(FIBER3)))
    assert len(rows) == 17  # quality_control.status has 17 keys
    assert {r["subject_id"] for r in rows} == {"808054"}  # subject.subject_id
    status = {r["tag"]: r["status"] for r in rows}
    assert status["Raw data"] == "Fail" and status["Processing"] == "Pending"
    assert status["Channel:green"] == "Fail"
    assert rows[0]["asset_name"] == FIBER3_NAME


def test_platform_fib_reads_fibers_channels_and_implants():
    # v2_fib_derived_qc_fiber3.json: acquisition.data_streams[0].connections map "Patch Cord N" to
    # "Fiber N"; configurations[3..6] are the Patch cord configs with 3 channels each (12 rows);
    # procedures.subject_procedures[0] (coordinate_system BREGMA_ARID, origin Bregma, millimeter, axes
    # AP ML SI Depth) implants Fiber_0 (PL, translation [2, -0.8, 0, 1.6]) ...
    # Fiber_3 (ACB, [1, 2.2, 0, 4.1]).
    rows = platform_fib_rows(normalize(load(FIBER3)))
    assert len(rows) == 12
    by_channel = {r["channel"]: r for r in rows}
    green0 = by_channel["Fiber_0_Green"]
    assert green0["fiber"] == "Fiber 0" and green0["patch_cord"] == "Patch Cord 0"
    assert green0["intended_measurement"] == "calcium" and green0["targeted_structure"] == "PL"
    assert (green0["target_coordinate_ap"], green0["target_coordinate_ml"]) == (2.0, -0.8)
    assert (green0["target_coordinate_si"], green0["target_coordinate_depth"]) == (0.0, 1.6)
    assert green0["target_coordinate_system"] == "BREGMA_ARID"
    assert green0["target_coordinate_origin"] == "Bregma"
    assert green0["target_coordinate_unit"] == "millimeter"
    assert by_channel["Fiber_0_Red"]["intended_measurement"] == "missing"  # intended_measurement null
    red3 = by_channel["Fiber_3_Red"]
    assert red3["intended_measurement"] == "acetylcholine" and red3["targeted_structure"] == "ACB"
    assert red3["target_coordinate_ml"] == 2.2


def test_platform_fib_skips_assets_that_are_not_fiber_photometry():
    assert platform_fib_rows(normalize(load(VR))) == []


# -- the builder and the one-liners ------------------------------------------------------------------------


@pytest.fixture
def records_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "records"
    folder.mkdir()
    for path in (FIBER3, VR, DATA / "v2_record.json", REAL / "v1mix_fib_derived_qc_dd2.json"):
        shutil.copy(path, folder / path.name)
    return folder


def _manifest(root: str, table: str) -> dict:
    registry = json.loads((Path(root) / "bdc-v0.1" / "cache_registry.json").read_text())
    entry = next(t for t in registry["tables"] if t["name"] == table)
    return json.loads((Path(root) / "bdc-v0.1" / entry["manifest"]).read_text())["files"]


def _read_all(monkeypatch: pytest.MonkeyPatch, root: str, table: str) -> list[dict]:
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    rows = bdc.read_table(table).to_pylist()
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def test_incremental_build_of_partitioned_tables_equals_a_full_build_and_rewrites_only_changed_partitions(
    monkeypatch, records_folder, tmp_path
):
    root = str(tmp_path / "store")
    update_all_tables(source=str(records_folder), root=root, progress=False)
    before = {t: _manifest(root, t) for t in ("platform_qc", "qc_tag_status")}
    assert set(before["platform_qc"]) == {"platform=fib", "platform=vr"}

    # v2_derived.json (vr, subject 828418) changes one status; the fib assets and subject 808054 do not.
    record = load(records_folder / "v2_derived.json")
    record["quality_control"]["status"]["HarpHub:HarpHubTestSuite"] = "Pass"
    record["_last_modified"] = "2026-03-01T00:00:00Z"
    (records_folder / "v2_derived.json").write_text(json.dumps(record))
    report = update_all_tables(source=str(records_folder), root=root, progress=False)
    assert not report.full
    after = {t: _manifest(root, t) for t in ("platform_qc", "qc_tag_status")}
    assert after["platform_qc"]["platform=fib"] == before["platform_qc"]["platform=fib"]
    assert after["platform_qc"]["platform=vr"]["path"] != before["platform_qc"]["platform=vr"]["path"]
    assert after["qc_tag_status"]["subject_id=808054"] == before["qc_tag_status"]["subject_id=808054"]
    assert after["qc_tag_status"]["subject_id=828418"] != before["qc_tag_status"]["subject_id=828418"]

    full_root = str(tmp_path / "full")
    update_all_tables(source=str(records_folder), root=full_root, progress=False)
    for table in ("platform_qc", "qc_tag_status", "platform_fib"):
        incremental_rows = _read_all(monkeypatch, root, table)
        assert incremental_rows == _read_all(monkeypatch, full_root, table), table
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    vr = bdc.platform_qc("vr")
    assert vr.loc[vr["tag"] == "HarpHub:HarpHubTestSuite", "status"].tolist() == ["Pass"]

    # Deleting the only vr asset empties the vr partition: it leaves the manifest and the store.
    (records_folder / "v2_derived.json").unlink()
    update_all_tables(source=str(records_folder), root=root, progress=False)
    assert set(_manifest(root, "platform_qc")) == {"platform=fib"}
    assert not (Path(root) / "bdc-v0.1" / "platform_qc" / "platform=vr").exists()
    assert bdc.platform_qc("vr").empty
    assert "828418" not in set(bdc.qc_tag_status()["subject_id"])


def test_platform_qc_partitions_read_with_the_duckdb_glob(records_folder, tmp_path):
    import duckdb

    root = tmp_path / "store"
    update_all_tables(source=str(records_folder), root=str(root), progress=False)
    folder = root / "bdc-v0.1"
    rows = duckdb.sql(
        f"select platform, count(*) from read_parquet('{folder}/platform_qc/*/*.pqt', "
        f"hive_partitioning=true, hive_types={{'platform': VARCHAR}}) group by 1 order by 1"
    ).fetchall()
    # fib: 15 keys of v2_fib_derived_qc_fiber3.json + 1 of v1mix_fib_derived_qc_dd2.json; vr: 24 of
    # v2_derived.json (see the row tests above)
    assert rows == [("fib", 16), ("vr", 24)]


def test_one_liners_read_one_partition(monkeypatch, records_folder, tmp_path):
    root = str(tmp_path / "store")
    update_all_tables(source=str(records_folder), root=root, progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    fib = bdc.platform_qc("fib")
    assert set(fib["platform"]) == {"fib"} and len(fib) == 16
    assert bdc.platform_qc("slap2").empty  # a declared platform without assets
    tags = bdc.qc_tag_status("808054", columns=["tag", "status"])
    assert list(tags.columns) == ["tag", "status"] and len(tags) == 17
    assert len(bdc.platform_fib()) == 12 + 6  # fiber3: 12 channels; v1mix_fib_derived_qc_dd2.json: 6


def test_qc_tag_status_of_an_unknown_subject_warns_with_the_closest_ids(
    monkeypatch, records_folder, tmp_path
):
    root = str(tmp_path / "store")
    update_all_tables(source=str(records_folder), root=root, progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    with pytest.warns(bdc.NoMatchWarning, match=r"subject_id '80805'.*808054"):
        assert bdc.qc_tag_status("80805").empty


def test_platform_qc_rejects_an_unknown_platform_listing_the_valid_ones(tmp_path):
    with pytest.raises(bdc.InvalidInputError, match="spim, fib, vr, dynamic_foraging, slap2"):
        bdc.platform_qc("SPIM")
    with pytest.raises(bdc.InvalidInputError, match="non-empty str"):
        bdc.qc_tag_status(808054)


def test_store_keeps_no_partition_files_of_superseded_builds(records_folder, tmp_path):
    root = str(tmp_path / "store")
    update_all_tables(source=str(records_folder), root=root, progress=False)
    update_all_tables(source=str(records_folder), root=root, progress=False, full=True)
    store = Store(root)
    files = [p for p in store.find("bdc-v0.1") if p.startswith("platform_qc/")]
    assert sorted(files) == sorted(f["path"] for f in _manifest(root, "platform_qc").values())


def test_platform_tables_read_a_hybrid_record():
    # v1mix_fib_derived_qc_dd2.json (v1 top level, 2.x parts): quality_control.status has 19 keys, its
    # metrics carry tags as lists (["green", "CsvTestSuite"]), which are not "<type>:<value>" keys, so only
    # the modality key "fib" (status "Fail") belongs to fib, as in 0.42.
    asset = normalize(load(REAL / "v1mix_fib_derived_qc_dd2.json"))
    rows = platform_qc_rows(asset)
    assert [(r["platform"], r["tag"], r["status"]) for r in rows] == [("fib", "fib", "Fail")]
    assert len(qc_tag_status_rows(asset)) == 19
    # acquisition.data_streams[0]: Patch Cord 0 -> Fiber 0, Patch Cord 1 -> Fiber 1, 3 channels each;
    # procedures: Fiber_0 targets ORBl, Fiber_1 ORBm; Fiber_N_Isosbestic has no intended_measurement.
    fib = {r["channel"]: r for r in platform_fib_rows(asset)}
    assert len(fib) == 6
    assert fib["Fiber_0_Red"]["intended_measurement"] == "serotonin"
    assert fib["Fiber_0_Red"]["targeted_structure"] == "ORBl"
    assert fib["Fiber_1_Green"]["targeted_structure"] == "ORBm"
    assert fib["Fiber_1_Isosbestic"]["intended_measurement"] == "missing"


# -- SmartSPIM tables: no public record has their QC metrics, so the records are constructed -------------


def _spim_metric(name: str, value, status: str, tags=None, reference=None) -> dict:
    """A QC metric shaped as aind-data-schema 2.x ``QCMetric`` (as the metrics of
    v2_fib_derived_qc_fiber3.json are: object_type, name, modality, stage, value, status_history of
    ``QCStatus`` (evaluator, status, timestamp), reference, tags)."""
    return {
        "object_type": "QC metric",
        "name": name,
        "modality": {"name": "Selective plane illumination microscopy", "abbreviation": "SPIM"},
        "stage": "Processing",
        "value": value,
        "status_history": [
            {
                "object_type": "QC status",
                "evaluator": "Automated",
                "status": "Pending",
                "timestamp": "2026-05-03T10:00:00Z",
            },
            {
                "object_type": "QC status",
                "evaluator": "jane.doe",
                "status": status,
                "timestamp": "2026-05-04T12:30:00Z",
            },
        ],
        "reference": reference,
        "tags": tags,
    }


def _stitched_spim_record() -> dict:
    """A stitched SmartSPIM asset of subject 808054: its subject and procedures are those of
    v2_fib_derived_qc_fiber3.json (real: four "Probe implant"s of "Fiber probe"s Fiber_0..Fiber_3 targeting
    PL, PL, ACB, ACB), its data_description names modality SPIM, and its QC holds the QC portal's
    "Fiber_0 CCF Location" metric (value {"AP": 210, "ML": "150", "DV": 98.0}, as the portal writes JSON)
    and "Fiber_2 CCF Location" with a value that is not a whole index."""
    source = load(FIBER3)
    return {
        "_id": "spim-1",
        "name": "SmartSPIM_808054_2026-05-01_10-00-00_stitched_2026-05-03_09-00-00",
        "subject": source["subject"],
        "procedures": source["procedures"],
        "data_description": {
            "data_level": "derived",
            "modalities": [{"name": "Selective plane illumination microscopy", "abbreviation": "SPIM"}],
        },
        "quality_control": {
            "metrics": [
                _spim_metric(
                    "Fiber_0 CCF Location",
                    'json:{"AP": 210, "ML": "150", "DV": 98.0}',
                    "Pass",
                    reference="https://neuroglancer.example/#fiber0",
                ),
                _spim_metric("Fiber_2 CCF Location", {"AP": 1.5, "ML": None}, "Fail"),
            ],
            "status": {},
        },
    }


def test_platform_smartspim_fiber_ccf_has_one_row_per_fiber_probe_with_annotated_indices():
    rows = {r["fiber"]: r for r in smartspim_fiber_ccf_rows(normalize(_stitched_spim_record()))}
    assert list(rows) == ["Fiber_0", "Fiber_1", "Fiber_2", "Fiber_3"]
    fiber0 = rows["Fiber_0"]
    assert (fiber0["ap"], fiber0["ml"], fiber0["dv"]) == (210, 150, 98)
    assert fiber0["targeted_structure"] == "PL" and fiber0["subject_id"] == "808054"
    assert fiber0["status"] == "Pass" and fiber0["evaluator"] == "jane.doe"
    assert fiber0["status_timestamp"] == dt.datetime(2026, 5, 4, 12, 30, tzinfo=UTC)
    assert fiber0["ccf_link"] == "https://neuroglancer.example/#fiber0"
    assert (rows["Fiber_2"]["ap"], rows["Fiber_2"]["ml"]) == (None, None)  # 1.5 is not an index
    assert rows["Fiber_2"]["status"] == "Fail"
    fiber1 = rows["Fiber_1"]  # not annotated: no metric
    assert (fiber1["ap"], fiber1["status"], fiber1["ccf_link"]) == (None, None, None)


def test_platform_smartspim_fiber_ccf_needs_a_stitched_spim_asset():
    record = _stitched_spim_record()
    record["name"] = "SmartSPIM_808054_2026-05-01_10-00-00"  # the raw asset
    assert smartspim_fiber_ccf_rows(normalize(record)) == []
    # real: v1_smartspim_stitched_labelled_raw.json is stitched SPIM but has no fiber probe implant
    assert smartspim_fiber_ccf_rows(normalize(load(REAL / "v1_smartspim_stitched_labelled_raw.json"))) == []


def test_platform_smartspim_qc_metrics_keeps_the_standard_metrics_of_derived_spim_assets():
    # Constructed: the instrument of real v1_exaspim_alignment.json (instrument.instrument_id
    # "exaspim-01", derived) with aind-data-schema QCMetrics: two standard ones, a brightness metric and
    # one that is not standard.
    record = load(REAL / "v1_exaspim_alignment.json")
    record["quality_control"] = {
        "metrics": [
            _spim_metric("Image stitching", {"value": True, "type": "checkbox"}, "Pass"),
            _spim_metric("Tissue perfusion", "good", "Fail", tags={"Channel": " 561 "}),
            _spim_metric("488 brightness", 0.75, "Pass"),
            _spim_metric("Segmentation recall", 0.9, "Pass"),
        ],
        "status": {},
    }
    rows = {r["metric_name"]: r for r in smartspim_qc_metrics_rows(normalize(record))}
    assert set(rows) == {"Image stitching", "Tissue perfusion", "488 brightness"}
    assert rows["Image stitching"]["value"] == "true" and rows["Image stitching"]["channel"] is None
    assert rows["Tissue perfusion"]["channel"] == "561" and rows["Tissue perfusion"]["status"] == "Fail"
    assert rows["488 brightness"]["channel"] == "488" and rows["488 brightness"]["value"] == "0.75"
    assert (
        rows["488 brightness"]["name"] == "exaSPIM_747820_2024-12-09_12-59-02_alignment_2025-01-23_06-40-34"
    )
    assert rows["488 brightness"]["subject_id"] == "747820"
    # A QC time written without an offset is lab time, as for every QC time (records.local_timestamp).
    latest = record["quality_control"]["metrics"][0]["status_history"][-1]
    latest["timestamp"] = "2026-05-03T11:00:00"  # PDT (UTC-7)
    (stitching,) = [
        r for r in smartspim_qc_metrics_rows(normalize(record)) if r["metric_name"] == "Image stitching"
    ]
    assert stitching["status_timestamp"].isoformat() == "2026-05-03T18:00:00+00:00"
    record["data_description"]["data_level"] = "raw"
    assert smartspim_qc_metrics_rows(normalize(record)) == []


def test_worker_processes_given_projected_records_build_the_same_platform_tables(
    monkeypatch, records_folder, tmp_path
):
    # Workers get records projected to the declared fields (implants and patch cords, not whole data
    # streams): the tables must not change.
    (records_folder / "spim.json").write_text(json.dumps(_stitched_spim_record()))
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    update_all_tables(source=str(records_folder), root=one, progress=False, workers=1)
    update_all_tables(source=str(records_folder), root=two, progress=False, workers=2)
    for table in ("platform_qc", "platform_fib", "platform_smartspim_fiber_ccf", "qc_tag_status"):
        rows = _read_all(monkeypatch, one, table)
        assert rows and rows == _read_all(monkeypatch, two, table), table


def test_an_asset_that_changes_platform_moves_between_partitions_in_an_incremental_build(
    monkeypatch, records_folder, tmp_path
):
    root = str(tmp_path / "store")
    update_all_tables(source=str(records_folder), root=root, progress=False)
    # v2_derived.json's acquisition.acquisition_type "AindVrForaging" (vr) becomes "Coupled Baiting"
    # (dynamic_foraging): its 24 rows leave the vr partition for a new dynamic_foraging one.
    record = load(records_folder / "v2_derived.json")
    record["acquisition"]["acquisition_type"] = "Coupled Baiting"
    record["_last_modified"] = "2026-03-01T00:00:00Z"
    (records_folder / "v2_derived.json").write_text(json.dumps(record))
    fib_before = _manifest(root, "platform_qc")["platform=fib"]
    report = update_all_tables(source=str(records_folder), root=root, progress=False)
    assert not report.full
    files = _manifest(root, "platform_qc")
    assert set(files) == {"platform=fib", "platform=dynamic_foraging"}
    assert files["platform=fib"] == fib_before and files["platform=dynamic_foraging"]["rows"] == 24
    full_root = str(tmp_path / "full")
    update_all_tables(source=str(records_folder), root=full_root, progress=False)
    assert _read_all(monkeypatch, root, "platform_qc") == _read_all(monkeypatch, full_root, "platform_qc")


def test_platform_qc_on_s3_is_incremental_and_read_one_partition_at_a_time(
    monkeypatch, records_folder, s3_root
):
    update_all_tables(source=str(records_folder), root=s3_root, progress=False)
    store = Store(s3_root)

    def manifest() -> dict:
        registry = store.read_json("bdc-v0.1/cache_registry.json")
        entry = next(t for t in registry["tables"] if t["name"] == "platform_qc")
        return store.read_json(f"bdc-v0.1/{entry['manifest']}")["files"]

    before = manifest()
    record = load(records_folder / "v2_derived.json")
    record["quality_control"]["status"]["HarpHub:HarpHubTestSuite"] = "Pass"
    record["_last_modified"] = "2026-03-01T00:00:00Z"
    (records_folder / "v2_derived.json").write_text(json.dumps(record))
    update_all_tables(source=str(records_folder), root=s3_root, progress=False)
    after = manifest()
    assert after["platform=fib"] == before["platform=fib"] and after["platform=vr"] != before["platform=vr"]
    files = [p for p in store.find("bdc-v0.1") if p.startswith("platform_qc/")]
    assert sorted(files) == sorted(f["path"] for f in after.values())  # the superseded vr file is gone
    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    vr = bdc.platform_qc("vr")
    assert len(vr) == 24 and vr.loc[vr["tag"] == "HarpHub:HarpHubTestSuite", "status"].tolist() == ["Pass"]


def test_incremental_build_without_the_partition_index_says_to_rebuild(records_folder, tmp_path):
    root = tmp_path / "store"
    update_all_tables(source=str(records_folder), root=str(root), progress=False)
    (root / "bdc-v0.1" / "_build" / "partitions" / "platform_qc.pqt").unlink()
    record = load(records_folder / "v2_derived.json")
    record["_last_modified"] = "2026-03-01T00:00:00Z"
    (records_folder / "v2_derived.json").write_text(json.dumps(record))
    with pytest.raises(bdc.BiodataCacheError, match=r"platform_qc.*full=True"):
        update_all_tables(source=str(records_folder), root=str(root), progress=False)
    report = update_all_tables(source=str(records_folder), root=str(root), progress=False, full=True)
    assert report.rows["platform_qc"] == 16 + 24  # fib + vr (see the DuckDB test)
