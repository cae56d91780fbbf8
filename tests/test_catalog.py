"""The generated Intake catalogs, read with intake itself, DuckDB, pandas and Dask."""

from __future__ import annotations

import shutil
import warnings

import intake
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
import yaml
from helpers import publish_fixture

import biodata_cache as bdc
from biodata_cache.catalog import CATALOG_FILE
from biodata_cache.tables import TABLES_BY_NAME


@pytest.fixture(autouse=True)
def _quiet_intake_shell_warning():
    # intake 2.0.9 warns "Shell command not executed" for every str parameter value it sees.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Shell command not executed")
        yield


def test_version_catalog_is_legacy_yaml_with_relative_urlpaths_and_release(tmp_path):
    publish_fixture(str(tmp_path))
    document = yaml.safe_load((tmp_path / "bdc-v0.1" / CATALOG_FILE).read_text())
    assert "version" not in document["metadata"]
    assert document["metadata"]["release"] == "bdc-v0.1"
    for entry in document["sources"].values():
        assert entry["args"]["urlpath"].startswith("{{ CATALOG_DIR }}/")
        assert entry["driver"] == "biodata_parquet"
    assert document["sources"]["qc"]["parameters"]["subject_id"]["type"] == "str"


def test_top_level_catalog_nests_each_version_and_latest(tmp_path):
    publish_fixture(str(tmp_path), version="0.1")
    publish_fixture(str(tmp_path), version="0.2")
    cat = intake.open_catalog(str(tmp_path / CATALOG_FILE))
    assert list(cat) == ["bdc-v0.1", "bdc-v0.2", "latest"]
    assert cat.latest.metadata["release"] == "bdc-v0.2"
    assert cat["bdc-v0.1"].qc(subject_id="692478").read()["subject_id"].tolist() == ["692478"] * 2


def test_intake_on_s3_gets_storage_options_through_to_entries(s3_root, s3_endpoint, monkeypatch):
    publish_fixture(s3_root)
    # With the endpoint guard back in place, only the storage_options can reach the moto server.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    options = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}
    cat = intake.open_catalog(f"{s3_root}/bdc-v0.1/{CATALOG_FILE}", storage_options=options)
    frame = cat.qc(subject_id="692478").read()
    assert frame["subject_id"].tolist() == ["692478", "692478"]
    assert len(cat.asset_basics.read()) == 5
    top = intake.open_catalog(f"{s3_root}/{CATALOG_FILE}", storage_options=options)
    assert len(top.latest.asset_basics.read()) == 5


def test_copied_folder_keeps_working(tmp_path, monkeypatch):
    publish_fixture(str(tmp_path / "original"))
    shutil.copytree(tmp_path / "original", tmp_path / "copy")
    shutil.rmtree(tmp_path / "original")
    cat = intake.open_catalog(str(tmp_path / "copy" / CATALOG_FILE))
    assert sorted(cat.latest.unique_subject_ids.read()["subject_id"]) == ["692478", "828418"]
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path / "copy"))
    assert bdc.qc("828418")["name"].tolist() == ["licks"]


def test_qc_entry_discover_read_and_dask_keep_string_subject_ids(tmp_path):
    publish_fixture(str(tmp_path))
    cat = intake.open_catalog(str(tmp_path / "bdc-v0.1" / CATALOG_FILE))
    one = cat.qc(subject_id="692478")
    info = one.discover()
    assert info["shape"] == (2, len(TABLES_BY_NAME["qc"].columns))
    assert info["dtype"]["subject_id"] == "string"
    lazy = one.to_dask()
    assert lazy.compute()["subject_id"].tolist() == ["692478", "692478"]
    everything = cat.qc.to_dask().compute()
    assert sorted(everything["subject_id"]) == ["692478", "692478", "828418", "a/b=c"]
    assert cat.qc.discover()["shape"] == (4, len(TABLES_BY_NAME["qc"].columns))
    assert cat.asset_basics.discover()["shape"] == (5, 24)


def test_plain_pandas_with_string_partitioning_keeps_subject_ids(tmp_path):
    import pandas as pd

    publish_fixture(str(tmp_path))
    partitioning = ds.partitioning(pa.schema([("subject_id", pa.string())]), flavor="hive")
    frame = pd.read_parquet(tmp_path / "bdc-v0.1" / "qc", partitioning=partitioning)
    assert sorted(frame["subject_id"]) == ["692478", "692478", "828418", "a/b=c"]


def test_duckdb_reads_published_layout_with_hive_partitioning(tmp_path):
    import duckdb

    publish_fixture(str(tmp_path))
    folder = tmp_path / "bdc-v0.1"
    rows = duckdb.sql(
        f"select subject_id, count(*) as n from read_parquet('{folder}/qc/*/*.pqt', "
        f"hive_partitioning=true, hive_types={{'subject_id': VARCHAR}}) group by 1 order by 1"
    ).fetchall()
    assert rows == [("692478", 2), ("828418", 1), ("a/b=c", 1)]
    names = duckdb.sql(f"select count(*) from read_parquet('{folder}/asset_basics-*.pqt')").fetchall()
    assert names == [(5,)]


def test_qc_of_one_subject_opens_one_file_without_listing_the_table(monkeypatch):
    from fsspec.implementations.memory import MemoryFileSystem

    root = "memory://many"
    rows = {"qc": [{"subject_id": str(600000 + i), "asset_name": f"a{i}", "name": "m"} for i in range(300)]}
    publish_fixture(root, rows=rows)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    calls: list[str] = []
    for method in ("ls", "find", "glob", "walk"):
        original = getattr(MemoryFileSystem, method)

        def spy(self, path, *args, _original=original, _method=method, **kwargs):
            calls.append(f"{_method} {path}")
            return _original(self, path, *args, **kwargs)

        monkeypatch.setattr(MemoryFileSystem, method, spy)
    frame = bdc.qc("600123")
    assert frame["asset_name"].tolist() == ["a123"]
    assert [c for c in calls if "/qc" in c] == []


def test_committed_catalogs_match_the_table_declarations(tmp_path):
    from pathlib import Path

    from biodata_cache.catalog import write_repository_catalogs

    repository = Path(__file__).resolve().parent.parent / "catalogs"
    write_repository_catalogs(tmp_path)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.yaml"))
    committed = sorted(p.relative_to(repository) for p in repository.rglob("*.yaml"))
    assert generated == committed
    for relative in generated:
        assert (tmp_path / relative).read_text() == (repository / relative).read_text(), (
            f"catalogs/{relative} is stale: run `make generated` and commit the result"
        )


def test_intake_cat_biodata_cache_opens_the_production_root(s3_root, monkeypatch):
    publish_fixture(s3_root)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    production = intake.cat.biodata_cache
    assert list(production) == ["bdc-v0.1", "latest"]
    assert production.latest.qc(subject_id="828418").read()["name"].tolist() == ["licks"]


def test_entries_describe_and_tab_complete(tmp_path, monkeypatch):
    publish_fixture(str(tmp_path))
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path))
    cat = bdc.open_catalog()
    assert {"asset_basics", "qc", "time_to_qc"} <= set(dir(cat))
    assert "qc" in cat._ipython_key_completions_()
    described = cat.qc(subject_id="692478").describe()
    assert described["name"] == "qc"
    assert [p["name"] for p in described["user_parameters"]] == ["subject_id"]
    assert cat.qc(subject_id="692478").to_dask().npartitions == 1
    assert cat.qc.to_dask().npartitions == 3  # one per subject file
