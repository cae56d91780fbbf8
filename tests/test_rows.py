"""Every table from the three real AIND records, with hand-checked expected values."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from biodata_cache import errors as bdc_errors
from biodata_cache import records, rows

RECORDS = Path(__file__).parent / "data" / "aind_records"
UTC = dt.timezone.utc
RAW = "828418_2026-02-13_18-31-13"
DERIVED = "828418_2026-02-13_18-31-13_processed_2026-02-14_12-44-45"
OPHYS = "multiplane-ophys_692478_2023-09-29_08-53-45_processed_2025-04-22_20-50-47"


@pytest.fixture(scope="module")
def raw():
    return json.loads((RECORDS / "v2_raw.json").read_text())


@pytest.fixture(scope="module")
def derived():
    return json.loads((RECORDS / "v2_derived.json").read_text())


@pytest.fixture(scope="module")
def ophys():
    return json.loads((RECORDS / "v2_record.json").read_text())


def test_asset_basics_of_the_raw_record(raw):
    (row,) = rows.asset_basics_rows(raw)
    assert row["_id"] == "ad668ba9-326a-4b5d-abc1-63ddefaf0a41"
    assert row["name"] == RAW
    assert row["data_level"] == "raw"
    assert row["project_name"] == "Cognitive flexibility in patch foraging"
    assert row["modalities"] == ["behavior", "behavior-videos"]
    assert row["subject_id"] == "828418"
    assert row["genotype"] == "wt/wt"
    assert row["acquisition_type"] == "AindVrForaging"
    assert row["acquisition_start_time"] == dt.datetime(2026, 2, 13, 18, 31, 13, 61848, tzinfo=UTC)
    assert row["acquisition_end_time"] == dt.datetime(2026, 2, 13, 19, 43, 41, 982725, tzinfo=UTC)
    assert row["age_days"] == 199  # born 2025-07-29, recorded 2026-02-13
    assert row["instrument_id"] == "4A"
    assert row["process_date"] == dt.datetime(2026, 2, 14, 12, 30, 37, tzinfo=UTC)  # latest of two steps
    assert row["code_ocean"] == ["7afcf17c-a33d-47e1-b95d-4cd000bbea33"]
    assert row["experimenters"] == ["huy.nguyen"]
    assert row["_last_modified"] == dt.datetime(2026, 2, 14, 12, 34, 44, 410000, tzinfo=UTC)


def test_asset_basics_of_ophys_record_with_offsets_and_no_processing(ophys):
    (row,) = rows.asset_basics_rows(ophys)
    assert row["subject_id"] == "692478"
    assert row["modalities"] == ["pophys", "behavior-videos"]
    # "2023-09-29 08:53:23.654198-07:00" in UTC
    assert row["acquisition_start_time"] == dt.datetime(2023, 9, 29, 15, 53, 23, 654198, tzinfo=UTC)
    assert row["process_date"] is None  # data_processes is empty
    assert row["age_days"] == (dt.date(2023, 9, 29) - dt.date(2023, 7, 5)).days
    assert row["created"] == dt.datetime(2025, 8, 25, 18, 18, 8, 775000, tzinfo=UTC)


def test_source_data_rows_hold_names_and_time_from_name(raw, derived, ophys):
    assert rows.source_data_rows(raw) == []
    (row,) = rows.source_data_rows(derived)
    assert row == {
        "name": DERIVED,
        "source_data": RAW,
        "pipeline_name": None,
        "processing_time": dt.datetime(2026, 2, 14, 12, 44, 45, tzinfo=UTC),
        "_id": derived["_id"],
    }
    (row,) = rows.source_data_rows(ophys)
    assert row["source_data"] == "multiplane-ophys_692478_2023-09-29_08-53-45"


def test_qc_rows_of_derived_record(derived):
    metrics = rows.qc_rows(derived)
    assert len(metrics) == 131
    first = metrics[0]
    assert first["subject_id"] == "828418"
    assert first["asset_name"] == DERIVED
    assert first["raw_asset_name"] == RAW
    assert first["name"] == "ContractTestSuite::test_has_errors_on_load"
    assert first["stage"] == "Processing"
    assert first["modality"] == "behavior"
    assert first["value"] is None
    assert first["status"] == "Fail"
    assert first["evaluator"] == "Automated"
    assert first["status_time"] == dt.datetime(2026, 2, 14, 12, 38, 8, 289331, tzinfo=UTC)
    assert first["tags"] == '{"Data contract": "ContractTestSuite"}'
    values = [m["value"] for m in metrics]
    assert "true" in values or "false" in values  # 45 booleans as JSON
    assert all(v is None or isinstance(v, str) for v in values)


def test_qc_columns_of_several_records_hold_each_records_rows_in_order_and_give_the_same_arrow_table(
    raw, derived, ophys
):
    from biodata_cache.publish import columns_to_arrow, rows_to_arrow
    from biodata_cache.tables import get_table

    batch = [derived, raw, ophys, derived]
    expected = [row for record in batch for row in rows.qc_rows(record)]
    columns = rows.qc_columns([records.normalize(record) for record in batch])
    assert tuple(columns) == rows.QC_COLUMNS == tuple(get_table("qc").column_names)
    assert [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ] == expected
    assert len(expected) == 2 * 131 + 4
    table = get_table("qc")
    assert columns_to_arrow(table, columns).equals(rows_to_arrow(table, expected))


def test_qc_dict_values_are_json_with_sorted_keys_and_list_tags(ophys):
    metrics = rows.qc_rows(ophys)
    assert len(metrics) == 4
    value = json.loads(metrics[0]["value"])
    assert value["type"] == "dropdown"
    assert metrics[0]["value"].index('"options"') < metrics[0]["value"].index('"type"')
    assert json.loads(metrics[0]["tags"]) == ophys["quality_control"]["metrics"][0]["tags"]
    assert metrics[0]["status"] == "Pending"
    assert metrics[0]["status_time"] == dt.datetime(2025, 4, 23, 0, 38, 48, 368044, tzinfo=UTC)


def test_qc_status_long_format_classifies_keys(derived, ophys):
    status = {r["key"]: r for r in rows.qc_status_rows(derived)}
    assert len(status) == 25
    assert status["behavior"]["key_type"] == "modality" and status["behavior"]["status"] == "Fail"
    assert status["Processing"]["key_type"] == "stage"
    assert status["HarpBehavior:HarpDeviceTestSuite"] == {
        "_id": derived["_id"],
        "_last_modified": dt.datetime(2026, 2, 14, 13, 0, 35, 192000, tzinfo=UTC),
        "asset_name": DERIVED,
        "subject_id": "828418",
        "key": "HarpBehavior:HarpDeviceTestSuite",
        "key_type": "tag",
        "status": "Pass",
    }
    assert {r["key_type"] for r in rows.qc_status_rows(ophys) if r["key"] == "pophys"} == {"modality"}


def test_metadata_core_and_time_to_qc(raw, derived, ophys):
    (core,) = rows.metadata_core_rows(raw)
    assert core["quality_control"] is False and core["subject"] is True and core["procedures"] is True
    assert rows.time_to_qc_rows(raw) == []  # raw and no metrics
    (timing,) = rows.time_to_qc_rows(derived)
    assert timing["process_end_time"] == dt.datetime(2026, 2, 14, 12, 42, 0, 190654, tzinfo=UTC)
    metrics = derived["quality_control"]["metrics"]
    pending = any(records.latest_status(m)["status"] == "Pending" for m in metrics)
    assert timing["pending"] is pending
    (timing,) = rows.time_to_qc_rows(ophys)
    assert timing == {
        "name": OPHYS,
        "process_end_time": dt.datetime(2025, 4, 22, 20, 50, 47, tzinfo=UTC),  # no processing steps: name
        "qc_time": None,
        "pending": True,
        "_id": ophys["_id"],
    }


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"_id": "x", "name": None, "data_description": None, "subject": None, "quality_control": None},
        {"_id": "x", "other_identifiers": {"Code Ocean": []}, "processing": {"data_processes": []}},
        {"_id": "x", "data_description": {"source_data": None, "project_name": None, "modalities": None}},
        {
            "_id": "x",
            "subject": {"subject_id": 692478},
            "quality_control": {"metrics": [{"value": {"b": 1, "a": 2}}]},
        },
        {
            "_id": "x",
            "quality_control": {"metrics": ["not a metric", {"tags": ["a"], "status_history": None}]},
        },
        {"_id": "x", "acquisition": {"acquisition_start_time": "not a time"}},
    ],
)
def test_missing_null_and_odd_fields_give_nulls_never_a_crash(record):
    for function in (rows.asset_basics_rows, rows.source_data_rows, rows.qc_rows, rows.qc_status_rows,
                     rows.metadata_core_rows, rows.time_to_qc_rows):  # fmt: skip
        function(record)
    (basics,) = rows.asset_basics_rows(record)
    assert basics["_id"] == record.get("_id")


def test_numeric_subject_ids_become_strings_and_values_sorted_json():
    record = {
        "subject": {"subject_id": 692478},
        "quality_control": {"metrics": [{"value": {"b": 1, "a": 2}}]},
    }
    (metric,) = rows.qc_rows(record)
    assert metric["subject_id"] == "692478"
    assert metric["value"] == '{"a": 2, "b": 1}'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-14T12:34:44.410Z", dt.datetime(2026, 2, 14, 12, 34, 44, 410000, tzinfo=UTC)),
        ("2025-04-23 00:38:48.368044+00:00", dt.datetime(2025, 4, 23, 0, 38, 48, 368044, tzinfo=UTC)),
        ("2025-04-22 20:50:47-07:00", dt.datetime(2025, 4, 23, 3, 50, 47, tzinfo=UTC)),
        ("2025-07-29", dt.datetime(2025, 7, 29, tzinfo=UTC)),
        ("2025-07-29T10:00:00", dt.datetime(2025, 7, 29, 10, tzinfo=UTC)),
        ("", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_envelope_times_in_every_iso_form_become_utc_and_naive_ones_are_utc(text, expected):
    assert records.timestamp(text) == expected


# -- the record shape check (one place, before the row functions) -------------------------------------


def test_every_real_record_passes_the_shape_check(raw, derived, ophys):
    from biodata_cache.sources import open_source

    for record in (raw, derived, ophys, *open_source("sample").records()):
        records.check_record(record)


def test_a_metrics_object_is_rejected_naming_the_field_what_was_expected_and_found(derived):
    record = json.loads(json.dumps(derived))
    record["quality_control"]["metrics"] = {m["name"]: m for m in record["quality_control"]["metrics"]}
    with pytest.raises(bdc_errors.RecordError) as caught:
        records.check_record(record)
    assert caught.value.where == f'_id "{derived["_id"]}" name "{DERIVED}"'
    assert caught.value.reason.startswith(
        "quality_control.metrics: expected a list of objects, found an object {"
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ["a"]}, "name: expected a string, found a list"),
        ({"_id": {"$oid": "65f0"}}, "_id: expected a string (or an integer) id, found an object"),
        ({"_last_modified": 1700000000}, "_last_modified: expected an ISO 8601 time"),
        ({"acquisition": {"acquisition_start_time": "yesterday"}}, 'acquisition_start_time: expected an ISO'),
        ({"subject": {"subject_id": 692478.0}}, "subject.subject_id: expected a string (or an integer)"),
        ({"data_description": {"source_data": {"name": "x"}}}, "source_data: expected a list"),
        ({"quality_control": {"metrics": [{"status_history": [{"timestamp": 5}]}]}},
         "quality_control.metrics[0].status_history[0].timestamp: expected an ISO 8601 time"),
        ({"procedures": []}, "procedures: expected an object, found a list"),
    ],
)  # fmt: skip
def test_a_field_of_the_wrong_type_is_rejected_with_its_path(change, field):
    with pytest.raises(bdc_errors.RecordError, match=re.escape(field)):
        records.check_record({"_id": "x", "name": "n", **change})


def test_a_record_without_id_or_name_is_rejected():
    for record in ({}, {"_id": None, "name": "  "}, {"_id": ""}, []):
        with pytest.raises(bdc_errors.RecordError, match=r"_id|record"):
            records.check_record(record)


def test_documented_readings_int_subject_id_plain_string_modality_and_one_source_string(raw):
    record = json.loads(json.dumps(raw))
    record["subject"]["subject_id"] = 828418
    record["data_description"]["modalities"] = "behavior"
    record["data_description"]["source_data"] = "some_raw_asset"
    record["other_identifiers"]["Code Ocean"] = "abc"
    records.check_record(record)
    (row,) = rows.asset_basics_rows(record)
    assert (row["subject_id"], row["modalities"], row["code_ocean"]) == ("828418", ["behavior"], ["abc"])
    assert [r["source_data"] for r in rows.source_data_rows(record)] == ["some_raw_asset"]
