"""record_consistency_results / record_consistency_checks: whole-source checks of the records, and of the
records against a listing of a bucket's top-level prefixes (a moto bucket).

Expected values are read by hand from the real records in tests/data/aind_records/ (file and JSON path
named at each one).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from docdb_fake import FakeDocDB, session_for

import biodata_cache as bdc
from biodata_cache import config
from biodata_cache.sources import DocDBSource
from biodata_cache.sync import run_sync_job, update_all_tables
from biodata_cache.tables import Column, Table, derivation_order

RECORDS = Path(__file__).parent / "data" / "aind_records"

# tests/data/aind_records/v2_record.json: "_id" and "name"
V2_ID = "c9888108-f413-41cc-9a1d-418937a04410"
# tests/data/aind_records/real/v1_pophys_derived_qc_692478.json: "_id", and its "name" is the same
V1_ID = "f6369166-a8f9-43d3-b484-297f12c159e8"
SHARED_NAME = "multiplane-ophys_692478_2023-09-29_08-53-45_processed_2025-04-22_20-50-47"
# tests/data/aind_records/real/v1_exaspim_raw.json: "name" and "location" differ (the location is the
# flat-field corrected folder)
EXASPIM_NAME = "exaSPIM_750318_2025-02-03_12-13-09"
EXASPIM_LOCATION_PREFIX = "exaSPIM_750318_2025-02-03_12-13-09_flatfield-correction_2025-02-25_17-37-11"
# tests/data/aind_records/real/v1_slap2_raw.json: "location" is s3://aind-open-data/<this>
SLAP2_PREFIX = "SLAP2_801381_2025-10-02_15-23-18"

DUPLICATE = "docdb_duplicate_name_v2"
MISSING = "aind_open_data_prefix_missing_docdb_v2"


def _records_folder(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "records"
    folder.mkdir()
    for name in names:
        shutil.copy(RECORDS / name, folder / Path(name).name)
    return folder


def _read(monkeypatch: pytest.MonkeyPatch, root: str) -> tuple[list[dict], dict[str, dict]]:
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    results = bdc.record_consistency_results().to_dict(orient="records")
    checks = {row["check_key"]: row for row in bdc.record_consistency_checks().to_dict(orient="records")}
    return results, checks


def _open_data_bucket(bucket: str, prefixes: list[str]) -> None:
    """A moto bucket laid out like aind-open-data: one folder per asset, plus a top-level object."""
    import s3fs

    fs = s3fs.S3FileSystem()
    fs.mkdir(bucket)
    for prefix in prefixes:
        fs.pipe(f"{bucket}/{prefix}/data_description.json", b"{}")
    fs.pipe(f"{bucket}/README.txt", b"not a prefix")


def test_records_sharing_a_name_fail_the_duplicate_name_check_and_the_others_pass(tmp_path, monkeypatch):
    folder = _records_folder(
        tmp_path, "v2_record.json", "real/v1_pophys_derived_qc_692478.json", "real/v1_slap2_raw.json"
    )
    root = str(tmp_path / "store")
    update_all_tables(source=str(folder), root=root, progress=False)
    results, checks = _read(monkeypatch, root)

    statuses = {row["record_id"]: row["status"] for row in results if row["check_key"] == DUPLICATE}
    # v1_slap2_raw.json "_id"; its name is its own
    assert statuses == {V2_ID: "fail", V1_ID: "fail", "2ebb0312-25b3-487b-946a-5815a1fb63e6": "pass"}
    failed = [row for row in results if row["status"] == "fail"]
    assert {row["name"] for row in failed} == {SHARED_NAME}
    assert {row["record_kind"] for row in failed} == {"docdb_v2"}
    # v2_record.json "location" and "_last_modified"
    v2 = next(row for row in failed if row["record_id"] == V2_ID)
    assert (
        v2["location"] == "s3://codeocean-s3datasetsbucket-1u41qdg42ur9/df429003-91a0-45d2-8457-66b156ad8bfa"
    )
    assert v2["record_last_modified"].isoformat() == "2025-12-02T07:46:54.458000+00:00"
    # ordered by check key, name, record id (as 0.42): the two sharing a name by _id
    assert [row["record_id"] for row in results if row["name"] == SHARED_NAME] == [V2_ID, V1_ID]

    assert checks[DUPLICATE]["evaluated_count"] == 3 and checks[DUPLICATE]["failed_count"] == 2
    assert checks[DUPLICATE]["severity"] == "error" and checks[DUPLICATE]["evaluated"]
    # a file source lists no bucket unless told to: the prefix check says why it did not run
    assert not checks[MISSING]["evaluated"] and checks[MISSING]["evaluated_count"] == 0
    assert "BIODATA_CACHE_OPEN_DATA_ROOT" in checks[MISSING]["not_evaluated_reason"]


def test_open_data_prefixes_that_no_record_locates_fail_against_a_moto_bucket(
    s3_endpoint, tmp_path, monkeypatch
):
    bucket = "open-data-test"
    _open_data_bucket(bucket, [EXASPIM_NAME, EXASPIM_LOCATION_PREFIX, SLAP2_PREFIX, "no_record_here"])
    monkeypatch.setenv("BIODATA_CACHE_OPEN_DATA_ROOT", f"s3://{bucket}")
    folder = _records_folder(tmp_path, "real/v1_exaspim_raw.json", "real/v1_slap2_raw.json")
    # the records locate s3://aind-open-data/...: point them at the test bucket, as they are in production
    for path in folder.iterdir():
        record = json.loads(path.read_text())
        record["location"] = record["location"].replace("s3://aind-open-data/", f"s3://{bucket}/")
        path.write_text(json.dumps(record))
    root = str(tmp_path / "store")
    update_all_tables(source=str(folder), root=root, progress=False)
    results, checks = _read(monkeypatch, root)

    prefixes = {row["name"]: row for row in results if row["check_key"] == MISSING}
    # README.txt is an object, not a prefix: not evaluated
    assert sorted(prefixes) == sorted([EXASPIM_NAME, EXASPIM_LOCATION_PREFIX, SLAP2_PREFIX, "no_record_here"])
    # v1_exaspim_raw.json: a folder named like the asset is not where its record says the asset is
    assert prefixes[EXASPIM_NAME]["status"] == "fail"
    assert prefixes[EXASPIM_LOCATION_PREFIX]["status"] == "pass"
    assert prefixes[SLAP2_PREFIX]["status"] == "pass"
    assert prefixes["no_record_here"]["status"] == "fail"
    row = prefixes[SLAP2_PREFIX]
    assert row["record_kind"] == "s3_prefix" and row["record_id"] == row["location"]
    assert row["location"] == f"s3://{bucket}/{SLAP2_PREFIX}" and pd.isna(row["record_last_modified"])
    assert checks[MISSING]["evaluated"] and checks[MISSING]["listed_location"] == f"s3://{bucket}"
    assert (checks[MISSING]["evaluated_count"], checks[MISSING]["failed_count"]) == (4, 2)
    assert pd.isna(checks[MISSING]["not_evaluated_reason"])


def test_a_docdb_build_lists_the_open_data_bucket_by_default(s3_endpoint, tmp_path, monkeypatch):
    monkeypatch.delenv("BIODATA_CACHE_OPEN_DATA_ROOT")
    _open_data_bucket("aind-open-data", [SLAP2_PREFIX, "orphan"])  # on moto (AWS_ENDPOINT_URL)
    record = json.loads((RECORDS / "real/v1_slap2_raw.json").read_text())
    source = DocDBSource("docdb.example", session=session_for(FakeDocDB([record])), batch_size=100)
    root = str(tmp_path / "store")
    update_all_tables(source=source, root=root, progress=False)
    results, checks = _read(monkeypatch, root)
    statuses = {row["name"]: row["status"] for row in results if row["check_key"] == MISSING}
    assert statuses == {SLAP2_PREFIX: "pass", "orphan": "fail"}
    assert checks[MISSING]["listed_location"] == "s3://aind-open-data"


def test_a_listing_location_that_does_not_exist_leaves_its_check_not_evaluated_and_the_build_goes_on(
    s3_endpoint, tmp_path, monkeypatch, caplog
):
    import logging

    monkeypatch.setenv("BIODATA_CACHE_OPEN_DATA_ROOT", "s3://no-such-bucket")
    folder = _records_folder(tmp_path, "real/v1_slap2_raw.json")
    root = str(tmp_path / "store")
    with caplog.at_level(logging.ERROR, logger="biodata_cache.sync"):
        report = update_all_tables(source=str(folder), root=root, progress=False)
    assert "s3://no-such-bucket does not exist" in caplog.text
    assert report.rows["asset_basics"] == 1  # every other table was built and published
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    checks = bdc.record_consistency_checks().set_index("check_key")
    missing = checks.loc[MISSING]
    assert not missing["evaluated"] and missing["evaluated_count"] == 0
    assert re.match(
        r"listing failed: SourceError: .*s3://no-such-bucket does not exist.*BIODATA_CACHE_OPEN_DATA_ROOT",
        missing["not_evaluated_reason"],
    )
    assert set(bdc.record_consistency_results()["check_key"]) == {"docdb_duplicate_name_v2"}


def test_an_incremental_build_recomputes_the_checks_from_every_record(tmp_path, monkeypatch):
    folder = _records_folder(tmp_path, "v2_record.json", "real/v1_pophys_derived_qc_692478.json")
    root = str(tmp_path / "store")
    update_all_tables(source=str(folder), root=root, progress=False)
    _, checks = _read(monkeypatch, root)
    assert checks[DUPLICATE]["failed_count"] == 2

    (folder / "v2_record.json").unlink()  # deleted: the name is no longer shared
    report = update_all_tables(source=str(folder), root=root, progress=False)
    assert not report.full and "record_consistency_results" in report.tables_written
    results, checks = _read(monkeypatch, root)
    assert [(row["record_id"], row["status"]) for row in results] == [(V1_ID, "pass")]
    assert (checks[DUPLICATE]["evaluated_count"], checks[DUPLICATE]["failed_count"]) == (1, 0)

    shutil.copy(RECORDS / "v2_record.json", folder / "v2_record.json")  # back: an unchanged V1 record
    report = update_all_tables(source=str(folder), root=root, progress=False)
    assert not report.full and report.records_read == 1
    results, _ = _read(monkeypatch, root)
    assert {row["record_id"]: row["status"] for row in results} == {V2_ID: "fail", V1_ID: "fail"}
    unchanged = update_all_tables(source=str(folder), root=root, progress=False)
    assert "record_consistency_results" not in unchanged.tables_written


def test_the_listing_location_comes_from_its_variable_else_the_default_for_docdb_only(monkeypatch):
    variable, default = "BIODATA_CACHE_OPEN_DATA_ROOT", "s3://aind-open-data"
    monkeypatch.delenv(variable)
    assert config.listing_location(variable, default, docdb=True) == default
    assert config.listing_location(variable, default, docdb=False) is None
    monkeypatch.setenv(variable, "s3://mirror/open/")
    assert config.listing_location(variable, default, docdb=False) == "s3://mirror/open"
    monkeypatch.setenv(variable, "None")
    assert config.listing_location(variable, default, docdb=True) is None


def _derived(name: str, source: str) -> Table:
    return Table(name, "", "frame", (Column("x", "string", ""),), derived_from=(source, "x"))


def test_derived_tables_are_ordered_after_the_tables_they_are_derived_from():
    base = Table("base", "", "frame", (Column("x", "string", ""),))
    tables = (_derived("c", "b"), _derived("b", "base"), base)
    assert [t.name for t in derivation_order(tables)] == ["b", "c"]
    names = [t.name for t in derivation_order()]
    assert names.index("record_consistency_results") < names.index("record_consistency_checks")
    with pytest.raises(ValueError, match=r"\['nowhere'\] are not declared"):
        derivation_order((_derived("a", "nowhere"),))
    with pytest.raises(ValueError, match="cycle"):
        derivation_order((_derived("a", "b"), _derived("b", "a")))


def test_the_record_consistency_checks_sync_job_of_0_42_builds_both_tables(tmp_path, monkeypatch):
    folder = _records_folder(tmp_path, "v2_record.json", "real/v1_pophys_derived_qc_692478.json")
    root = str(tmp_path / "store")
    report = run_sync_job("record_consistency_checks", source=str(folder), root=root, progress=False)
    assert {"record_consistency_results", "record_consistency_checks"} <= set(report.tables_written)
    _, checks = _read(monkeypatch, root)
    assert checks[DUPLICATE]["failed_count"] == 2  # the two records named SHARED_NAME


def test_a_listing_location_that_cannot_be_reached_leaves_its_check_not_evaluated_and_the_build_goes_on(
    tmp_path, monkeypatch
):
    import socket

    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # a filesystem cached by an earlier test knows another endpoint
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("BIODATA_CACHE_OPEN_DATA_ROOT", "s3://aind-open-data")
    folder = _records_folder(tmp_path, "real/v1_slap2_raw.json")
    root = str(tmp_path / "store")
    report = update_all_tables(source=str(folder), root=root, progress=False)
    assert report.rows["asset_basics"] == 1  # every other table was built and published
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    missing = bdc.record_consistency_checks().set_index("check_key").loc[MISSING]
    assert not missing["evaluated"]
    assert missing["not_evaluated_reason"].startswith("listing failed: StoreUnavailableError")
