"""Builds that fail (an exception, not a kill) and clean-ups that fail.

A failed build removes what it wrote before it raises, so the DuckDB globs of the how-to never count its
files; a clean-up that fails after a commit leaves a committed, incremental-ready release and a warning;
a file the committed release names but that is missing stops an incremental build with the fix.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from test_atomic_releases import _duckdb_rows, _source, _stray_files

import biodata_cache as bdc
from biodata_cache import publish
from biodata_cache.store import DamagedObjectError, Store, StoreError
from biodata_cache.sync import update_all_tables


def _glob_rows(root: str) -> int:
    """Rows of ``qc/*/*.pqt`` read as the DuckDB how-to reads them (every file the glob matches)."""
    return _duckdb_rows(root)[0]


@pytest.fixture
def published(tmp_path, monkeypatch):
    """A local store with one release of 12 subjects, and the JSONL file its records come from."""
    records = tmp_path / "records.jsonl"
    records.write_text(Path(_source(tmp_path / "one.jsonl", 1, 12)).read_text())
    root = str(tmp_path / "store")
    update_all_tables(source=str(records), root=root, progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    return root, records, tmp_path


def test_a_build_failing_before_its_commit_removes_the_files_it_wrote(published, monkeypatch):
    root, records, tmp_path = published
    before = bdc.qc()
    records.write_text(Path(_source(tmp_path / "two.jsonl", 2, 12)).read_text())

    def fail(*args, **kwargs):
        raise RuntimeError("the build failed just before its commit")

    monkeypatch.setattr(publish, "publish_registry", fail)
    with pytest.raises(RuntimeError, match="just before its commit"):
        update_all_tables(source=str(records), root=root, progress=False)
    assert not _stray_files(root)  # its data files, manifests and temporary files are gone
    assert _glob_rows(root) == len(before) == bdc.get_cache_registry()["qc"].rows
    assert bdc.qc().equals(before)


def test_a_clean_up_failing_after_the_commit_keeps_the_release_and_the_next_build_incremental(
    published, monkeypatch, caplog
):
    root, records, tmp_path = published
    records.write_text(Path(_source(tmp_path / "two.jsonl", 2, 12)).read_text())
    real = publish.remove_unreferenced

    def fail(*args, **kwargs):
        raise StoreError("SlowDown: Please reduce your request rate.")

    monkeypatch.setattr(publish, "remove_unreferenced", fail)
    with caplog.at_level(logging.WARNING, logger="biodata_cache.publish"):
        report = update_all_tables(source=str(records), root=root, progress=False)
    assert "could not be removed" in caplog.text and "SlowDown" in caplog.text
    assert report.rows["qc"] == bdc.get_cache_registry()["qc"].rows == len(bdc.qc())
    assert _stray_files(root)  # the superseded files are still there ...
    monkeypatch.setattr(publish, "remove_unreferenced", real)
    records.write_text(records.read_text().replace("project-2-v2", "project-2-v3"))
    again = update_all_tables(source=str(records), root=root, progress=False)
    assert not again.full  # ... the build state was written: the next build is incremental
    assert again.files_removed > 0 and not _stray_files(root)  # and it removes them


def test_an_incremental_build_stops_when_a_file_of_the_committed_release_is_missing(published):
    root, records, tmp_path = published
    registry = json.loads(Path(root, "bdc-v0.1", "cache_registry.json").read_text())
    asset_basics = next(t for t in registry["tables"] if t["name"] == "asset_basics")
    Path(root, "bdc-v0.1", asset_basics["path"]).unlink()
    records.write_text(Path(_source(tmp_path / "two.jsonl", 2, 12)).read_text())
    with pytest.raises(DamagedObjectError, match=r"is missing, although the committed release.*--full"):
        update_all_tables(source=str(records), root=root, progress=False)
    report = update_all_tables(source=str(records), root=root, progress=False, full=True)
    assert report.rows["asset_basics"] == len(bdc.asset_basics())


def test_keys_s3_refuses_to_delete_are_an_error_naming_them(s3_root, monkeypatch):
    store = Store(s3_root)
    for name in ("a", "b", "c"):
        store.write_bytes(f"bdc-v0.1/qc/{name}.pqt", b"x")
    real = store.fs.call_s3

    def refuse_b(method, *args, **kwargs):  # S3 answers 200 and lists refused keys in Errors
        response = real(method, *args, **kwargs)
        if method == "delete_objects":
            response["Errors"] = [
                {
                    "Key": "data-asset-cache/bdc-v0.1/qc/b.pqt",
                    "Code": "AccessDenied",
                    "Message": "Access Denied",
                }
            ]
        return response

    monkeypatch.setattr(store.fs, "call_s3", refuse_b)
    with pytest.raises(StoreError, match=r"could not delete 1 of 3 objects.*qc/b\.pqt \(AccessDenied"):
        store.delete_many([f"bdc-v0.1/qc/{name}.pqt" for name in ("a", "b", "c")])


def test_a_qc_partition_write_failing_while_other_buckets_are_written_fails_the_build(published, monkeypatch):
    root, records, _ = published
    before = bdc.qc()
    real = Store.write_parquet
    qc_writes = []

    def fail_the_third_qc_partition(self, relpath, table, **options):
        if "/qc/subject_id=" in relpath:
            qc_writes.append(relpath)
            if len(qc_writes) == 3:
                raise StoreError(f"SlowDown: Please reduce your request rate ({relpath}).")
        return real(self, relpath, table, **options)

    monkeypatch.setattr(Store, "write_parquet", fail_the_third_qc_partition)
    with pytest.raises(StoreError, match="SlowDown"):
        update_all_tables(source=str(records), root=root, progress=False, full=True)
    assert len(qc_writes) >= 3  # the partitions are spread over several buckets: later ones were written too
    assert not _stray_files(root)
    assert bdc.qc().equals(before) and _glob_rows(root) == len(before)
