"""Every real AIND record (v1, hybrid and v2 shapes) gives the tables a person reads off its JSON.

The records are in ``tests/data/aind_records/`` (three v2 records) and ``tests/data/aind_records/real/`` (25
records from public AllenNeuralDynamics repositories; provenance in its ``SOURCES.md``). They are built as
two sources, because ``real/v1_pophys_derived_qc_692478.json`` and ``v2_record.json`` are the same asset
before and after DocDB's v1 -> v2 upgrade. The expected values in
``tests/data/aind_records/expected/<record>.json`` were read off each record's JSON by hand, applying
``docs/reference/record-shapes.md``; they were never taken from this library's output. The columns of
biodata-cache 0.42 (asset_basics ``age``, ``experimenters_normalized``, ``investigators_normalized``,
``instrument_id_normalized``; metadata_core ``_last_modified``) were read the same way, applying the rules of
the original biodata-cache 0.42.26 (``cache_table_helpers/asset_basics.py``, ``utils.py``).
"""

from __future__ import annotations

import copy
import json
import math
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from biodata_cache.sync import update_all_tables

DATA = Path(__file__).parent / "data" / "aind_records"
EXPECTED = sorted((DATA / "expected").glob("*.json"))
FOLDERS = {"originals": DATA, "real": DATA / "real"}
FRAME_TABLES = ("asset_basics", "source_data", "qc", "qc_status_long", "metadata_core", "time_to_qc")
#: Columns of biodata-cache 0.42 every expectation file must hold a hand-read value for.
COLUMNS_OF_0_42 = {
    "asset_basics": (
        "age",
        "experimenters_normalized",
        "investigators_normalized",
        "instrument_id_normalized",
    ),
    "metadata_core": ("_last_modified",),
}


def _folder_of(record_path: str) -> str:
    return "real" if record_path.startswith("real/") else "originals"


def _read_tables(root: Path) -> dict[str, pd.DataFrame]:
    """Every table of a local store, read straight from its parquet files (partition key restored)."""
    (version,) = root.glob("bdc-v*")
    tables = {}
    for name in FRAME_TABLES:
        files = list(version.glob(f"{name}-*.pqt"))  # the table's one file at rest (named by its build)
        if files:
            (path,) = files
            tables[name] = pq.read_table(path).to_pandas()
            continue
        parts = []
        for file in sorted((version / name).glob("*/*.pqt")):
            frame = pq.read_table(file).to_pandas()
            metadata = pq.read_metadata(file).metadata or {}
            partition = json.loads(metadata[b"biodata_cache.partition"])
            frame.insert(0, partition["key"], partition["value"])
            parts.append(frame)
        tables[name] = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return tables


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Both folders built with one worker and with two: the reports and the tables."""
    results: dict[str, dict[str, Any]] = {}
    for folder, source in FOLDERS.items():
        for workers in (1, 2):
            root = tmp_path_factory.mktemp(f"{folder}-{workers}")
            report = update_all_tables(source=str(source), root=str(root), progress=False, workers=workers)
            results[f"{folder}-{workers}"] = {"report": report, "tables": _read_tables(root), "root": root}
    return results


def test_every_real_record_builds_with_no_skipped_record(built):
    for key, result in built.items():
        report = result["report"]
        assert report.records_skipped == 0, (key, report.skipped_examples)
    assert built["real-1"]["report"].records_read == len(list((DATA / "real").glob("*.json")))
    assert built["originals-1"]["report"].records_read == len(list(DATA.glob("*.json")))


@pytest.mark.parametrize("folder", list(FOLDERS))
def test_single_and_multi_worker_builds_are_identical(built, folder):
    one, two = built[f"{folder}-1"]["tables"], built[f"{folder}-2"]["tables"]
    for name in FRAME_TABLES:
        pd.testing.assert_frame_equal(one[name], two[name], check_like=False, obj=name)


def test_every_record_has_hand_read_expectations():
    files = [*DATA.glob("*.json"), *(DATA / "real").glob("*.json")]
    records = {p.relative_to(DATA).as_posix() for p in files}
    expected = {json.loads(p.read_text())["record"] for p in EXPECTED}
    assert records == expected, sorted(records ^ expected)


def test_every_expectation_holds_the_columns_of_biodata_cache_0_42():
    missing = [
        f"{p.name}: {table}.{column}"
        for p in EXPECTED
        for table, columns in COLUMNS_OF_0_42.items()
        for column in columns
        if column not in json.loads(p.read_text())[table]
    ]
    assert not missing, missing


# -- comparing cells ----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A cell as plain Python: None for nulls, lists for arrays, UTC timestamps, ints for whole numbers."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.tz_convert("UTC")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _expected_cell(column: str, value: Any, actual: Any) -> Any:
    if value is not None and isinstance(actual, pd.Timestamp):
        return pd.Timestamp(value).tz_convert("UTC")
    return value


def _mismatches(where: str, expected: dict[str, Any], actual: pd.Series) -> list[str]:
    problems = []
    for column, value in expected.items():
        if column not in actual.index:
            problems.append(f"{where}: no column {column!r}")
            continue
        got = _plain(actual[column])
        want = _expected_cell(column, value, got)
        if got != want:
            problems.append(f"{where}.{column}: expected {want!r}, found {got!r}")
    return problems


def _expectations() -> list[Any]:
    return [pytest.param(json.loads(p.read_text()), id=p.stem) for p in EXPECTED]


@pytest.mark.parametrize("expected", _expectations())
def test_tables_hold_every_hand_read_cell(built, expected):
    tables = built[f"{_folder_of(expected['record'])}-1"]["tables"]
    name = expected["asset_basics"]["name"]
    problems: list[str] = []
    for table in ("asset_basics", "metadata_core"):
        found = tables[table][tables[table]["name"] == name]
        if len(found) != 1:
            problems.append(f"{table}: expected one row named {name!r}, found {len(found)}")
            continue
        problems += _mismatches(table, expected[table], found.iloc[0])
    for table in ("source_data", "time_to_qc"):
        found = tables[table][tables[table]["name"] == name].reset_index(drop=True)
        if len(found) != len(expected[table]):
            problems.append(f"{table}: expected {len(expected[table])} rows, found {len(found)}")
            continue
        for index, row in enumerate(expected[table]):
            problems += _mismatches(f"{table}[{index}]", row, found.iloc[index])
    qc = tables["qc"][tables["qc"]["asset_name"] == name].reset_index(drop=True)
    if len(qc) != expected["qc"]["count"]:
        problems.append(f"qc: expected {expected['qc']['count']} rows, found {len(qc)}")
    else:
        for index, row in expected["qc"].get("rows", {}).items():
            problems += _mismatches(f"qc[{index}]", row, qc.iloc[int(index)])
        distinct = expected["qc"].get("distinct") or {}
        for column in ("stage", "modality"):
            if column in distinct:
                found_values = sorted({v for v in qc[column] if isinstance(v, str)})
                if found_values != sorted(distinct[column]):
                    problems.append(f"qc {column}s: expected {distinct[column]}, found {found_values}")
        if "status" in distinct:
            counts = dict(Counter(v for v in qc["status"] if isinstance(v, str)))
            if counts != distinct["status"]:
                problems.append(f"qc status counts: expected {distinct['status']}, found {counts}")
    status = tables["qc_status_long"][tables["qc_status_long"]["asset_name"] == name]  # expected: "qc_status"
    if len(status) != expected["qc_status"]["count"]:
        count = expected["qc_status"]["count"]
        problems.append(f"qc_status_long: expected {count} rows, found {len(status)}")
    by_key = {row["key"]: row for _, row in status.iterrows()}
    for row in expected["qc_status"]["rows"]:
        if row["key"] not in by_key:
            problems.append(f"qc_status_long: no key {row['key']!r}")
            continue
        problems += _mismatches(f"qc_status_long[{row['key']!r}]", row, by_key[row["key"]])
    assert not problems, "\n".join(problems)


# -- the same asset before and after DocDB's v1 -> v2 upgrade -------------------------------------------


def test_v1_record_and_its_upgraded_v2_record_give_the_same_qc_rows(built):
    name = "multiplane-ophys_692478_2023-09-29_08-53-45_processed_2025-04-22_20-50-47"
    columns = ["subject_id", "raw_asset_name", "name", "stage", "modality", "status", "status_time",
               "evaluator", "description", "tags", "timestamp"]  # fmt: skip
    v1 = built["real-1"]["tables"]["qc"]
    v2 = built["originals-1"]["tables"]["qc"]
    v1 = v1[v1["asset_name"] == name][columns].reset_index(drop=True)
    v2 = v2[v2["asset_name"] == name][columns].reset_index(drop=True)
    assert len(v1) == 4
    # The upgrade re-measured the acquisition start from the acquisition's data streams: 22 s earlier.
    assert (v1["timestamp"] - v2["timestamp"]).dt.total_seconds().tolist() == [22.185] * 4
    pd.testing.assert_frame_equal(
        v1.drop(columns="timestamp"), v2.drop(columns="timestamp"), check_dtype=False
    )


# -- incremental builds of records that keep their time in last_modified ---------------------------------


def test_incremental_build_picks_up_an_edit_of_a_record_with_only_last_modified(tmp_path):
    records = tmp_path / "records"
    shutil.copytree(DATA / "real", records)
    root = tmp_path / "store"
    update_all_tables(source=str(records), root=str(root), progress=False)
    path = records / "v1_behavior_raw_0219.json"
    record = json.loads(path.read_text())
    assert "_last_modified" not in record and record["last_modified"]
    edited = copy.deepcopy(record)
    edited["data_description"]["project_name"] = "Edited project"
    edited["last_modified"] = "2026-11-24T10:00:00.000000Z"
    path.write_text(json.dumps(edited))
    report = update_all_tables(source=str(records), root=str(root), progress=False)
    assert not report.full and report.records_read == 1
    basics = _read_tables(root)["asset_basics"]
    row = basics[basics["_id"] == record["_id"]].iloc[0]
    assert row["project_name"] == "Edited project"
    assert row["_last_modified"] == pd.Timestamp("2026-11-24T10:00:00Z")


def test_incremental_build_picks_up_an_edit_of_a_record_without_any_time(tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    shutil.copy(DATA / "real" / "v2frag_pophys_827543_qc_original.json", records)
    path = records / "v2frag_pophys_827543_qc_original.json"
    record = json.loads(path.read_text())
    assert not record.get("_last_modified") and not record.get("last_modified")
    root = tmp_path / "store"
    update_all_tables(source=str(records), root=str(root), progress=False)
    record["quality_control"]["metrics"] = record["quality_control"]["metrics"][:3]
    path.write_text(json.dumps(record))
    report = update_all_tables(source=str(records), root=str(root), progress=False)
    assert not report.full and report.records_read == 1
    assert len(_read_tables(root)["qc"]) == 3


def test_docdb_incremental_build_fetches_an_edited_v1_record_by_its_last_modified(tmp_path):
    from docdb_fake import FakeDocDB, session_for

    from biodata_cache.sources import DocDBSource

    records = [json.loads(p.read_text()) for p in sorted((DATA / "real").glob("*.json"))]
    adapter = FakeDocDB(records, page_cap=10)
    source = DocDBSource("docdb.example", session=session_for(adapter), batch_size=10)
    root = tmp_path / "store"
    update_all_tables(source=source, root=str(root), progress=False)
    edited = next(r for r in records if r["name"] == "behavior_676909_2023-11-03_09-16-17")
    assert "_last_modified" not in edited
    edited["last_modified"] = "2026-11-24T10:00:00.000Z"
    edited["subject"]["genotype"] = "edited/wt"
    untouched = next(r for r in records if r["name"].startswith("SmartSPIM_658355"))
    untouched["subject"]["genotype"] = "changed without a new last_modified"
    adapter.requests.clear()
    report = update_all_tables(source=source, root=str(root), progress=False)
    # Fetched: the edited record, and the one record with no time at all (DocDB cannot say whether it
    # changed, so every build reads it again).
    assert (report.full, report.records_read) == (False, 2)
    fetched = " ".join(r["params"]["filter"] for r in adapter.requests if "$in" in r["params"]["filter"])
    timeless = next(r for r in records if not r.get("_last_modified") and not r.get("last_modified"))
    assert edited["_id"] in fetched and timeless["_id"] in fetched and untouched["_id"] not in fetched
    since = next(r for r in source.records(since="2026-11-01T00:00:00Z"))
    assert since["_id"] == edited["_id"]
    basics = _read_tables(root)["asset_basics"].set_index("name")
    assert basics.loc[edited["name"], "genotype"] == "edited/wt"
    assert basics.loc[untouched["name"], "genotype"] != "changed without a new last_modified"
