"""qc along a lineage at its edges: incremental builds that must equal a full build, rows without a
subject, releases without the qc_raw_assets index, assets without a data level, cycles in source_data."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_qc_lineage import metric, record, write

from biodata_cache.sync import update_all_tables

RAW = "ecephys_1_2025-01-01_10-00-00"
OLD = f"{RAW}_sorted_2025-02-01_00-00-00"
NEW = f"{RAW}_sorted_2025-06-01_00-00-00"


def _published(root: str) -> tuple[list, list]:
    base = Path(root, "bdc-v0.1")
    rows = []
    for path in sorted(glob.glob(f"{base}/qc/*/*.pqt")):
        for r in pq.read_table(path).to_pylist():
            rows.append((Path(path).parent.name, r["asset_name"], r["metric_index"], r["raw_asset_name"]))
    (index,) = glob.glob(f"{base}/qc_raw_assets-*.pqt")
    return sorted(rows), pq.read_table(index).to_pylist()


def test_incremental_revives_an_older_chain_whose_subject_had_only_dropped_rows(tmp_path):
    # OLD (subject 2) is an older chain of RAW (subject 1) than NEW (subject 1): every row of subject 2
    # is left out, so qc_raw_assets has no (RAW, "2") entry. Deleting NEW makes OLD the newest chain:
    # the incremental build must reopen subject 2 (a subject of RAW's chain) as a full build does.
    folder = tmp_path / "records"
    write(
        folder,
        record(RAW, "1", [metric("a")]),
        record(OLD, "2", [metric("a"), metric("x")], [RAW]),
        record(NEW, "1", [metric("a"), metric("y")], [RAW]),
    )
    incremental, full = str(tmp_path / "inc"), str(tmp_path / "full")
    update_all_tables(source=str(folder), root=incremental, progress=False)
    (folder / f"{NEW}.json").unlink()
    report = update_all_tables(source=str(folder), root=incremental, progress=False)
    assert not report.full
    update_all_tables(source=str(folder), root=full, progress=False, full=True)
    assert _published(incremental) == _published(full)


def _store(tmp_path, monkeypatch, *records):
    folder = tmp_path / "records"
    write(folder, *records)
    root = str(tmp_path / "store")
    update_all_tables(source=str(folder), root=root, progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    return root


def test_lazy_location_of_a_raw_asset_without_subject_is_its_partition_not_every_partition(
    tmp_path, monkeypatch
):
    import biodata_cache as bdc

    root = _store(
        tmp_path, monkeypatch, record(RAW, None, [metric("a")]), record("ecephys_2_x", "2", [metric("a")])
    )
    location = bdc.qc(raw_asset_name=RAW, lazy=True)
    assert "*" not in location, location
    assert pq.read_table(location).column("raw_asset_name").to_pylist() == [RAW]
    assert root


def test_positional_raw_asset_reads_its_qc_on_a_release_without_the_index(tmp_path, monkeypatch):
    import os

    import biodata_cache as bdc
    from biodata_cache.publish import publish_catalogs
    from biodata_cache.store import Store

    root = _store(tmp_path, monkeypatch, record(RAW, "1", [metric("a")]))
    (index,) = glob.glob(f"{root}/bdc-v0.1/qc_raw_assets-*.pqt")
    os.remove(index)  # as a release published before qc_raw_assets: neither its file nor its entry
    registry_file = Path(root, "bdc-v0.1", "cache_registry.json")
    registry = json.loads(registry_file.read_text())
    registry["tables"] = [t for t in registry["tables"] if t["name"] != "qc_raw_assets"]
    registry_file.write_text(json.dumps(registry))
    publish_catalogs(Store(root), "bdc-v0.1")
    assert len(bdc.qc(raw_asset_name=RAW)) == 1
    # Without the index, a name that is not a subject id is read as a raw asset name.
    assert len(bdc.qc(RAW)) == 1


def test_a_positional_value_without_underscore_is_a_subject_id_and_warns_if_unknown(tmp_path, monkeypatch):
    import biodata_cache as bdc

    # AIND asset names have "_", subject ids do not: only a value with "_" is looked up as a raw asset
    # (so a subject's call reads no index). Another name is read as a subject id, and warns.
    _store(tmp_path, monkeypatch, record("rawasset1", "7", [metric("a")]))
    assert len(bdc.qc(raw_asset_name="rawasset1")) == 1
    with pytest.warns(bdc.NoMatchWarning, match="subject_id 'rawasset1'"):
        assert bdc.qc("rawasset1").empty


def test_qc_raw_assets_reader_named_in_the_docs_exists():
    import biodata_cache as bdc

    # docs/reference/tables/qc_raw_assets.md: "biodata_cache.qc_raw_assets()  # -> pandas.DataFrame"
    assert hasattr(bdc, "qc_raw_assets")


def test_an_asset_without_data_level_is_not_called_derived(tmp_path, monkeypatch):
    import biodata_cache as bdc

    name = "ecephys_9_2025-01-01_10-00-00"
    unlabelled = record(name, "9", [])
    del unlabelled["data_description"]["data_level"]  # no data_level, no source_data: a lineage root
    _store(tmp_path, monkeypatch, unlabelled, record("ecephys_8_2025-01-01_10-00-00", "8", [metric("a")]))
    assert bdc.qc(raw_asset_name=name).empty  # read as a raw asset without metrics
    # Only an asset recorded as derived is called derived.
    assert bdc.qc(name).empty


def test_an_asset_in_a_source_data_cycle_is_not_a_raw_asset(tmp_path, monkeypatch):
    import biodata_cache as bdc

    a, b = f"{RAW}_p_2025-02-01_00-00-00", f"{RAW}_q_2025-03-01_00-00-00"
    _store(
        tmp_path,
        monkeypatch,
        record(RAW, "1", [metric("a")]),
        record(a, "1", [metric("a"), metric("x")], [b]),
        record(b, "1", [metric("a"), metric("y")], [a, RAW]),
    )
    # A path that closes a cycle leads to no root: a and b are under RAW, the one raw asset.
    assert set(bdc.read_table("qc_raw_assets").column("raw_asset_name").to_pylist()) == {RAW}


def test_incremental_build_keeps_the_rows_of_an_unchanged_record_sharing_a_name(tmp_path):
    # Two records of one asset name (DocDB has such pairs); editing one must not drop the other's rows
    # from the tables whose rows name the asset (source_data, time_to_qc, qc): rows are keyed by _id.
    import json

    first = record(OLD, "1", [metric("a")], [RAW])
    second = {**first, "_id": "second-record", "quality_control": {"metrics": [metric("b")]}}
    folder = tmp_path / "records"
    write(folder, first)
    (folder / "second.json").write_text(json.dumps(second))
    root, full = str(tmp_path / "store"), str(tmp_path / "full")
    update_all_tables(source=str(folder), root=root, progress=False)
    first["_last_modified"] = "2026-02-01T00:00:00Z"
    first["data_description"]["project_name"] = "edited"
    write(folder, first)
    assert not update_all_tables(source=str(folder), root=root, progress=False).full
    update_all_tables(source=str(folder), root=full, progress=False)
    for table in ("source_data", "time_to_qc"):
        (incremental,) = [pq.read_table(p) for p in Path(root, "bdc-v0.1").glob(f"{table}-*.pqt")]
        (rebuilt,) = [pq.read_table(p) for p in Path(full, "bdc-v0.1").glob(f"{table}-*.pqt")]
        assert incremental.equals(rebuilt)
        assert sorted(incremental.column("_id").to_pylist()) == [OLD, "second-record"]
    assert _published(root) == _published(full)
