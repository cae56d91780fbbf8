"""force_update= on every reader (biodata-cache 0.42's parameter): a store this process builds is brought up
to date from the source first; a shared store is never written by a reader and says how to publish instead."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import biodata_cache as bdc
from biodata_cache import readers
from biodata_cache.errors import InvalidInputError

RECORDS = Path(__file__).parent / "data" / "aind_records"
RAW = "828418_2026-02-13_18-31-13"


@pytest.fixture
def local_store(monkeypatch, tmp_path) -> Path:
    """A LOCAL store built on first read from a folder of the three v2 records."""
    records = tmp_path / "records"
    records.mkdir()
    for path in RECORDS.glob("*.json"):
        shutil.copy(path, records)
    root = tmp_path / "store"
    root.mkdir()
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", "LOCAL")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(root))
    monkeypatch.setenv("BIODATA_CACHE_SOURCE", str(records))
    return records


def _edit_project(records: Path, project: str) -> None:
    path = records / "v2_raw.json"
    record = json.loads(path.read_text())
    record["data_description"]["project_name"] = project
    record["_last_modified"] = "2026-11-24T12:00:00.000Z"
    path.write_text(json.dumps(record))


def test_force_update_reads_a_record_changed_in_the_source_since_the_store_was_built(local_store):
    assert "Edited project" not in bdc.unique_project_names()  # the first read builds the store
    _edit_project(local_store, "Edited project")
    assert "Edited project" not in bdc.unique_project_names()  # the store, as built
    assert "Edited project" in bdc.unique_project_names(force_update=True)
    assert bdc.asset_basics(name=RAW)["project_name"].tolist() == ["Edited project"]


@pytest.mark.parametrize(
    "call",
    [
        lambda: bdc.unique_project_names(force_update=True),
        lambda: bdc.unique_subject_ids(force_update=True),
        lambda: bdc.unique_genotypes(force_update=True),
        lambda: bdc.asset_basics(force_update=True),
        lambda: bdc.source_data(force_update=True),
        lambda: bdc.qc("828418", force_update=True),
        lambda: bdc.qc_status(force_update=True),
        lambda: bdc.metadata_core(force_update=True),
        lambda: bdc.time_to_qc(force_update=True),
        lambda: bdc.raw_to_derived(RAW, force_update=True),
        lambda: bdc.read_table("asset_basics", force_update=True),
    ],
)
def test_every_reader_takes_force_update(local_store, call):
    _edit_project(local_store, "Seen by every reader")
    call()
    assert "Seen by every reader" in bdc.unique_project_names()


def test_force_update_of_a_shared_store_says_how_to_publish_and_reads_nothing(monkeypatch):
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", "S3")
    with pytest.raises(InvalidInputError, match=r"a shared store \(backend S3\).*biodata-cache --root"):
        bdc.asset_basics(force_update=True)


def test_force_update_of_another_version_or_a_missing_folder_is_refused(monkeypatch, local_store, tmp_path):
    with pytest.raises(InvalidInputError, match=r"version bdc-v0\.0"):
        bdc.qc_status(force_update=True, version="0.0")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path / "typo"))
    with pytest.raises(InvalidInputError, match="a folder that does not exist"):
        bdc.metadata_core(force_update=True)
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_force_update_must_be_a_bool(local_store, value):
    with pytest.raises(InvalidInputError, match="force_update must be True or False"):
        readers.asset_basics(force_update=value)
