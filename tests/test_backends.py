"""Backend names, the CODEOCEAN backend, Code Ocean asset mounts as a source, and 0.42's sync entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest
from helpers import publish_fixture

import biodata_cache
from biodata_cache import config
from biodata_cache.errors import InvalidInputError, StoreAccessError
from biodata_cache.sources import MOUNT_COMPONENTS, MOUNT_ID_NAMESPACE, mount_record_id, open_source
from biodata_cache.sync import run_sync_job, update_all_tables


@pytest.mark.parametrize(
    ("given", "backend"),
    [(" s3 ", "S3"), ("Memory", "MEMORY"), ("memory", "MEMORY"), ("\tlocal\n", "LOCAL"), ("S3", "S3")],
)
def test_backend_name_is_case_insensitive_and_stripped(monkeypatch, given, backend):
    assert config.resolve(backend=given).backend == backend
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", given)
    assert config.resolve().backend == backend


@pytest.mark.parametrize("given", ["s4", "mem ory", "LOCAL_FOLDER"])
def test_unknown_backend_name_lists_the_valid_ones(monkeypatch, given):
    with pytest.raises(InvalidInputError, match=r"backend=.* is not a backend; choose one of S3, MEMORY"):
        config.resolve(backend=given)
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", given)
    with pytest.raises(InvalidInputError, match=r"BIODATA_CACHE_BACKEND=.* is not a backend"):
        config.resolve()


def test_backend_that_is_not_a_string_is_an_input_error():
    with pytest.raises(InvalidInputError, match="backend must be a string"):
        config.resolve(backend=3)  # type: ignore[arg-type]


def test_cli_backend_option_takes_any_case_and_rejects_unknown_names(tmp_path):
    environment = {**os.environ, "BIODATA_CACHE_ROOT": str(tmp_path / "store")}
    command = [sys.executable, "-m", "biodata_cache.cli"]
    built = subprocess.run(
        [*command, "--backend", " Local ", "build", "--source", "sample", "--no-progress", "--workers", "1"],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert built.returncode == 0, built.stderr
    wrong = subprocess.run(
        [*command, "--backend", "s4", "versions"], capture_output=True, text=True, env=environment
    )
    assert wrong.returncode == 1
    assert "--backend 's4' is not a backend; choose one of S3, MEMORY, LOCAL" in wrong.stderr
    assert "Traceback" not in wrong.stderr


# --- Code Ocean asset mounts as a source ------------------------------------------------------------

RECORDS = Path(__file__).parent / "data" / "aind_records"
V1_RECORD = RECORDS / "real" / "v1_behavior_raw_0219.json"
#: What a mount of component files cannot hold: the record's top-level fields besides the components.
WHOLE_RECORD_ONLY = (
    "_id",
    "location",
    "code_ocean",
    "created",
    "last_modified",
    "_created",
    "_last_modified",
)


def _whole_records() -> list[dict]:
    paths = [RECORDS / "v2_raw.json", RECORDS / "v2_derived.json", V1_RECORD]
    return [json.loads(path.read_text()) for path in paths]


def _mount_components(folder: Path, record: dict) -> Path:
    """Write ``record`` as a Code Ocean asset mount of component files only (no metadata.json)."""
    mount = folder / record["name"]
    mount.mkdir(parents=True)
    for component in MOUNT_COMPONENTS:
        if isinstance(record.get(component), dict):
            (mount / f"{component}.json").write_text(json.dumps(record[component]))
    return mount


def _basics(monkeypatch: pytest.MonkeyPatch, root: Path) -> pd.DataFrame:
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(root))
    return biodata_cache.asset_basics().set_index("name").sort_index()


def test_component_files_folder_is_a_source(tmp_path, monkeypatch):
    records = _whole_records()
    data = tmp_path / "data"
    for record in records:
        _mount_components(data, record)
    (data / "scratch").mkdir()  # a folder with no metadata files is not an asset

    assembled = sorted(open_source(str(data)).records(), key=lambda r: r["name"])
    assert [r["name"] for r in assembled] == sorted(r["name"] for r in records)
    for record in assembled:
        assert record["_id"] == mount_record_id(record["name"])
        assert record["location"] == str(data / record["name"])
    assert next(r for r in assembled if "session" in r)["session"]["session_start_time"]  # v1 session.json

    whole = tmp_path / "whole"
    whole.mkdir()
    for record in records:
        (whole / f"{record['name']}.json").write_text(json.dumps(record))
    update_all_tables(source=str(whole), root=str(tmp_path / "from-records"), progress=False)
    report = update_all_tables(source=str(data), root=str(tmp_path / "from-mounts"), progress=False)
    assert report.records_skipped == 0
    from_records = _basics(monkeypatch, tmp_path / "from-records")
    from_mounts = _basics(monkeypatch, tmp_path / "from-mounts")
    assert list(from_mounts.index) == list(from_records.index)
    same = [column for column in from_records.columns if column not in WHOLE_RECORD_ONLY]
    pd.testing.assert_frame_equal(from_mounts[same], from_records[same])


def test_component_mount_name_falls_back_to_the_folder_and_id_is_stable(tmp_path):
    (record,) = _whole_records()[:1]
    description = dict(record["data_description"])
    del description["name"]
    mount = tmp_path / "data" / "my-asset"
    mount.mkdir(parents=True)
    (mount / "data_description.json").write_text(json.dumps(description))
    (mount / "subject.json").write_text(json.dumps(record["subject"]))
    (assembled,) = open_source(str(tmp_path / "data")).records()
    assert assembled["name"] == "my-asset"
    assert assembled["_id"] == mount_record_id("my-asset") == str(uuid.uuid5(MOUNT_ID_NAMESPACE, "my-asset"))
    # The mount itself given as the source (a capsule's /data/<asset>/) is the same one record.
    (alone,) = open_source(str(mount)).records()
    assert alone == assembled


def test_metadata_nd_json_mount_keeps_its_id_and_a_mount_without_description_is_a_bad_record(tmp_path):
    raw, derived = _whole_records()[:2]
    good = tmp_path / "data" / "asset"
    good.mkdir(parents=True)
    (good / "metadata.nd.json").write_text(json.dumps(raw))
    lonely = tmp_path / "data" / "lonely"
    lonely.mkdir()
    (lonely / "subject.json").write_text(json.dumps(derived["subject"]))
    skipped: list[tuple[str, str]] = []
    records = list(open_source(str(tmp_path / "data")).records(skip=lambda w, r: skipped.append((w, r))))
    assert [(r["_id"], r["name"], r["location"]) for r in records] == [
        (raw["_id"], raw["name"], raw["location"])
    ]
    assert skipped == [
        (str(lonely), "an asset mount needs metadata.json or data_description.json, found only subject.json")
    ]


# --- 0.42's sync entry points -------------------------------------------------------------------------


def _published(root: Path) -> dict[str, int]:
    """Table name -> rows of the registry published at ``root``."""
    document = json.loads((root / config.version_folder(None) / "cache_registry.json").read_text())
    return {table["name"]: table["rows"] for table in document["tables"]}


def test_run_sync_job_builds_like_update_all_tables(tmp_path, monkeypatch):
    update_all_tables(source=str(RECORDS), root=str(tmp_path / "all"), progress=False)
    report = run_sync_job("qc", source=str(RECORDS), root=str(tmp_path / "job"), progress=False)
    assert report.records_read == 3
    assert _published(tmp_path / "job") == _published(tmp_path / "all")
    assert _published(tmp_path / "job")["qc"] > 0
    pd.testing.assert_frame_equal(
        _basics(monkeypatch, tmp_path / "job"), _basics(monkeypatch, tmp_path / "all")
    )
    # The job named by BIODATA_CACHE_SYNC_JOB, as a 0.42 capsule selects it; a second job finds nothing new.
    monkeypatch.setenv("BIODATA_CACHE_SYNC_JOB", " asset_basics ")
    again = run_sync_job(source=str(RECORDS), root=str(tmp_path / "job"), progress=False)
    assert again.tables_written == []


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ("pophys", r"0\.42's 'pophys' job built tables this package does not have; nothing was built"),
        (
            "Fast",
            r"job='Fast' is not a sync job; choose one of asset_basics, fast, qc, qc_status, time_to_qc, "
            r"smartspim, exaspim, exaspim_intermediates",
        ),
        (None, r"no sync job given: pass job= or set BIODATA_CACHE_SYNC_JOB"),
        (3, r"job must be a string"),
    ],
)
def test_run_sync_job_refuses_jobs_it_cannot_run_and_builds_nothing(tmp_path, job, message):
    with pytest.raises(InvalidInputError, match=message):
        run_sync_job(job, source=str(RECORDS), root=str(tmp_path / "store"), progress=False)
    assert not (tmp_path / "store").exists()


def test_update_all_tables_takes_0_42_fast_and_slow_flags_and_builds_every_table(tmp_path):
    update_all_tables(True, False, source=str(RECORDS), root=str(tmp_path / "a"), progress=False)
    update_all_tables(fast=False, slow=False, source=str(RECORDS), root=str(tmp_path / "b"), progress=False)
    assert _published(tmp_path / "a") == _published(tmp_path / "b")
    assert set(_published(tmp_path / "a")) >= {"asset_basics", "qc", "unique_subject_ids", "time_to_qc"}
    with pytest.raises(InvalidInputError, match="slow must be True or False, got str 'no'"):
        update_all_tables(slow="no", source=str(RECORDS), root=str(tmp_path / "c"))  # type: ignore[arg-type]
    assert not (tmp_path / "c").exists()


# --- the CODEOCEAN backend ------------------------------------------------------------------------------


def _files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


@pytest.mark.parametrize(
    ("layout", "root"),
    [
        ("asset/data-asset-cache", "data"),  # a data asset made from the bucket's data-asset-cache/ prefix
        ("asset", "data"),  # a data asset made from a store root
        ("data-asset-cache", "data"),  # the prefix attached straight under the root
        ("asset", "data/asset"),  # BIODATA_CACHE_ROOT naming the mount
    ],
)
def test_codeocean_backend_reads_attached_store(tmp_path, monkeypatch, layout, root):
    publish_fixture(str(tmp_path / "data" / layout))
    (tmp_path / "data" / "raw_asset").mkdir()  # another attached asset, not a store
    (tmp_path / "data" / "raw_asset" / "data_description.json").write_text("{}")
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", " CodeOcean ")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path / root))
    settings = config.resolve()
    assert (settings.backend, settings.root) == ("CODEOCEAN", str(tmp_path / "data" / layout))
    assert not settings.builds_on_read
    assert biodata_cache.get_cache_versions() == [config.version_folder(None)]
    assert biodata_cache.unique_subject_ids() == ["692478", "828418"]
    assert list(biodata_cache.asset_basics(subject_id="828418")["name"]) == [
        "behavior_828418_raw",
        "behavior_828418_raw_processed_2024-04-01_00-00-00",
    ]
    assert list(biodata_cache.qc("692478")["status"]) == ["Pass", "Pending"]


def test_codeocean_backend_refuses_to_build(tmp_path, monkeypatch):
    attached = tmp_path / "data" / "asset"
    publish_fixture(str(attached))
    before = _files(attached)
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", "codeocean")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path / "data"))
    read_only = r"read-only: nothing is built or written there\. To build tables, pass a writable root"
    with pytest.raises(StoreAccessError, match=read_only):
        update_all_tables(source=str(RECORDS), progress=False)
    with pytest.raises(StoreAccessError, match=read_only):
        run_sync_job("asset_basics", source=str(RECORDS), progress=False)
    with pytest.raises(StoreAccessError, match=read_only):
        biodata_cache.custom("mine", pd.DataFrame({"a": [1]}))
    with pytest.raises(InvalidInputError, match=r"is a data asset attached read-only \(backend CODEOCEAN\)"):
        biodata_cache.asset_basics(force_update=True)
    command = [sys.executable, "-m", "biodata_cache.cli", "build", "--source", str(RECORDS), "--no-progress"]
    cli = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ))
    assert cli.returncode == 1
    assert "read-only" in cli.stderr and "Traceback" not in cli.stderr
    republish = [sys.executable, "-m", "biodata_cache.cli", "catalog", "--republish"]
    cli = subprocess.run(republish, capture_output=True, text=True, env=dict(os.environ))
    assert cli.returncode == 1
    assert "read-only" in cli.stderr and "Traceback" not in cli.stderr
    assert _files(attached) == before
    # Building into a writable root named explicitly works under the same settings.
    update_all_tables(source=str(RECORDS), root=str(tmp_path / "results" / "store"), progress=False)
    assert _published(tmp_path / "results" / "store")["asset_basics"] == 3


def test_codeocean_backend_without_one_store_says_what_to_attach(tmp_path, monkeypatch):
    data = tmp_path / "data"
    _mount_components(data, _whole_records()[0])
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", "CODEOCEAN")
    with pytest.raises(InvalidInputError, match=r"default root /data\): /data does not exist"):
        config.resolve()
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(data))
    with pytest.raises(InvalidInputError, match=r"no biodata-cache store in .*BIODATA_CACHE_SOURCE="):
        biodata_cache.asset_basics()
    publish_fixture(str(data / "one"))
    publish_fixture(str(data / "two" / "data-asset-cache"))
    with pytest.raises(InvalidInputError, match=r"holds more than one biodata-cache store"):
        config.resolve()
    monkeypatch.setenv("BIODATA_CACHE_ROOT", "s3://bucket/prefix")
    with pytest.raises(InvalidInputError, match=r"reads a folder attached to the capsule, not a URL"):
        config.resolve()
