"""The normal forms of biodata_cache.records: modalities, data levels, times, ages, paths per shape."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from biodata_cache import records, rows
from biodata_cache.tables import projection

UTC = dt.timezone.utc
REAL = Path(__file__).parent / "data" / "aind_records" / "real"


@pytest.mark.parametrize(
    ("spelling", "normal"),
    [
        ("SmartSPIM", "SPIM"),
        ("smartspim", "SPIM"),
        ("exaSPIM", "SPIM"),
        ("diSPIM", "SPIM"),
        ("FIP", "fib"),
        ("HSFP", "fib"),
        ("ophys", "pophys"),
        ("slap", "slap2"),
        ("trained-behavior", "behavior"),
        ("Ecephys", "ecephys"),
        ("spim", "SPIM"),
        ("Behavior videos", "behavior-videos"),
        ("Selective plane illumination microscopy", "SPIM"),
        ("behavior-videos", "behavior-videos"),
        ("BARseq", "BARseq"),
        ("a-new-modality", "a-new-modality"),
    ],
)
def test_modality_spellings_map_to_todays_abbreviation_or_stay_as_written(spelling, normal):
    assert records.normal_modality(spelling) == normal


def test_modalities_keep_the_recorded_spelling_and_drop_repeats_after_mapping():
    record = {"_id": "x", "data_description": {"modality": ["SmartSPIM", {"abbreviation": "SPIM"}, "FIP"]}}
    (row,) = rows.asset_basics_rows(record)
    assert row["modalities"] == ["SPIM", "fib"]
    assert row["recorded_modalities"] == ["SmartSPIM", "SPIM", "FIP"]
    alone = {"_id": "y", "data_description": {"modality": "SmartSPIM"}}
    assert rows.asset_basics_rows(alone)[0]["modalities"] == ["SPIM"]


@pytest.mark.parametrize(
    ("level", "normal"),
    [
        ("raw", "raw"),
        ("raw data", "raw"),
        ("Raw Data", "raw"),
        (" raw_data ", "raw"),
        ("derived data", "derived"),
        ("derived-data", "derived"),
        ("Derived", "derived"),
        ("simulated", "simulated"),
    ],
)
def test_data_level_spellings(level, normal):
    assert records.normal_data_level(level.strip()) == normal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-10-18T20:30:30", dt.datetime(2023, 10, 19, 3, 30, 30, tzinfo=UTC)),  # PDT
        ("2023-02-28T15:17:04", dt.datetime(2023, 2, 28, 23, 17, 4, tzinfo=UTC)),  # PST
        ("2023-02-28 15:17:04", dt.datetime(2023, 2, 28, 23, 17, 4, tzinfo=UTC)),
        ("2023-07-05", dt.datetime(2023, 7, 5, 7, tzinfo=UTC)),
        ("2025-04-13T15:30:30.162812-07:00", dt.datetime(2025, 4, 13, 22, 30, 30, 162812, tzinfo=UTC)),
        ("2025-09-25T12:43:56+00:00", dt.datetime(2025, 9, 25, 12, 43, 56, tzinfo=UTC)),
        ("2026-02-13T18:31:13Z", dt.datetime(2026, 2, 13, 18, 31, 13, tzinfo=UTC)),
        ("2024-03-10T02:30:00", dt.datetime(2024, 3, 10, 10, 30, tzinfo=UTC)),  # in the spring-forward gap
        ("2024-11-03T01:30:00", dt.datetime(2024, 11, 3, 8, 30, tzinfo=UTC)),  # ambiguous: first (PDT)
        ("", None),
        ("not a time", None),
    ],
)
def test_lab_times_without_offset_are_los_angeles_local_time(text, expected):
    assert records.local_timestamp(text) == expected


def test_envelope_times_without_offset_are_utc():
    assert records.timestamp("2024-09-06T22:14:10.446293") == dt.datetime(
        2024, 9, 6, 22, 14, 10, 446293, tzinfo=UTC
    )
    (row,) = rows.asset_basics_rows(
        {"_id": "x", "last_modified": "2024-09-06T22:14:10", "created": "2024-08-19"}
    )
    assert row["_last_modified"] == dt.datetime(2024, 9, 6, 22, 14, 10, tzinfo=UTC)
    assert row["created"] == dt.datetime(2024, 8, 19, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "age"),
    [
        ("2025-09-26T18:18:00-07:00", 10),  # the UTC date is 09-27: the age must not be one day higher
        ("2025-09-26T23:59:59-07:00", 10),
        ("2025-09-26T20:30:30", 10),  # no offset: local already
        ("2025-09-27T01:18:00Z", 10),  # a UTC time says when, not where: 18:18 on 09-26 at the lab
        ("2025-09-27T01:18:00+00:00", 10),
        ("2025-09-27T08:18:00Z", 11),
        ("2025-09-27T01:18:00+02:00", 11),  # a local offset elsewhere: the date written there
        ("2025-09-26", 10),
    ],
)
def test_age_counts_days_to_the_acquisitions_own_calendar_date(start, age):
    record = {
        "_id": "x",
        "subject": {"date_of_birth": "2025-09-16"},
        "session": {"session_start_time": start},
    }
    assert rows.asset_basics_rows(record)[0]["age_days"] == age


def test_a_v1_session_reads_like_a_v2_acquisition():
    v1 = {
        "_id": "x",
        "name": "behavior_1_2025-01-01_10-00-00",
        "last_modified": "2025-01-02T00:00:00Z",
        "subject": {"subject_id": 1, "genotype": "wt/wt", "date_of_birth": "2024-12-01"},
        "data_description": {"modality": [{"abbreviation": "behavior"}], "data_level": "raw data"},
        "session": {
            "session_start_time": "2025-01-01T10:00:00-08:00",
            "session_end_time": "2025-01-01T11:00:00-08:00",
            "experimenter_full_name": "A Person",
            "rig_id": "rig-1",
            "session_type": "Foraging",
        },
        "rig": {"rig_id": "rig-1_20241201"},
        "external_links": {"Code Ocean": ["co-1"]},
    }
    v2 = {
        "_id": "x",
        "name": "behavior_1_2025-01-01_10-00-00",
        "_last_modified": "2025-01-02T00:00:00Z",
        "subject": {
            "subject_id": "1",
            "subject_details": {"genotype": "wt/wt", "date_of_birth": "2024-12-01"},
        },
        "data_description": {"modalities": [{"abbreviation": "behavior"}], "data_level": "raw"},
        "acquisition": {
            "acquisition_start_time": "2025-01-01T18:00:00Z",
            "acquisition_end_time": "2025-01-01T19:00:00Z",
            "experimenters": [{"name": "A Person"}],
            "instrument_id": "rig-1",
            "acquisition_type": "Foraging",
        },
        "instrument": {"instrument_id": "rig-1_20241201"},
        "other_identifiers": {"Code Ocean": ["co-1"]},
    }
    assert rows.asset_basics_rows(v1) == rows.asset_basics_rows(v2)
    assert rows.metadata_core_rows(v1) == rows.metadata_core_rows(v2)


def test_a_v1_evaluation_gives_one_qc_row_per_metric_with_its_stage_modality_and_name_as_tag():
    record = {
        "_id": "x",
        "name": "asset",
        "data_description": {"data_level": "derived data", "input_data_name": "raw_asset"},
        "quality_control": {
            "evaluations": [
                {
                    "name": "Drift",
                    "stage": "Processing",
                    "modality": "FIP",
                    "latest_status": "Fail",
                    "tags": ["ignored"],
                    "metrics": [
                        {
                            "name": "m1",
                            "value": 1,
                            "status_history": [{"status": "Fail", "timestamp": "2025-01-01"}],
                        },
                        {"name": "m2", "value": {"b": 1, "a": 2}, "status_history": []},
                    ],
                }
            ]
        },
    }
    qc = rows.qc_rows(record)
    assert [(r["name"], r["stage"], r["modality"], r["tags"], r["raw_asset_name"]) for r in qc] == [
        ("m1", "Processing", "fib", '["Drift"]', "raw_asset"),
        ("m2", "Processing", "fib", '["Drift"]', "raw_asset"),
    ]
    assert qc[1]["value"] == '{"a": 2, "b": 1}'
    assert qc[0]["status_time"] == dt.datetime(2025, 1, 1, 8, tzinfo=UTC)
    assert rows.qc_status_rows(record) == [
        {
            "_id": "x",
            "_last_modified": None,
            "asset_name": "asset",
            "subject_id": None,
            "key": "Drift",
            "key_type": "tag",
            "status": "Fail",
        }
    ]
    (timing,) = rows.time_to_qc_rows(record)
    assert timing["pending"] is True  # m2 has no status
    assert rows.source_data_rows(record)[0]["source_data"] == "raw_asset"


def test_code_ocean_ids_from_other_identifiers_and_external_links_in_every_form():
    both = {
        "_id": "x",
        "other_identifiers": {"Code Ocean": ["a"]},
        "external_links": {"Code Ocean": ["a", "b"]},
    }
    assert rows.asset_basics_rows(both)[0]["code_ocean"] == ["a", "b"]
    listed = {"_id": "x", "external_links": [{"Code Ocean": "c"}, {"Other": "d"}]}
    assert rows.asset_basics_rows(listed)[0]["code_ocean"] == ["c"]
    assert rows.asset_basics_rows({"_id": "x", "external_links": []})[0]["code_ocean"] == []


def test_change_marker_is_last_modified_of_either_shape_else_a_content_fingerprint():
    assert records.change_marker({"_last_modified": "a", "last_modified": "b"}) == "a"
    assert records.change_marker({"last_modified": "b"}) == "b"
    one = records.change_marker({"_id": "x", "name": "n"})
    assert one.startswith("content:") and one == records.change_marker({"name": "n", "_id": "x"})
    assert one != records.change_marker({"_id": "x", "name": "m"})


def test_every_path_the_normal_form_reads_is_in_the_docdb_projection_and_the_shape_check():
    projected = projection()
    for value, paths in records.PROJECTIONS.items():
        for path in paths:
            assert any(path == p or path.startswith(p + ".") for p in projected), (value, path)
    checked = {p.replace("[]", "") for p in records.RECORD_FIELDS}
    for value, paths in records.PATHS.items():
        for path in paths:
            plain = path.replace("[]", "").replace("<processing step>", "processing.data_processes")
            if value != "core_files":
                assert plain in checked, (value, path)


def test_the_real_v1_and_hybrid_records_pass_the_shape_check():
    for path in sorted(REAL.glob("*.json")):
        records.check_record(json.loads(path.read_text()))


def test_a_wrong_typed_v1_field_is_named_with_its_path():
    record = {"_id": "x", "quality_control": {"evaluations": [{"metrics": [{"status_history": {}}]}]}}
    with pytest.raises(
        records.RecordError, match=r"quality_control\.evaluations\[0\]\.metrics\[0\]\.status_history"
    ):
        records.check_record(record)
    with pytest.raises(records.RecordError, match=r"session\.session_start_time: expected an ISO 8601 time"):
        records.check_record({"_id": "x", "session": {"session_start_time": "yesterday"}})


def test_a_group_of_processing_steps_in_a_nested_list_is_read_not_rejected():
    record = {
        "_id": "x",
        "processing": {
            "processing_pipeline": {
                "data_processes": [
                    {"end_date_time": "2025-01-01T00:00:00Z"},
                    [{"end_date_time": "2025-01-03T00:00:00Z"}, {"end_date_time": "2025-01-02T00:00:00Z"}],
                ]
            }
        },
    }
    records.check_record(record)
    assert rows.asset_basics_rows(record)[0]["process_date"] == dt.datetime(2025, 1, 3, tzinfo=UTC)
    bad = {"_id": "x", "processing": {"data_processes": [[{"end_date_time": "yesterday"}]]}}
    with pytest.raises(records.RecordError, match=r"processing\.data_processes\[0\]\[0\]\.end_date_time"):
        records.check_record(bad)


def test_processing_step_times_without_offset_are_utc_like_the_name_they_match():
    record = json.loads((REAL / "v1_smartspim_stitched_labelled_raw.json").read_text())
    first = record["processing"]["data_processes"][0]["start_date_time"]
    assert first == "2023-02-02T21:58:54.429361" and record["name"].endswith("_stitched_2023-02-02_21-58-54")
    (row,) = rows.asset_basics_rows(record)
    assert row["process_date"] == dt.datetime(2023, 2, 4, 7, 35, 27, 260981, tzinfo=UTC)


def test_qc_of_aind_data_schema_1_0_0_evaluations_is_read_with_its_evaluation_prefixed_fields():
    listed = {
        "_id": "x",
        "name": "a",
        "quality_control": {
            "overall_status": [{"status": "Pass", "timestamp": "2024-09-20"}],
            "evaluations": [
                {
                    "evaluation_name": "Drift",
                    "evaluation_stage": "Processing",
                    "evaluation_modality": {"abbreviation": "ecephys"},
                    "qc_metrics": [{"name": "m", "value": 1}],
                    "evaluation_status": [
                        {"status": "Fail", "timestamp": "2024-09-20", "evaluator": "x"},
                        {"status": "Pass", "timestamp": "2024-09-21", "evaluator": "y"},
                    ],
                }
            ],
        },
    }
    records.check_record(listed)
    (metric,) = rows.qc_rows(listed)
    assert (metric["name"], metric["stage"], metric["modality"], metric["tags"]) == (
        "m",
        "Processing",
        "ecephys",
        '["Drift"]',
    )
    assert [(r["key"], r["status"]) for r in rows.qc_status_rows(listed)] == [("Drift", "Pass")]
    released = {  # the released 1.0.0: metric values by name, one status for the stage
        "_id": "y",
        "quality_control": {
            "evaluations": [
                {
                    "evaluation_stage": "Raw data",
                    "evaluation_modality": "SmartSPIM",
                    "qc_metrics": {"dropped frames": 0, "notes": {"a": 1}},
                    "stage_status": "Pass",
                    "evaluation_name": "Raw",
                }
            ]
        },
    }
    records.check_record(released)
    assert [(r["name"], r["value"], r["modality"]) for r in rows.qc_rows(released)] == [
        ("dropped frames", "0", "SPIM"),
        ("notes", '{"a": 1}', "SPIM"),
    ]
    assert [(r["key"], r["status"]) for r in rows.qc_status_rows(released)] == [("Raw", "Pass")]


def test_people_alone_and_links_as_plain_urls_are_read_not_a_reason_to_skip():
    record = {
        "_id": "x",
        "data_description": {"investigators": {"name": "Ada"}},
        "external_links": ["https://example.org/a", {"Code Ocean": "co-1"}],
    }
    records.check_record(record)
    (row,) = rows.asset_basics_rows(record)
    assert row["investigators"] == ["Ada"] and row["code_ocean"] == ["co-1"]


def test_a_blank_time_is_no_change_marker():
    assert records.recorded_change_marker({"_last_modified": " ", "last_modified": "t"}) == "t"
    assert records.recorded_change_marker({"_last_modified": ""}) is None


def test_a_derived_asset_without_sources_keeps_one_lineage_row_and_a_raw_one_none():
    level = {"data_level": "derived data"}
    derived = {"_id": "x", "name": "a_2025-01-01_00-00-00", "data_description": level}
    assert rows.source_data_rows(derived) == [
        {
            "name": "a_2025-01-01_00-00-00",
            "source_data": None,
            "pipeline_name": None,
            "processing_time": dt.datetime(2025, 1, 1, tzinfo=UTC),
            "_id": "x",
        }
    ]
    assert rows.source_data_rows({"_id": "y", "name": "r", "data_description": {"data_level": "raw"}}) == []


# -- columns of biodata-cache 0.42 (issue 10 item 4) ------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "normal"),
    [
        # real: v2_ecephys_behavior_raw_222.json acquisition.experimenters
        (
            ["Yoni Browning", "Katrina Nguyen", "Tiffany Ona", "katrina.nguyen"],
            ["Yoni Browning", "Katrina Nguyen", "Tiffany Ona"],
        ),
        (["huy.nguyen"], ["Huy Nguyen"]),  # real: v2_raw.json
        (["shiella caldejon"], ["Shiella Caldejon"]),  # real: v1_multiplane_raw.json
        (["NSB trainer"], ["Nsb Trainer"]),  # real: v1_behavior_raw_0219.json; 0.42 title-cases every word
        (["A Person, b.c", "  "], ["A Person", "B C"]),
        (["Katrina", "Katrina Nguyen"], ["Katrina Nguyen"]),
        (["Katrina", "Katrina Nguyen", "Katrina Smith"], ["Katrina", "Katrina Nguyen", "Katrina Smith"]),
        ([], []),
    ],
)
def test_person_names_take_the_normal_form_of_biodata_cache_0_42(names, normal):
    assert records.normal_person_names(names) == normal


@pytest.mark.parametrize(
    ("instrument", "normal"),
    [
        ("323_EPHYS1_20250922", "EPHYS1"),  # real: v1mix_ecephys_sorted_qc_800779.json session.rig_id
        ("446_8A_20250409", "8A"),  # real: v1_behavior_derived_qc.json
        ("327_NP2_240401", "NP2"),  # real: v1_ecephys_dlc_face.json (YYMMDD)
        ("429-mesoscope-20220321", "mesoscope"),  # real: v2_record.json, a -YYYYMMDD suffix
        ("342_BEHDEV.B-2_20240401", "BEHDEV.B2"),
        ("13A", "13A"),
        ("exaspim-01", "exaspim01"),
        (None, None),
    ],
)
def test_instrument_ids_take_the_normal_form_of_biodata_cache_0_42(instrument, normal):
    assert records.normal_instrument_id(instrument) == normal


def test_age_falls_back_to_january_first_of_the_year_of_birth():
    human = {
        "_id": "x",
        "subject": {"subject_details": {"year_of_birth": 1990}},
        "acquisition": {"acquisition_start_time": "2020-03-01T10:00:00-08:00"},
    }
    (row,) = rows.asset_basics_rows(human)
    assert row["age"] == (dt.date(2020, 3, 1) - dt.date(1990, 1, 1)).days and row["age_days"] is None
    mouse = json.loads((REAL / "v1_behavior_derived_qc.json").read_text())
    (row,) = rows.asset_basics_rows(mouse)
    assert row["age"] == row["age_days"] == 162  # birth 2024-11-02, session 2025-04-13 (-07:00)


def test_metadata_core_has_the_last_modified_time_of_either_shape():
    (v1,) = rows.metadata_core_rows(json.loads((REAL / "v1_behavior_derived_qc.json").read_text()))
    assert v1["_last_modified"] == dt.datetime(2025, 4, 14, 4, 10, 39, 724000, tzinfo=UTC)


@pytest.mark.parametrize("year", ["nineteen", 19.5, "199", True, 1700])
def test_a_year_of_birth_that_is_not_a_year_is_rejected_not_read_as_no_age(year):
    record = {"_id": "x", "subject": {"subject_details": {"year_of_birth": year}}}
    expected = r"subject\.subject_details\.year_of_birth: expected a year"
    with pytest.raises(records.RecordError, match=expected):
        records.check_record(record)
    records.check_record({"_id": "x", "subject": {"subject_details": {"year_of_birth": " 1990 "}}})


def test_sorted_json_writes_what_json_dumps_with_sorted_keys_writes():
    values = [
        "plain",
        "naïve — ☃",
        {"b": [1, 2.5, None, True], "a": {"z": "é", "y": 1e16, "x": -0.0}},
        [float("nan"), float("inf"), 10**30, {"k": dt.date(2024, 1, 2)}],
        {"when": dt.datetime(2024, 1, 2, 3, 4, 5), "nested": [[], {}, ""]},
        3,
        2.0,
        False,
        None,
        -0.0,
        1e16,
        1e-07,
        10**30,
        float("nan"),
        float("-inf"),
    ]
    for value in values:
        assert records.sorted_json(value) == json.dumps(value, sort_keys=True, default=str)
        assert records.json_text(value) == (value if isinstance(value, str) or value is None else
                                            json.dumps(value, sort_keys=True, default=str))  # fmt: skip


@pytest.mark.parametrize("tags", [None, ["Probe A"], {"Data contract": "ContractTestSuite"}, "solo", []])
@pytest.mark.parametrize(
    ("modality", "name", "stage"), [("ecephys", "drift", "Processing"), (None, "naïve ☃", None)]
)
def test_metric_key_is_the_sorted_json_of_modality_name_stage_and_tags(tags, modality, name, stage):
    identity = {"tags": tags, "stage": stage, "name": name, "modality": modality}
    expected = json.dumps(identity, sort_keys=True)
    assert records.metric_key(modality, name, stage, records.sorted_json(tags)) == expected
    metric = {"name": name, "stage": stage, "modality": modality, "tags": tags}
    assert records.Metric(metric).key == expected


def _status(status: str, timestamp: str | None = None) -> dict[str, str]:
    return {"status": status} if timestamp is None else {"status": status, "timestamp": timestamp}


@pytest.mark.parametrize(
    ("history", "latest"),
    [
        ([], None),
        ([_status("Pass", "2025-04-22T10:00:00")], 0),
        ([_status("Pass", "2025-04-22T10:00:00Z"), _status("Fail", "2025-04-22T09:00:00Z")], 0),
        ([_status("Pass", "2025-04-22T10:00:00Z"), _status("Fail", "2025-04-22T03:00:00-07:00")], 1),  # a tie
        ([_status("Pass", "2025-04-22T10:00:00Z"), _status("Fail")], 1),
        ([_status("Pass"), _status("Fail", "2025-04-22T10:00:00Z")], 1),
        ([_status("Fail", "2025-04-23"), "not a status", _status("Pass", "2025-04-22")], 0),
    ],
)
def test_a_metrics_latest_status_is_the_last_of_its_latest_times_and_keeps_that_time(history, latest):
    metric = records.Metric({"name": "m", "status_history": history})
    entries = [h for h in history if isinstance(h, dict)]
    expected = {} if latest is None else entries[latest]
    assert metric.latest_status() == expected == records.latest_status({"status_history": history})
    assert metric.latest_status_time() == records.local_timestamp(expected.get("timestamp"))


def _time_candidates() -> list[str]:
    """Dates around every month end, leap and century years, with each clock, fraction and offset form."""
    days = [
        f"{year}-{month:02d}-{day:02d}"
        for year in ("0000", "0001", "1900", "2000", "2023", "2024", "2100", "9999")
        for month in range(0, 14)
        for day in (0, 1, 28, 29, 30, 31, 32)
    ]
    clocks = ["", "T00", "T23:59", "T24:00", "T12:60", "T10:00:00", "T10:00:59", "T10:00:60", " 18:22:06"]
    fractions = ["", ".1", ".000", ".12345", ".000000", ".1234567"]
    offsets = ["", "Z", "z", "+00:00", "-07:00", "+23:59", "+24:00", "+0500", "+05"]
    found = list(days)
    for day in ("2024-02-29", "2025-06-04", "2023-02-29", "2025-04-31"):
        found += [f"{day}{c}{f}{o}" for c in clocks[1:] for f in fractions for o in offsets]
    return [*found, "", " ", "2025", "2025-06", "yesterday", "2025-06-04T", "2025-06-04Z", " 2025-06-04"]


def test_every_time_the_c_check_accepts_is_a_time_the_python_check_accepts():
    import re

    fast = re.compile(records._FAST_TIME)
    candidates = _time_candidates()
    accepted = [value for value in candidates if fast.search(value)]
    assert [value for value in accepted if not records._is_time(value)] == []
    # and it accepts the forms records hold, so that they are checked in C
    common = ("2025-06-27T06:38:39.000Z", "2024-02-29", "2025-06-04 18:22:06+00:00", "2025-06-04T18:22:06")
    assert all(fast.search(value) for value in common)
    assert len(accepted) > len(candidates) / 10


def test_a_record_from_json_passes_the_c_check_only_if_it_passes_the_python_check():
    pytest.importorskip("msgspec")
    import random

    rng = random.Random(12)
    wrong = [7, 1.5, True, "", "yesterday", [], {}, ["x"], [1], [{}], {"a": 1}, [[{}]], [[1]], 2**70, None]
    wrong += ["2025-02-30", "2024-02-29T10:00:00Z", "1799", 1799, "1800", {"abbreviation": 3}, ["x", 5]]
    originals = [json.loads(path.read_text()) for path in sorted(REAL.glob("*.json"))]
    assert originals and all(records.json_record_passes(record) for record in originals)
    rejected = 0
    for original in originals * 40:
        record = json.loads(json.dumps(original))
        places = list(_places(record))
        for _ in range(rng.choice((1, 2))):
            parent, key = rng.choice(places)
            parent[key] = rng.choice(wrong)
        try:
            records.check_record(record)
        except records.RecordError:
            rejected += 1
            assert not records.json_record_passes(record), json.dumps(record)[:300]
    assert rejected > 40  # the mutations reach fields the check reads


def _places(value):
    """``(container, key)`` of every value inside a parsed JSON value."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield value, key
        yield from _places(item)


def test_the_c_check_leaves_values_json_does_not_give_to_the_python_check():
    pytest.importorskip("msgspec")
    assert records.json_record_passes({"_id": "a", "data_description": {"modalities": ["ecephys"]}})
    assert not records.json_record_passes({"_id": "a", "created": dt.datetime(2025, 1, 1)})
    records.check_record({"_id": "a", "created": dt.datetime(2025, 1, 1)})  # which accepts it
    assert not records.json_record_passes({"_id": ""})  # no id: the Python check words the reason
