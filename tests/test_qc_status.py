"""qc_status in biodata-cache 0.42's wide form, qc_status_long, and the quality_control catalog entry.

Expected values were read by hand off the records' JSON (``quality_control.status`` and the metrics'
``modality`` / ``stage``) in ``tests/data/aind_records/``; stores are built with the real builder into a
local folder and read back with the one-liners and with ``intake.open_catalog``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import intake
import pytest

import biodata_cache as bdc
from biodata_cache.records import MODALITIES, QC_STAGES
from biodata_cache.sync import update_all_tables

DATA = Path(__file__).parent / "data" / "aind_records"
BEHAVIOR = "828418_2026-02-13_18-31-13_processed_2026-02-14_12-44-45"  # v2_derived.json
FIBER = "808054_2026-04-16_19-38-24_processed_2026-04-17_15-47-55"  # real/v2_fib_derived_qc_fiber3.json
ECEPHYS = (
    "ecephys_800779_2025-09-26_12-57-44_sorted_2025-10-07_17-18-32"  # real/v1mix_ecephys_sorted_qc_800779
)
V1_FIB = "behavior_726649_2024-10-07_13-27-02_processed_2025-02-23_03-30-46"  # real/v1_fib_derived_qc.json
POPHYS = "multiplane-ophys_692478_2023-09-29_08-53-45_processed_2025-04-22_20-50-47"  # same asset, v1 and v2


def _record(relative: str) -> dict:
    return json.loads((DATA / relative).read_text())


def _build(tmp_path: Path, records: list[dict], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Write ``records`` as a JSONL source, build a local store from it and point the readers at it."""
    source = tmp_path / "records.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    root = tmp_path / "store"
    update_all_tables(source=str(source), root=str(root), progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(root))
    return root


def _statuses(frame, name: str) -> dict[str, str]:
    """The non-null status columns of one asset's row."""
    (row,) = frame[frame["name"] == name].to_dict("records")
    return {column: value for column, value in row.items() if column != "name" and isinstance(value, str)}


def test_qc_status_wide_has_a_column_per_modality_and_stage(tmp_path, monkeypatch):
    records = [
        _record("v2_derived.json"),
        _record("real/v2_fib_derived_qc_fiber3.json"),
        _record("real/v1mix_ecephys_sorted_qc_800779.json"),
        _record("real/v1_fib_derived_qc.json"),
        _record("v2_raw.json"),  # no quality_control: no row
    ]
    _build(tmp_path, records, monkeypatch)
    wide = bdc.qc_status()
    vocabulary = sorted({*MODALITIES, *QC_STAGES}, key=lambda key: (key.casefold(), key))
    assert list(wide.columns) == ["name", *vocabulary]  # 0.42's order: sorted ignoring case
    assert wide["name"].tolist() == sorted([BEHAVIOR, FIBER, ECEPHYS, V1_FIB])
    # quality_control.status of each record, keys named by its metrics' modality and stage only.
    assert _statuses(wide, BEHAVIOR) == {"behavior": "Fail", "Processing": "Fail"}
    assert _statuses(wide, FIBER) == {"fib": "Fail", "Processing": "Pending", "Raw data": "Fail"}
    # "Raw Data" (capital D) is a tag of that record, not the stage "Raw data".
    assert _statuses(wide, ECEPHYS) == {"ecephys": "Pending", "Processing": "Pending", "Raw data": "Pending"}
    # A v1 record has evaluations, no status object: a row without modality or stage statuses.
    assert _statuses(wide, V1_FIB) == {}
    fib = bdc.qc_status(columns=["name", "fib"]).set_index("name")["fib"]
    assert {name: value for name, value in fib.items() if isinstance(value, str)} == {FIBER: "Fail"}
    registry = bdc.get_cache_registry()["qc_status"]
    assert [c.name for c in registry.columns] == ["name", *vocabulary]
    assert {c["dtype"] for c in registry.columns} == {"string"} and registry.rows == 4


def test_qc_status_long_keeps_every_key_of_every_record(tmp_path, monkeypatch):
    _build(
        tmp_path,
        [_record("real/v2_fib_derived_qc_fiber3.json"), _record("real/v1_fib_derived_qc.json")],
        monkeypatch,
    )
    long = bdc.qc_status_long()
    fiber = long[long["asset_name"] == FIBER].set_index("key")
    assert len(fiber) == 17  # every key of its quality_control.status
    assert fiber.loc["Channel:red", ["status", "key_type"]].tolist() == ["Fail", "tag"]
    assert fiber.loc["fib", ["status", "key_type"]].tolist() == ["Fail", "modality"]
    assert set(fiber["_id"]) == {_record("real/v2_fib_derived_qc_fiber3.json")["_id"]}
    assert str(fiber["_last_modified"].iloc[0]) == "2026-04-17 15:54:03.090000+00:00"
    v1 = long[long["asset_name"] == V1_FIB]
    assert v1.set_index("key").loc["CMOS Floor signal", "status"] == "Fail"  # the evaluation's latest_status
    assert set(v1["key_type"]) == {"tag"} and len(v1) == 13


def test_qc_status_newest_record_wins_for_duplicated_name(tmp_path, monkeypatch):
    # The same asset before (v1, last_modified 2025-04-23) and after (v2, 2025-12-02) DocDB's upgrade.
    newer, older = _record("v2_record.json"), _record("real/v1_pophys_derived_qc_692478.json")
    assert newer["name"] == older["name"] == POPHYS and newer["_id"] != older["_id"]
    # Three copies of v2_derived.json under other ids: the newest comes first in the file, one has no time.
    base = _record("v2_derived.json")  # _last_modified 2026-02-14T13:00:35.192Z, behavior Fail
    newest = {**base, "_id": "0-newest", "_last_modified": "2026-03-01T00:00:00Z"}
    newest["quality_control"] = {
        **base["quality_control"],
        "status": {"behavior": "Pass", "Processing": "Pass"},
    }
    timeless = {**base, "_id": "z-no-time", "quality_control": newest["quality_control"]}
    del timeless["_last_modified"]
    _build(tmp_path, [newest, newer, base, timeless, older], monkeypatch)
    wide = bdc.qc_status()
    assert wide["name"].tolist() == [BEHAVIOR, POPHYS]  # one row per name
    assert _statuses(wide, POPHYS) == {"pophys": "Pending", "Processing": "Pending"}  # v2's, not v1's nulls
    assert _statuses(wide, BEHAVIOR) == {"behavior": "Pass", "Processing": "Pass"}
    long = bdc.qc_status_long()  # keeps every record
    assert set(long.loc[long["asset_name"] == BEHAVIOR, "_id"]) == {base["_id"], "0-newest", "z-no-time"}
    # The v1 record's evaluations record no status of their own: it has no status rows to compete with.
    assert set(long.loc[long["asset_name"] == POPHYS, "_id"]) == {newer["_id"]}


def test_qc_status_newest_remaining_record_wins_after_an_incremental_build(tmp_path, monkeypatch):
    base = _record("v2_derived.json")  # behavior Fail
    newest = {**base, "_id": "0-newest", "_last_modified": "2026-03-01T00:00:00Z"}
    newest["quality_control"] = {
        **base["quality_control"],
        "status": {"behavior": "Pass", "Processing": "Pass"},
    }
    root = _build(tmp_path, [newest, base], monkeypatch)
    assert _statuses(bdc.qc_status(), BEHAVIOR)["behavior"] == "Pass"
    source = tmp_path / "records.jsonl"
    source.write_text(json.dumps(base) + "\n")  # the newest record is deleted; base did not change
    report = update_all_tables(source=str(source), root=str(root), progress=False)
    assert report.records_deleted == 1
    assert _statuses(bdc.qc_status(), BEHAVIOR) == {"behavior": "Fail", "Processing": "Fail"}


def test_quality_control_catalog_entry_reads_qc(tmp_path, monkeypatch):
    records = [
        _record("v2_derived.json"),
        _record("v2_raw.json"),
        _record("real/v2_fib_derived_qc_fiber3.json"),
    ]
    root = _build(tmp_path, records, monkeypatch)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Shell command not executed")
        cat = intake.open_catalog(str(root / "catalog.yaml")).latest
        assert "quality_control" in list(cat) and "qc" in list(cat)
        for subject in ("828418", "808054"):
            alias = cat.quality_control(subject_id=subject).read()
            assert len(alias) > 0 and alias.equals(cat.qc(subject_id=subject).read())
        everything = cat.quality_control.read()
        assert everything.equals(cat.qc.read()) and set(everything["subject_id"]) == {"828418", "808054"}
        assert cat.quality_control.discover()["shape"] == cat.qc.discover()["shape"]
    # Not another table: the registry, the table list and the docs name qc once.
    registry = bdc.get_cache_registry()
    assert "quality_control" not in [t.name for t in registry.tables]
    assert registry["quality_control"].name == "qc"
    assert "quality_control" not in [t.name for t in bdc.TABLES]
    docs = Path(__file__).resolve().parent.parent / "docs" / "reference" / "tables"
    assert not (docs / "quality_control.md").exists()
    assert "[`quality_control`]" not in (docs / "index.md").read_text()


def test_committed_catalog_has_a_quality_control_entry_for_the_qc_files():
    import yaml

    from biodata_cache.config import version_folder

    repository = Path(__file__).resolve().parent.parent / "catalogs"
    sources = yaml.safe_load((repository / version_folder() / "catalog.yaml").read_text())["sources"]
    alias, qc = sources["quality_control"], sources["qc"]
    assert alias["args"] == qc["args"] and alias["parameters"] == qc["parameters"]
    assert alias["metadata"]["columns"] == qc["metadata"]["columns"] and alias["metadata"]["alias_of"] == "qc"


def test_qc_status_wide_fills_todays_modality_column_and_breaks_time_ties_by_id():
    import datetime as dt

    from biodata_cache import rows

    when = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)

    def row(record_id, key, key_type, status, name="x"):
        return {
            "_id": record_id,
            "_last_modified": when,
            "asset_name": name,
            "subject_id": "1",
            "key": key,
            "key_type": key_type,
            "status": status,
        }

    long = [
        row("b", "SmartSPIM", "modality", "Pass"),  # a legacy spelling: today's column SPIM
        row("b", "Raw data", "stage", "Fail"),
        row("b", "Stitching", "stage", "Pass"),  # a stage outside the vocabulary: long form only
        row("b", "Channel 488", "tag", "Fail"),
        row("a", "SPIM", "modality", "Fail"),  # same time, smaller _id: loses
        row("c", "Channel 488", "tag", "Pass", name="y"),  # only tags: a row of nulls
    ]
    assert rows.qc_status_wide(long) == [{"name": "x", "SPIM": "Pass", "Raw data": "Fail"}, {"name": "y"}]
    assert "Stitching" not in rows.QC_STATUS_COLUMNS and "SmartSPIM" not in rows.QC_STATUS_COLUMNS
