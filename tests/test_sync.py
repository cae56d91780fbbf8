"""Building and publishing: one pass, every table, incremental updates, failure safety."""

from __future__ import annotations

import copy
import json
import logging
import re
import shutil
from pathlib import Path

import intake
import pyarrow as pa
import pytest
from docdb_fake import FakeDocDB, session_for

import biodata_cache as bdc
from biodata_cache.sources import DocDBSource, open_source
from biodata_cache.store import Store
from biodata_cache.sync import update_all_tables
from biodata_cache.tables import TABLES

RECORDS = Path(__file__).parent / "data" / "aind_records"
RAW = "828418_2026-02-13_18-31-13"
DERIVED = "828418_2026-02-13_18-31-13_processed_2026-02-14_12-44-45"


def read_all(monkeypatch: pytest.MonkeyPatch, root: str) -> dict[str, list[dict]]:
    """Every table of the store's current version, as sorted Python rows."""
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    result = {}
    for table in TABLES:
        if table.custom_input:  # built from a custom table these stores do not have: not published
            continue
        rows = bdc.read_table(table.name).to_pylist()
        result[table.name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return result


@pytest.fixture
def records_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "records"
    shutil.copytree(RECORDS, folder)
    return folder


def test_build_from_real_records_fills_every_table(monkeypatch, tmp_path):
    root = str(tmp_path / "store")
    report = update_all_tables(source=str(RECORDS), root=root, progress=False)
    assert report.records_read == 3 and report.full
    assert report.rows == {
        "unique_project_names": 2,
        "unique_subject_ids": 2,
        "unique_genotypes": 2,
        "asset_basics": 3,
        "source_data": 2,
        "qc": 135,
        "qc_raw_assets": 2,
        "qc_status_long": 31,
        "qc_status": 2,  # one row per asset with a QC status: v2_derived.json and v2_record.json
        "metadata_core": 3,
        "time_to_qc": 2,
        # quality_control.status keys: 25 of v2_derived.json + 6 of v2_record.json
        "qc_tag_status": 31,
        # v2_derived.json is the one asset of a platform (behavior, AindVrForaging: vr): its 25 status
        # keys but "Processing" (a stage no behavior metric carries as a tag)
        "platform_qc": 24,
        "platform_fib": 0,  # no fib asset
        "platform_smartspim_fiber_ccf": 0,  # no SPIM asset
        "platform_smartspim_qc_metrics": 0,
        "record_consistency_results": 3,  # the duplicate-name check of each record (no listing)
        "record_consistency_checks": 2,  # one row per declared check
        "platform_smartspim": 0,  # no SmartSPIM / exaSPIM record among the three
        "platform_exaspim": 0,
        "platform_exaspim_intermediates": 0,
        # the three v2 records are neither BCI single-neuron-stim sessions nor V1 Deep Dive assets
        "swdb_2025_bci": 0,
        "swdb_2025_v1dd": 0,
        # rows of the package's course lists (biodata_cache/data/course/*.json, copied from 0.42.26)
        "swdb_2026_bci": 22,
        "swdb_2026_v1dd": 100,
        "swdb_2026_visual_learning": 155,
        "swdb_2026_visual_coding_neuropixels": 57,
        "swdb_2026_visual_coding_ophys": 1518,
        "swdb_2026_dynamic_routing": 12,
        "swdb_2026_neuropixels_opto": 40,
        # metadata_upgrade: not published, there is no custom table metadata_upgrade_status_prod
    }
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    assert bdc.unique_project_names() == [
        "Cognitive flexibility in patch foraging",
        "Learning mFISH-V1omFISH",
    ]
    assert bdc.unique_subject_ids() == ["692478", "828418"]
    assert bdc.raw_to_derived(RAW) == [DERIVED]
    qc = bdc.qc("828418")
    assert len(qc) == 131 and set(qc["raw_asset_name"]) == {RAW}
    assert len(bdc.qc("692478")) == 4
    registry = bdc.get_cache_registry()
    assert registry["qc"].partitions == 2
    assert registry["asset_basics"].source == str(RECORDS)


def test_lineage_root_follows_derived_from_derived(monkeypatch, records_folder, tmp_path):
    derived = json.loads((records_folder / "v2_derived.json").read_text())
    second = copy.deepcopy(derived)
    second["_id"] = "second-level"
    second["name"] = DERIVED + "_analyzed_2026-03-01_00-00-00"
    second["data_description"]["source_data"] = [DERIVED]
    (records_folder / "second.json").write_text(json.dumps(second))
    root = str(tmp_path / "store")
    update_all_tables(source=str(records_folder), root=root, progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    # The second-level asset repeats every metric of the derived one: each is one row, at the derived
    # asset (nearest the raw asset), with the second-level asset downstream.
    qc = bdc.qc("828418")
    assert len(qc) == 131
    assert set(qc["raw_asset_name"]) == {RAW} and set(qc["asset_name"]) == {DERIVED}
    assert all(list(names) == [second["name"]] for names in qc["downstream_asset_names"])
    assert bdc.raw_to_derived(DERIVED) == [second["name"]]


@pytest.mark.parametrize("store_kind", ["memory", "local", "s3"])
def test_sample_end_to_end(monkeypatch, tmp_path, request, store_kind):
    root = {"memory": "memory://sample-build", "local": str(tmp_path / "store")}.get(store_kind)
    if store_kind == "s3":
        root = request.getfixturevalue("s3_root")
    report = update_all_tables(source="sample", root=root, progress=False)
    records = list(open_source("sample").records())
    assert report.rows["asset_basics"] == len(records)
    # At most one qc row per metric (quality_control.metrics[], v1 .evaluations[].metrics[]): metrics
    # repeated along a lineage are one row (tests/test_qc_lineage.py).
    metrics = sum(
        len(quality.get("metrics") or [])
        + sum(len(evaluation.get("metrics") or []) for evaluation in quality.get("evaluations") or [])
        for quality in (r.get("quality_control") or {} for r in records)
    )
    assert 0 < report.rows["qc"] <= metrics
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    subjects = bdc.unique_subject_ids()
    assert subjects == sorted({r["subject"]["subject_id"] for r in records})
    per_subject = bdc.qc(columns=["subject_id"]).value_counts("subject_id")
    busiest = str(per_subject.index[0])
    assert len(bdc.qc(busiest)) == per_subject.iloc[0]
    cat = intake.open_catalog(f"{root}/catalog.yaml")
    assert len(cat.latest.asset_basics.read()) == len(records)


def test_docdb_source_builds_the_same_tables_as_the_files(monkeypatch, tmp_path):
    records = [json.loads(p.read_text()) for p in sorted(RECORDS.glob("*.json"))]
    source = DocDBSource("docdb.example", session=session_for(FakeDocDB(records, page_cap=2)), batch_size=2)
    update_all_tables(source=source, root=str(tmp_path / "docdb"), progress=False)
    update_all_tables(source=str(RECORDS), root=str(tmp_path / "files"), progress=False)
    assert read_all(monkeypatch, str(tmp_path / "docdb")) == read_all(monkeypatch, str(tmp_path / "files"))


def test_incremental_update_rewrites_only_what_changed_and_equals_a_full_build(
    monkeypatch, records_folder, tmp_path
):
    root = tmp_path / "store"
    update_all_tables(source=str(records_folder), root=str(root), progress=False)
    partitions = root / "bdc-v0.1" / "qc"
    (untouched,) = (partitions / "subject_id=692478").glob("data-*.pqt")
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*.pqt")}

    # One record changes (a QC status flips), one is deleted.
    derived = json.loads((records_folder / "v2_derived.json").read_text())
    derived["_last_modified"] = "2026-03-01T00:00:00.000Z"
    derived["quality_control"]["metrics"][0]["status_history"][0]["status"] = "Pass"
    (records_folder / "v2_derived.json").write_text(json.dumps(derived))
    (records_folder / "v2_raw.json").unlink()

    report = update_all_tables(source=str(records_folder), root=str(root), progress=False)
    assert not report.full
    assert report.records_read == 1 and report.records_deleted == 1
    assert report.partitions_written == 1 and report.partitions_deleted == 0
    assert untouched.stat().st_mtime_ns == before[untouched]
    # A build never rewrites a file of the committed release: changed tables and partitions get new
    # files (named by the build), the superseded ones are removed after the commit.
    new = {p.relative_to(root).as_posix() for p in root.rglob("*.pqt") if p not in before}
    gone = {p.relative_to(root).as_posix() for p in before if not p.exists()}
    assert {n.rpartition("/")[0] for n in new if n.startswith("bdc-v0.1/qc/")} == {
        "bdc-v0.1/qc/subject_id=828418"
    }
    assert any(n.startswith("bdc-v0.1/asset_basics-") for n in new)
    assert not any(n.startswith(("bdc-v0.1/unique_project_names-", "bdc-v0.1/source_data-")) for n in new)
    tables = {
        name.split("/")[1].split("-")[0]
        for name in new
        if not name.startswith(("bdc-v0.1/_build/", "bdc-v0.1/_projections/"))
    }
    assert set(report.tables_written) == tables
    # asset_basics changed: its projection is written again with it, under the same build id
    (file,) = (n for n in new if n.startswith("bdc-v0.1/asset_basics-"))
    build = file.removeprefix("bdc-v0.1/asset_basics-")
    assert {n for n in new if "/_projections/" in n} == {
        f"bdc-v0.1/_projections/asset_basics-by-project_name-{build}"
    }
    assert {name.rpartition("/")[0] for name in gone if "/qc/" in name} == {"bdc-v0.1/qc/subject_id=828418"}
    assert len(list(root.rglob("*.pqt"))) == len(before)  # one file per table and partition at rest

    update_all_tables(source=str(records_folder), root=str(tmp_path / "full"), progress=False, full=True)
    assert read_all(monkeypatch, str(root)) == read_all(monkeypatch, str(tmp_path / "full"))
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(root))
    assert bdc.qc("828418")["status"].iloc[0] == "Pass"
    assert RAW not in set(bdc.asset_basics()["name"])


def test_unchanged_source_writes_no_data(records_folder, tmp_path):
    root = str(tmp_path / "store")
    update_all_tables(source=str(records_folder), root=root, progress=False)
    report = update_all_tables(source=str(records_folder), root=root, progress=False)
    assert report.records_read == 0 and report.tables_written == [] and report.partitions_written == 0


def test_build_killed_half_way_leaves_previous_release_readable(monkeypatch, records_folder, tmp_path):
    root = tmp_path / "store"
    update_all_tables(source=str(records_folder), root=str(root), progress=False)
    registry_before = (root / "bdc-v0.1" / "cache_registry.json").read_text()
    catalog_before = (root / "bdc-v0.1" / "catalog.yaml").read_text()

    writes = []
    original = Store.write_parquet

    def dies_after_two(self, relpath, table):
        writes.append(relpath)
        if len(writes) > 2:
            raise KeyboardInterrupt("killed")
        return original(self, relpath, table)

    monkeypatch.setattr(Store, "write_parquet", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        update_all_tables(source=str(records_folder), root=str(root), progress=False, full=True)
    monkeypatch.undo()

    assert (root / "bdc-v0.1" / "cache_registry.json").read_text() == registry_before
    assert (root / "bdc-v0.1" / "catalog.yaml").read_text() == catalog_before
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(root))
    for table in TABLES:
        if not table.custom_input:  # (a table from a custom table is not published without it)
            bdc.read_table(table.name)  # every table the catalog lists is there and readable
    assert len(bdc.qc("828418")) == 131


def test_memory_backend_builds_on_first_read_and_says_so(monkeypatch, caplog):
    monkeypatch.setenv("BIODATA_CACHE_SOURCE", "sample")
    with caplog.at_level(logging.WARNING, logger="biodata_cache.sync"):
        names = bdc.unique_project_names()
    assert names and "BIODATA_CACHE_BACKEND=S3" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="biodata_cache.sync"):
        assert len(bdc.asset_basics()) > 0
    assert caplog.text == ""  # built once


def test_memory_backend_with_unreachable_source_says_which_and_how_to_configure(monkeypatch, tmp_path):
    monkeypatch.setenv("BIODATA_CACHE_SOURCE", str(tmp_path / "no-records-here"))
    with pytest.raises(bdc.SourceError, match="BIODATA_CACHE_SOURCE"):
        bdc.asset_basics()
    assert bdc.get_cache_versions() == []  # nothing half-written was published


def test_worker_processes_build_the_same_tables_as_one_process(monkeypatch, tmp_path):
    import biodata_cache.sync as sync

    monkeypatch.setattr(sync, "BATCH_RECORDS", 60)  # several batches, so the process pool is used
    parallel = update_all_tables(source="sample", root=str(tmp_path / "parallel"), progress=False, workers=2)
    serial = update_all_tables(source="sample", root=str(tmp_path / "serial"), progress=False, workers=1)
    assert parallel.rows == serial.rows
    assert read_all(monkeypatch, str(tmp_path / "parallel")) == read_all(
        monkeypatch, str(tmp_path / "serial")
    )


def test_malformed_line_in_a_worker_is_skipped_named_and_counted(monkeypatch, tmp_path, caplog):
    import gzip

    import biodata_cache.sync as sync
    from biodata_cache.sources import sample_path

    monkeypatch.setattr(sync, "BATCH_RECORDS", 60)
    with gzip.open(sample_path(), "rt") as handle:
        lines = handle.read().splitlines()
    lines[150] = lines[150][:40]
    broken = tmp_path / "records.jsonl"
    broken.write_text("\n".join(lines))
    root = tmp_path / "store"
    with caplog.at_level(logging.WARNING, logger="biodata_cache.sync"):
        report = update_all_tables(source=str(broken), root=str(root), progress=False, workers=2)
    assert report.records_skipped == 1 and report.records_read == len(lines) - 1
    assert re.search(r"records\.jsonl:151: not valid JSON", caplog.text)
    assert "records.jsonl:151: not valid JSON" in str(report)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(root))
    assert len(bdc.asset_basics()) == len(lines) - 1


def test_docdb_incremental_fetches_only_changed_records_and_drops_deleted(monkeypatch, tmp_path):
    records = [json.loads(p.read_text()) for p in sorted(RECORDS.glob("*.json"))]
    adapter = FakeDocDB(records, page_cap=2)
    source = DocDBSource("docdb.example", session=session_for(adapter), batch_size=2)
    root = str(tmp_path / "store")
    update_all_tables(source=source, root=root, progress=False)
    derived = next(r for r in records if r["name"] == DERIVED)
    derived["_last_modified"] = "2026-03-01T00:00:00.000Z"
    derived["quality_control"]["metrics"][0]["status_history"][0]["status"] = "Pass"
    records.remove(next(r for r in records if r["name"] == RAW))
    adapter.requests.clear()
    report = update_all_tables(source=source, root=root, progress=False)
    assert (report.full, report.records_read, report.records_deleted) == (False, 1, 1)
    fetched = [json.loads(r["params"]["filter"]) for r in adapter.requests if "$in" in r["params"]["filter"]]
    assert fetched and all(derived["_id"] in json.dumps(f) for f in fetched)
    files = tmp_path / "records"
    files.mkdir()
    for record in records:
        (files / f"{record['_id']}.json").write_text(json.dumps(record))
    update_all_tables(source=str(files), root=str(tmp_path / "full"), progress=False, full=True)
    assert read_all(monkeypatch, root) == read_all(monkeypatch, str(tmp_path / "full"))


@pytest.mark.parametrize("full", [True, False])
def test_subject_that_disappears_loses_its_qc_partition(monkeypatch, records_folder, tmp_path, full):
    root = tmp_path / "store"
    update_all_tables(source=str(records_folder), root=str(root), progress=False)
    partition = root / "bdc-v0.1" / "qc" / "subject_id=692478"
    assert partition.exists()
    (records_folder / "v2_record.json").unlink()  # the only record of subject 692478
    report = update_all_tables(source=str(records_folder), root=str(root), progress=False, full=full)
    # its qc partition and its qc_tag_status partition (v2_record.json has 6 quality_control.status keys)
    assert report.partitions_deleted == 2
    assert not partition.exists()
    assert not (root / "bdc-v0.1" / "qc_tag_status" / "subject_id=692478").exists()
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(root))
    with pytest.warns(bdc.NoMatchWarning, match="subject_id '692478'"):  # no longer a subject of the store
        assert bdc.qc("692478").empty
    assert bdc.get_cache_registry()["qc"].partitions == 1


# -- records that cannot be read are skipped, named and counted ------------------------------------------


def test_build_skips_a_record_with_undecodable_bytes_and_counts_it(monkeypatch, tmp_path, caplog):
    records = [json.loads(p.read_text()) for p in sorted(RECORDS.glob("*.json"))]
    lines = [json.dumps(r).encode() for r in records]
    lines.insert(1, json.dumps(records[1]).encode().replace(b'"828418"', b'"828\xe9418"', 1))
    source = tmp_path / "records.jsonl"
    source.write_bytes(b"\n".join(lines))
    root = str(tmp_path / "store")
    with caplog.at_level(logging.WARNING, logger="biodata_cache.sync"):
        report = update_all_tables(source=str(source), root=root, progress=False)
    assert (report.records_read, report.records_skipped) == (3, 1)
    assert re.search(r"skipping record .*records\.jsonl:2: not UTF-8 text \(byte 0xe9", caplog.text)
    assert "1 record skipped" in str(report) and "records.jsonl:2: not UTF-8" in str(report)
    update_all_tables(source=str(RECORDS), root=str(tmp_path / "clean"), progress=False)
    assert read_all(monkeypatch, root) == read_all(monkeypatch, str(tmp_path / "clean"))


def test_build_from_docdb_skips_a_record_whose_metrics_is_an_object_and_names_it(
    monkeypatch, tmp_path, caplog
):
    records = [json.loads(p.read_text()) for p in sorted(RECORDS.glob("*.json"))]
    derived = next(r for r in records if r["name"] == DERIVED)
    derived["quality_control"]["metrics"] = {m["name"]: m for m in derived["quality_control"]["metrics"]}
    source = DocDBSource("docdb.example", session=session_for(FakeDocDB(records)), batch_size=2)
    root = str(tmp_path / "store")
    with caplog.at_level(logging.WARNING, logger="biodata_cache.sync"):
        report = update_all_tables(source=source, root=root, progress=False)
    assert (report.records_read, report.records_skipped) == (2, 1)
    assert f'_id "{derived["_id"]}" name "{DERIVED}": quality_control.metrics: expected a list' in caplog.text
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    assert DERIVED not in set(bdc.asset_basics()["name"])  # left out of every table, not half-read
    assert bdc.qc("828418").empty and len(bdc.qc("692478")) == 4


def test_a_record_that_turns_bad_loses_its_rows_and_is_reported_by_every_build(
    monkeypatch, records_folder, tmp_path
):
    root = str(tmp_path / "store")
    update_all_tables(source=str(records_folder), root=root, progress=False)
    raw = json.loads((records_folder / "v2_raw.json").read_text())
    raw["_last_modified"] = "2026-03-01T00:00:00Z"
    raw["subject"]["subject_id"] = {"id": "828418"}
    (records_folder / "v2_raw.json").write_text(json.dumps(raw))
    for _ in range(2):  # no build state is kept for it: the next build reads and reports it again
        report = update_all_tables(source=str(records_folder), root=root, progress=False)
        assert not report.full and report.records_skipped == 1
        assert "subject.subject_id: expected a string (or an integer), found an object" in report.skipped[0]
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    assert RAW not in set(bdc.asset_basics()["name"])


def test_skipped_records_beyond_twenty_are_logged_at_debug_but_all_counted(tmp_path, caplog):
    source = tmp_path / "records.jsonl"
    source.write_text("\n".join(["{oops"] * 25 + ['{"_id": "a", "name": "a"}']))
    with caplog.at_level(logging.DEBUG, logger="biodata_cache.sync"):
        report = update_all_tables(source=str(source), root=str(tmp_path / "store"), progress=False)
    assert (report.records_read, report.records_skipped, len(report.skipped)) == (1, 25, 5)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "skipping record" in r.message]
    assert len(warnings) == 20 and "logged at DEBUG" in caplog.text


def _write_source(tmp_path: Path, records: list[dict], layout: str, name: str = "source"):
    """``records`` in this order as a folder of files, a JSONL file or a (fake) DocDB."""
    if layout == "docdb":
        return DocDBSource("docdb.example", session=session_for(FakeDocDB(records)), batch_size=100)
    if layout.startswith("jsonl"):
        source = tmp_path / f"{name}.jsonl"
        source.write_text("\n".join(json.dumps(r) for r in records))
        return str(source)
    source = tmp_path / name
    if source.exists():
        shutil.rmtree(source)
    source.mkdir()
    for index, record in enumerate(records):
        (source / f"{index:03d}.json").write_text(json.dumps(record))
    return str(source)


#: (case, the copy's change fields, whether the copy comes first, which one is kept)
DUPLICATE_CASES = [
    ("newer copy after", {"_last_modified": "2026-03-01T00:00:00Z"}, False, "copy"),
    ("newer copy before", {"_last_modified": "2026-03-01T00:00:00Z"}, True, "copy"),
    ("older copy after", {"_last_modified": "2020-01-01T00:00:00Z"}, False, "original"),
    # the same instant written another way: equal, so the later one in the source is kept
    ("equal time after", {"_last_modified": "2026-02-14T04:34:44.410-08:00"}, False, "copy"),
    ("equal time before", {"_last_modified": "2026-02-14T04:34:44.410-08:00"}, True, "original"),
    # a v1 record's time is last_modified
    ("v1 newer copy before", {"_last_modified": None, "last_modified": "2026-03-01T00:00:00"}, True, "copy"),
    ("a time beats none", {"_last_modified": None}, False, "original"),
]


@pytest.mark.parametrize("layout", ["folder", "jsonl", "jsonl workers", "docdb"])
@pytest.mark.parametrize(
    ("case", "change", "first", "kept"), DUPLICATE_CASES, ids=[c[0] for c in DUPLICATE_CASES]
)
def test_of_records_sharing_an_id_the_newest_is_kept_and_the_others_skipped_naming_it(
    monkeypatch, tmp_path, caplog, layout, case, change, first, kept
):
    import biodata_cache.sync as sync

    monkeypatch.setattr(sync, "BATCH_RECORDS", 1)  # with workers: every record in a batch of its own
    records = [json.loads(p.read_text()) for p in sorted(RECORDS.glob("*.json"))]
    original = next(r for r in records if r["name"] == RAW)
    copy_ = {**original, "name": "a copy with the same _id", **change}
    copy_ = {k: v for k, v in copy_.items() if v is not None}
    given = [copy_, *records] if first else [*records, copy_]
    source = _write_source(tmp_path, given, layout)
    root = str(tmp_path / "store")
    with caplog.at_level(logging.WARNING, logger="biodata_cache.sync"):
        report = update_all_tables(
            source=source, root=root, progress=False, workers=2 if layout == "jsonl workers" else 1
        )
    assert (report.records_read, report.records_skipped) == (3, 1)
    winner, loser = (copy_, original) if kept == "copy" else (original, copy_)
    (skipped,) = report.skipped
    assert f'name "{loser["name"]}"' in skipped.split(":")[0]
    assert original["_id"] in skipped and f'kept _id "{original["_id"]}" name "{winner["name"]}"' in skipped
    assert original["_id"] in caplog.text
    clean = [winner if r is original else r for r in records]
    update_all_tables(
        source=_write_source(tmp_path, clean, "folder", "clean"), root=str(tmp_path / "clean"), progress=False
    )
    assert read_all(monkeypatch, root) == read_all(monkeypatch, str(tmp_path / "clean"))


@pytest.mark.parametrize("layout", ["folder", "jsonl", "docdb"])
def test_an_incremental_build_keeps_the_newest_of_records_sharing_an_id(monkeypatch, tmp_path, layout):
    records = [json.loads(p.read_text()) for p in sorted(RECORDS.glob("*.json"))]
    original = next(r for r in records if r["name"] == RAW)
    root = str(tmp_path / "store")
    update_all_tables(source=_write_source(tmp_path, records, layout), root=root, progress=False)
    # A newer copy appears before the original, then an older one after it: the newer copy stays kept.
    newer = {**original, "name": "newer copy", "_last_modified": "2026-03-01T00:00:00Z"}
    older = {**original, "name": "older copy", "_last_modified": "2020-01-01T00:00:00Z"}
    for given in ([newer, *records], [newer, *records, older]):
        if layout == "docdb":
            source = DocDBSource("docdb.example", session=session_for(FakeDocDB(given)), batch_size=100)
        else:
            source = _write_source(tmp_path, given, layout)
        report = update_all_tables(source=source, root=root, progress=False)
        assert not report.full and report.records_skipped >= 1
        clean = [newer if r is original else r for r in records]
        update_all_tables(
            source=_write_source(tmp_path, clean, "folder", "clean"),
            root=str(tmp_path / "clean"),
            progress=False,
        )
        assert read_all(monkeypatch, root) == read_all(monkeypatch, str(tmp_path / "clean"))


def test_a_store_built_by_another_version_is_rebuilt_in_full_not_patched(
    monkeypatch, records_folder, tmp_path
):
    import pyarrow.parquet as pq

    root = tmp_path / "store"
    update_all_tables(source=str(records_folder), root=str(root), progress=False)
    # What a store written before the record-shapes change looks like: no recorded_modalities column and
    # a build state without the reading fingerprint.
    (basics,) = (root / "bdc-v0.1").glob("asset_basics-*.pqt")
    pq.write_table(pq.read_table(basics).drop(["recorded_modalities"]), basics)
    state_path = root / "bdc-v0.1" / "_build" / "state.json"
    state = json.loads(state_path.read_text())
    del state["reading"]
    state_path.write_text(json.dumps(state))
    report = update_all_tables(source=str(records_folder), root=str(root), progress=False)
    assert report.full and report.records_read == 3
    (basics,) = (root / "bdc-v0.1").glob("asset_basics-*.pqt")
    assert "recorded_modalities" in pq.read_table(basics).column_names
    again = update_all_tables(source=str(records_folder), root=str(root), progress=False)
    assert not again.full and again.records_read == 0


def test_a_metric_along_a_chain_from_two_raw_assets_is_one_row_under_each(monkeypatch, tmp_path):
    def record(name, sources=None):
        return {
            "_id": name,
            "name": name,
            "_last_modified": "2026-01-01T00:00:00Z",
            "subject": {"subject_id": "1"},
            "data_description": {"source_data": sources},
            "quality_control": {"metrics": [{"name": "m", "value": 1}]},
        }

    folder = tmp_path / "records"
    folder.mkdir()
    for item in (record("R1"), record("R2"), record("C", ["R1", "R2"]), record("D", ["C"])):
        (folder / f"{item['name']}.json").write_text(json.dumps(item))
    root = str(tmp_path / "store")
    update_all_tables(source=str(folder), root=root, progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    # One metric "m" along R1 -> C -> D and R2 -> C -> D: one row under each raw asset, at the raw asset.
    rows = bdc.qc("1")[["asset_name", "raw_asset_name", "downstream_asset_names"]]
    assert [(a, r, list(d)) for a, r, d in rows.itertuples(index=False)] == [
        ("R1", "R1", ["C", "D"]),
        ("R2", "R2", ["C", "D"]),
    ]


def _jsonl(path: Path, records: list[dict], extra_lines: tuple[str, ...] = ()) -> str:
    path.write_text("\n".join([json.dumps(r) for r in records] + list(extra_lines)) + "\n")
    return str(path)


def _jsonl_gz(path: Path, records: list[dict]) -> str:
    """``records`` written to ``path`` as gzipped JSON lines; the path as a source."""
    import gzip

    with gzip.open(path, "wt") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in records)
    return str(path)


def test_an_incremental_build_from_jsonl_parses_only_new_and_changed_lines_and_equals_a_full_build(
    monkeypatch, tmp_path
):
    records = [json.loads(p.read_text()) for p in sorted(RECORDS.glob("*.json"))]
    source = tmp_path / "records.jsonl"
    root = str(tmp_path / "store")
    report = update_all_tables(source=_jsonl(source, records), root=root, progress=False)
    assert report.full and report.lines_parsed == len(records)

    report = update_all_tables(source=str(source), root=root, progress=False)
    assert not report.full and report.lines_parsed == 0 and report.tables_written == []

    # One record changes, one is deleted and one is added: only the changed and the new line are parsed.
    changed = copy.deepcopy(records[0])
    changed["_last_modified"] = "2030-01-01T00:00:00Z"
    changed["location"] = changed["location"] + "-moved"
    added = {**copy.deepcopy(records[1]), "_id": "a-new-record", "name": "a new record"}
    given = [changed, *records[2:], added]
    report = update_all_tables(source=_jsonl(source, given), root=root, progress=False)
    assert not report.full and report.lines_parsed == 2
    assert (report.records_read, report.records_deleted) == (2, 1)
    update_all_tables(source=str(source), root=str(tmp_path / "full"), progress=False, full=True)
    assert read_all(monkeypatch, root) == read_all(monkeypatch, str(tmp_path / "full"))

    report = update_all_tables(source=str(source), root=root, progress=False)
    assert report.lines_parsed == 0  # the build state holds the hashes of the lines parsed last time


def test_a_bad_jsonl_line_is_parsed_and_reported_by_every_incremental_build(tmp_path):
    records = [json.loads(p.read_text()) for p in sorted(RECORDS.glob("*.json"))]
    source = _jsonl(
        tmp_path / "records.jsonl", records, ('{"_id": "bad", "name": "bad", "subject": 3}', "{oops")
    )
    root = str(tmp_path / "store")
    update_all_tables(source=source, root=root, progress=False)
    for _ in range(2):  # no build state (no line hash) is kept for them: every build reads them again
        report = update_all_tables(source=source, root=root, progress=False)
        assert not report.full and (report.lines_parsed, report.records_skipped) == (2, 2)


def test_a_build_state_without_line_hashes_parses_every_line_once(monkeypatch, tmp_path):
    import pyarrow.parquet as pq

    records = [json.loads(p.read_text()) for p in sorted(RECORDS.glob("*.json"))]
    source = _jsonl(tmp_path / "records.jsonl", records)
    root = tmp_path / "store"
    update_all_tables(source=source, root=str(root), progress=False)
    state = root / "bdc-v0.1" / "_build" / "records.pqt"
    pq.write_table(pq.read_table(state).drop_columns(["_line_hash"]), state)  # as written before hashes

    report = update_all_tables(source=source, root=str(root), progress=False)
    assert not report.full and report.lines_parsed == len(records) and report.tables_written == []
    assert update_all_tables(source=source, root=str(root), progress=False).lines_parsed == 0


@pytest.mark.parametrize(("cpus", "workers"), [(None, 1), (1, 1), (2, 2), (4, 4), (32, 8)])
def test_default_workers_are_one_per_cpu_at_most_eight(monkeypatch, cpus, workers):
    import biodata_cache.sync as sync

    monkeypatch.setattr(sync.os, "cpu_count", lambda: cpus)
    assert sync.default_workers() == workers


def test_a_build_allocates_arrow_memory_with_malloc_and_restores_the_pool_after(monkeypatch, tmp_path):
    import pyarrow as pa

    from biodata_cache import sync

    seen = []
    rows = sync._rows

    def recording(records):
        seen.append(pa.default_memory_pool().backend_name)
        return rows(records)

    monkeypatch.setattr(sync, "_rows", recording)
    before = pa.default_memory_pool()
    update_all_tables(source=str(RECORDS), root=str(tmp_path / "store"), progress=False, full=True)
    assert seen and set(seen) == {"system"}
    assert pa.default_memory_pool().backend_name == before.backend_name

    monkeypatch.setattr(sync, "_rows", lambda records: 1 / 0)  # a build that fails
    with pytest.raises(ZeroDivisionError):
        update_all_tables(source=str(RECORDS), root=str(tmp_path / "store"), progress=False, full=True)
    assert pa.default_memory_pool().backend_name == before.backend_name


def test_a_build_state_whose_line_hashes_are_of_another_kind_parses_every_line_once(tmp_path):
    records = [json.loads(p.read_text()) for p in sorted(RECORDS.glob("*.json"))]
    source = _jsonl(tmp_path / "records.jsonl", records)
    root = tmp_path / "store"
    update_all_tables(source=source, root=str(root), progress=False)
    state_file = root / "bdc-v0.1" / "_build" / "state.json"
    state = json.loads(state_file.read_text())
    assert state["line_digest"] == "xxh3_128"
    del state["line_digest"]  # as written when the line hash was BLAKE2b: its hashes are not compared
    state_file.write_text(json.dumps(state))

    report = update_all_tables(source=source, root=str(root), progress=False)
    assert not report.full and report.lines_parsed == len(records) and report.tables_written == []
    assert update_all_tables(source=source, root=str(root), progress=False).lines_parsed == 0


def test_an_incremental_build_changing_records_of_many_subjects_writes_what_a_full_build_writes(
    monkeypatch, tmp_path
):

    from biodata_cache.synthetic import generate

    records = list(generate(240, seed=5, max_metrics=4))
    source = tmp_path / "records.jsonl.gz"

    root = str(tmp_path / "store")
    update_all_tables(source=_jsonl_gz(source, records), root=root, progress=False, list_storage=False)
    # Every 8th record changes (as the benchmark's 1%: a newer change time, a new location), one goes.
    changed = copy.deepcopy(records[1:])
    for record in changed[::8]:
        record["_last_modified" if "_last_modified" in record else "last_modified"] = "2030-01-01T00:00:00Z"
        record["location"] = record["location"] + "-moved"
    report = update_all_tables(
        source=_jsonl_gz(source, changed), root=root, progress=False, list_storage=False
    )
    assert not report.full and report.lines_parsed == len(changed[::8]) and report.records_deleted == 1
    assert report.partitions_written > 16  # more qc partitions than the build reads ahead at once

    full = str(tmp_path / "full")
    update_all_tables(source=str(source), root=full, progress=False, list_storage=False, full=True)
    assert read_all(monkeypatch, root) == read_all(monkeypatch, full)
    report = update_all_tables(source=str(source), root=root, progress=False, list_storage=False)
    assert report.lines_parsed == 0 and report.tables_written == []


def test_partition_files_have_no_statistics_or_dictionary_pages_and_clustered_tables_keep_statistics(
    tmp_path,
):
    import pyarrow.parquet as pq

    root = tmp_path / "store"
    update_all_tables(source="sample", root=str(root), progress=False)
    version = root / "bdc-v0.1"
    partition_files = sorted(version.glob("qc/*/data-*.pqt")) + sorted(
        version.glob("qc_tag_status/*/data-*.pqt")
    )
    partition_files += sorted(version.glob("_build/qc_dropped/*.pqt"))
    assert len(partition_files) > 10
    for path in partition_files:
        metadata = pq.ParquetFile(path).metadata
        for group in range(metadata.num_row_groups):
            for leaf in range(metadata.num_columns):
                chunk = metadata.row_group(group).column(leaf)
                assert chunk.statistics is None, (path, chunk.path_in_schema)
                assert not chunk.has_dictionary_page, (path, chunk.path_in_schema)
                assert chunk.compression == "ZSTD"
    (basics,) = version.glob("asset_basics-*.pqt")  # read by ranges: its row groups' statistics are kept
    assert pq.ParquetFile(basics).metadata.row_group(0).column(0).statistics.has_min_max


def test_spilled_qc_rows_keep_their_order_within_each_bucket(tmp_path):
    import pyarrow as pa

    from biodata_cache import sync
    from biodata_cache.tables import TABLES_BY_NAME

    qc = TABLES_BY_NAME["qc"]
    subjects = ["s1", "s2", None, "s3", "s1", None, "s2", "s1", "s4", "s3"] * 20
    columns = {name: [None] * len(subjects) for name in qc.column_names}
    columns["subject_id"] = subjects
    columns["metric_index"] = list(range(len(subjects)))
    data = pa.table(columns, schema=qc.arrow_schema())
    staging = sync._Staging(str(tmp_path), workers=1)
    staging._spill(qc, data.slice(0, 100))
    staging._spill(qc, data.slice(100))
    for writer in staging.writers.values():
        writer.close()
    spilled = list(staging.buckets(qc))
    assert sum(b.num_rows for b in spilled) == len(subjects)
    expected_buckets = {sync._bucket(s) for s in subjects}
    assert len(spilled) == len(expected_buckets)
    for bucket in spilled:
        indices = bucket.column("metric_index").to_pylist()
        assert indices == sorted(indices)  # rows of a bucket in the order they were staged
        assert len({sync._bucket(s) for s in bucket.column("subject_id").to_pylist()}) == 1


def _arrow_memory_pool_backend() -> str:
    import pyarrow as pa

    return pa.default_memory_pool().backend_name


def test_a_build_s_worker_processes_allocate_arrow_memory_with_malloc(tmp_path):
    from biodata_cache import sync

    staging = sync._Staging(str(tmp_path), workers=2)
    try:
        staging.add_line("records.jsonl:1", b'{"_id": "a", "name": "a"}')
        staging._submit(final=False)  # starts the worker processes
        backends = {staging.pool.submit(_arrow_memory_pool_backend).result() for _ in range(4)}
    finally:
        staging.close()
    assert backends == {"system"}


def test_listing_tables_get_asset_rows_whose_columns_are_converted_only_when_read():
    import pyarrow as pa

    from biodata_cache import sync

    data = pa.table({"name": ["a", "b", None], "location": ["s3://x/a", None, "s3://x/c"], "size": [1, 2, 3]})
    rows = sync._rows_of(data)
    assert [row["name"] for row in rows] == ["a", "b", None]
    assert rows[1].get("location") is None and rows[1].get("missing", "default") == "default"
    assert sorted(rows[0]._columns.lists) == ["location", "name"]  # "size" was never read
    assert [dict(row) for row in rows] == data.to_pylist() and {**rows[2]} == data.to_pylist()[2]
    with pytest.raises(KeyError, match="missing"):
        rows[0]["missing"]


def published_files(root: str) -> dict[str, pa.Table]:
    """Every file of the committed release of a store built here (tables, partitions, projections), by
    table (and partition), as read (the build column dropped): compared in order, not as sets."""
    import pyarrow.parquet as pq

    folder = Path(root) / "bdc-v0.1"
    registry = json.loads((folder / "cache_registry.json").read_text())
    paths: dict[str, Path] = {}
    for entry in registry["tables"]:
        if entry.get("manifest"):
            manifest = json.loads((folder / entry["manifest"]).read_text())
            paths.update({f"{entry['name']}/{k}": folder / f["path"] for k, f in manifest["files"].items()})
        else:
            paths[entry["name"]] = folder / entry["path"]
            paths.update(
                {f"{entry['name']}:{k}": folder / p for k, p in (entry.get("projections") or {}).items()}
            )
    tables = {}
    for key, path in paths.items():
        data = pq.read_table(path)
        tables[key] = data.drop_columns(
            [c for c in data.column_names if c == "_build"]
        ).replace_schema_metadata(None)
    return tables


def test_an_incremental_build_that_moves_assets_between_chains_writes_every_file_a_full_build_writes(
    tmp_path,
):
    """Records that change their lineage (a derived asset's source, a name, a deleted raw asset) change
    the qc choice and qc_status only under the assets they touch: every file of the incremental build
    equals, row for row and in order, the file a full build of the same records writes."""

    from biodata_cache.synthetic import generate

    records = list(generate(240, seed=7, max_metrics=4))
    source = tmp_path / "records.jsonl.gz"

    def touch(record: dict) -> None:
        record["_last_modified" if "_last_modified" in record else "last_modified"] = "2030-01-01T00:00:00Z"

    root = str(tmp_path / "store")
    update_all_tables(source=_jsonl_gz(source, records), root=root, progress=False, list_storage=False)
    changed = copy.deepcopy(records)
    derived = [r for r in changed if (r.get("data_description") or {}).get("source_data")]
    raws = [r for r in changed if not (r.get("data_description") or {}).get("source_data")]
    moved = derived[0]  # now derived from another raw asset (of another subject)
    moved["data_description"]["source_data"] = [raws[-1]["name"]]
    renamed = derived[3]  # a derived asset under a new name: its old name's rows go
    renamed["name"] = renamed["name"] + "_v2"
    for record in (moved, renamed, *changed[::9]):
        touch(record)
        record["location"] = record["location"] + "-moved"
    gone = raws[1]["name"]
    changed = [r for r in changed if r["name"] != gone]
    report = update_all_tables(
        source=_jsonl_gz(source, changed), root=root, progress=False, list_storage=False
    )
    assert not report.full and report.records_deleted >= 1 and "qc" in report.tables_written

    full = str(tmp_path / "full")
    update_all_tables(source=str(source), root=full, progress=False, list_storage=False, full=True)
    incremental, rebuilt = published_files(root), published_files(full)
    assert sorted(incremental) == sorted(rebuilt)
    differ = [key for key in rebuilt if not incremental[key].equals(rebuilt[key])]
    assert differ == []
