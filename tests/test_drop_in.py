"""A biodata-cache 0.42 notebook, as tests: each call is spelled as 0.42 users write it (its keyword names,
its parameter values) and runs against a LOCAL store built from the real records in
tests/data/aind_records. Expected values were read by hand from those records.

The table of every 0.42 call is docs/migrating.md. Calls already covered elsewhere are not repeated here:
force_update on every reader (test_force_update.py), the whole-abbreviation and paging rules on many rows
(test_asset_basics_queries.py, including the absent cap of 100), raw_to_derived lineage corner cases
(test_lineage.py) and the registry's attribute access (test_registry_compat.py).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

import biodata_cache as bdc
from biodata_cache.errors import InvalidInputError, NoMatchWarning

RECORDS = Path(__file__).parent / "data" / "aind_records"

# v2_raw.json and v2_derived.json: a VR-foraging session of subject 828418 and its processed asset.
RAW = "828418_2026-02-13_18-31-13"
DERIVED = "828418_2026-02-13_18-31-13_processed_2026-02-14_12-44-45"
# v2_record.json: a derived multiplane-ophys asset of subject 692478; its raw asset has no record here.
OPHYS_RAW = "multiplane-ophys_692478_2023-09-29_08-53-45"
OPHYS = "multiplane-ophys_692478_2023-09-29_08-53-45_processed_2025-04-22_20-50-47"
# Added by the tests: a derived asset whose record names no source.
NO_SOURCE = "828418_2026-02-13_18-31-13_orphan_2026-02-15_10-00-00"


def _no_source_record() -> dict:
    record = json.loads((RECORDS / "v2_derived.json").read_text())
    record["_id"] = "drop-in-no-source"
    record["name"] = record["data_description"]["name"] = NO_SOURCE
    record["data_description"]["source_data"] = None
    return record


@pytest.fixture
def records(tmp_path, monkeypatch) -> Path:
    """A folder of the three real v2 records plus one derived record without a source; a LOCAL store."""
    folder = tmp_path / "records"
    folder.mkdir()
    for path in RECORDS.glob("*.json"):
        shutil.copy(path, folder)
    (folder / "no_source.json").write_text(json.dumps(_no_source_record()))
    root = tmp_path / "store"
    root.mkdir()
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", "LOCAL")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(root))
    monkeypatch.setenv("BIODATA_CACHE_SOURCE", str(folder))
    return folder


def names(frame: pd.DataFrame) -> list[str]:
    return frame["name"].tolist()


# -- asset_basics ------------------------------------------------------------------------------------


def test_asset_basics_force_update_with_filters_like_0_42(records):
    page = bdc.asset_basics(force_update=True, subject_id="828418", columns=["name", "data_level"])
    assert page.to_dict("records") == [
        {"name": RAW, "data_level": "raw"},
        {"name": NO_SOURCE, "data_level": "derived"},
        {"name": DERIVED, "data_level": "derived"},
    ]


def test_asset_basics_name_and_name_contains(records):
    assert names(bdc.asset_basics(name=RAW)) == [RAW]
    assert names(bdc.asset_basics(name_contains="PROCESSED_2025")) == [OPHYS]
    assert names(bdc.asset_basics(name_contains="_processed_")) == [DERIVED, OPHYS]


def test_asset_basics_acquisition_start_bounds_compare_instants(records):
    # The 828418 session started at 2026-02-13T18:31:13.061848Z; the same instant in Pacific time:
    pacific = "2026-02-13T10:31:13.061848-08:00"
    assert names(bdc.asset_basics(acquisition_start_after=pacific)) == [RAW, NO_SOURCE, DERIVED]  # inclusive
    assert names(bdc.asset_basics(acquisition_start_before=pacific)) == [OPHYS]  # strict
    # The ophys record says 2023-09-29 08:53:23.654198-07:00; written without an offset, that is lab time.
    assert names(
        bdc.asset_basics(
            acquisition_start_after="2023-09-29T08:53:23.654198",
            acquisition_start_before="2023-09-29T08:53:23.654199",
        )
    ) == [OPHYS]


def test_asset_basics_limit_offset_include_total(records):
    page, total = bdc.asset_basics(subject_id="828418", limit=1, offset=1, include_total=True)
    assert total == 3
    assert names(page) == [NO_SOURCE]
    empty, total = bdc.asset_basics(subject_id="828418", limit=0, include_total=True)
    assert empty.empty and total == 3


def test_asset_basics_modality_any_case_whole_abbreviation(records):
    assert names(bdc.asset_basics(modality="POPHYS")) == [OPHYS]
    assert names(bdc.asset_basics(modality="Behavior-Videos")) == [RAW, OPHYS]
    # 0.42 matched text inside the list, so "behav" found all three 828418 assets; here it warns.
    with pytest.warns(NoMatchWarning, match="did you mean 'behavior'"):
        assert bdc.asset_basics(modality="behav").empty


def test_asset_basics_columns_0_42_added(records):
    frame = bdc.asset_basics(
        columns=[
            "name",
            "age",
            "experimenters_normalized",
            "investigators_normalized",
            "instrument_id_normalized",
        ]
    ).set_index("name")
    # Born 2025-07-29, recorded 2026-02-13: 199 days. Born 2023-07-05, recorded 2023-09-29: 86 days.
    assert frame.loc[RAW, "age"] == 199
    assert frame.loc[OPHYS, "age"] == 86
    assert list(frame.loc[RAW, "experimenters_normalized"]) == ["Huy Nguyen"]  # recorded "huy.nguyen"
    assert list(frame.loc[OPHYS, "experimenters_normalized"]) == ["Unknown User"]  # "unknown user"
    assert list(frame.loc[DERIVED, "investigators_normalized"]) == ["Bruno Cruz", "Cindy Poo", "Tiffany Ona"]
    assert frame.loc[RAW, "instrument_id_normalized"] == "4A"


def test_instrument_id_normalized_also_strips_a_dash_date_suffix(records):
    # 0.42 strips a room prefix and a date suffix only after '_' ('429mesoscope20220321' there); the
    # issue asks for a -YYYYMMDD suffix too (docs/migrating.md, instrument_id_normalized).
    frame = bdc.asset_basics(name=OPHYS, columns=["instrument_id", "instrument_id_normalized"])
    assert frame["instrument_id"].tolist() == ["429-mesoscope-20220321"]
    assert frame["instrument_id_normalized"].tolist() == ["mesoscope"]


def test_a_last_processing_step_without_a_start_time_keeps_the_row(records):
    # 0.42 splits the last step's start_date_time and stops the whole asset_basics build on None.
    record = json.loads((records / "v2_raw.json").read_text())
    for step in record["processing"]["data_processes"]:
        step.pop("start_date_time", None)
    record["processing"]["data_processes"][-1].pop("end_date_time", None)
    (records / "v2_raw.json").write_text(json.dumps(record))
    frame = bdc.asset_basics(name=RAW, columns=["name", "process_date"])
    assert names(frame) == [RAW]
    # Only the first step still has an end time: 2026-02-14T02:24:52Z.
    assert frame["process_date"].tolist() == [pd.Timestamp("2026-02-14T02:24:52Z")]


def test_force_update_is_the_first_positional_argument_as_in_0_42(records):
    assert names(bdc.asset_basics(True, name=RAW)) == [RAW]
    assert bdc.unique_project_names(True) == bdc.unique_project_names()
    assert len(bdc.source_data(True)) == len(bdc.source_data())
    with pytest.raises(TypeError, match="positional"):
        bdc.asset_basics(True, "692478")  # filters are keywords, as in 0.42


# -- source_data and raw_to_derived ------------------------------------------------------------------


def test_source_data_has_a_row_for_a_derived_asset_without_a_source(records):
    frame = bdc.source_data().set_index("name")
    assert frame.loc[DERIVED, "source_data"] == RAW
    assert frame.loc[OPHYS, "source_data"] == OPHYS_RAW
    assert pd.isna(frame.loc[NO_SOURCE, "source_data"])  # 0.42: ""
    assert frame.loc[NO_SOURCE, "processing_time"] == pd.Timestamp("2026-02-15T10:00:00Z")


def test_raw_to_derived_latest_and_a_list(records):
    assert bdc.raw_to_derived(RAW) == [DERIVED]
    assert bdc.raw_to_derived(RAW, latest=True) == [DERIVED]
    assert bdc.raw_to_derived(RAW, modality="behavior", latest=True) == [DERIVED]
    # A list gives a dict; OPHYS_RAW has no record of its own and still gives its derived asset.
    assert bdc.raw_to_derived([RAW, OPHYS_RAW]) == {RAW: [DERIVED], OPHYS_RAW: [OPHYS]}


def test_raw_to_derived_latest_positional_as_0_42(records):
    # 0.42: raw_to_derived(asset_name, latest=False, modality=None, force_update=False)
    assert bdc.raw_to_derived(RAW, True) == [DERIVED]
    assert bdc.raw_to_derived(RAW, True, "behavior", False) == [DERIVED]


def test_raw_to_derived_modality_any_case_as_asset_basics(records):
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoMatchWarning)
        assert bdc.raw_to_derived(RAW, modality="BEHAVIOR") == [DERIVED]
    assert bdc.raw_to_derived(RAW, modality="behavior-videos") == []


# -- registry, custom --------------------------------------------------------------------------------


def test_registry_notebook_cell_on_a_built_store(records):
    bdc.asset_basics(columns=["name"])  # builds the store
    registry = bdc.get_cache_registry()
    table_names = [table.name for table in registry.tables]
    assert table_names == sorted(table_names)
    assert {table.type for table in registry.tables} <= {"metadata", "asset", "event", "realtime", "platform"}
    quality_control = registry["quality_control"]
    assert quality_control.name == "qc" and quality_control.type == "asset"
    assert quality_control.partition_key == "subject_id"
    assert registry["asset_basics"].columns[0].name == "_id"
    assert json.loads(registry["asset_basics"].model_dump_json())["name"] == "asset_basics"
    assert bdc.read_table("quality_control").num_rows == bdc.qc().shape[0]
    assert bdc.get_cache_versions() == ["bdc-v0.1"]


def test_custom_store_and_read_back(records):
    df = pd.DataFrame({"col": [1, 2, 3]})
    bdc.custom("my_data", df)
    pd.testing.assert_frame_equal(bdc.custom("my_data"), df)
    with pytest.raises(LookupError, match="my_data"):  # 0.42 raised ValueError
        bdc.custom("my_dat")
    with pytest.raises(InvalidInputError):
        bdc.custom("asset_basics", df)
