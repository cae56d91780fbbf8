"""The one-line readers on memory, local and S3 stores published with the small fixture."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import publish_fixture

import biodata_cache as bdc
from biodata_cache.errors import InvalidInputError, TableNotFoundError
from biodata_cache.store import Store
from biodata_cache.tables import get_table


@pytest.fixture(params=["memory", "local", "s3"])
def published_root(request, tmp_path, monkeypatch):
    """A root with the fixture published, selected through BIODATA_CACHE_ROOT."""
    if request.param == "memory":
        root = "memory://published"
    elif request.param == "local":
        root = str(tmp_path / "store")
    else:
        root = request.getfixturevalue("s3_root")
    publish_fixture(root)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    return root


def test_unique_lists_are_sorted_strings(published_root):
    assert bdc.unique_project_names() == ["Learning mFISH", "Patch foraging"]
    assert bdc.unique_subject_ids() == ["692478", "828418"]
    assert bdc.unique_genotypes() == ["wt/wt"]


def test_asset_basics_filters_are_pushed_down_and_combined(published_root):
    assert len(bdc.asset_basics()) == 5
    derived = bdc.asset_basics(subject_id="692478", data_level="derived")
    assert sorted(derived["_id"]) == ["2", "3"]
    behavior = bdc.asset_basics(modality="behavior", columns=["name"])
    assert list(behavior.columns) == ["name"]
    assert sorted(behavior["name"]) == [
        "behavior_828418_raw",
        "behavior_828418_raw_processed_2024-04-01_00-00-00",
    ]
    both = bdc.asset_basics(subject_id=["692478", "828418"], project_name="Patch foraging")
    assert sorted(both["_id"]) == ["4", "5"]


def test_qc_reads_one_partition_for_numeric_subject_id(published_root):
    frame = bdc.qc("692478")
    assert len(frame) == 2
    assert frame["subject_id"].tolist() == ["692478", "692478"]
    assert all(isinstance(v, str) for v in frame["subject_id"])
    assert list(frame.columns) == get_table("qc").column_names


def test_qc_whole_table_keeps_subject_ids_as_strings(published_root):
    frame = bdc.qc()
    assert sorted(frame["subject_id"]) == ["692478", "692478", "828418", "a/b=c"]
    assert frame["subject_id"].map(type).eq(str).all()


def test_qc_partition_value_with_slash_and_equals_is_escaped(published_root):
    frame = bdc.qc("a/b=c")
    assert frame["asset_name"].tolist() == ["odd"]


def test_qc_of_unknown_subject_is_empty_with_declared_columns_and_a_warning(published_root):
    with pytest.warns(bdc.NoMatchWarning, match="subject_id '000000'"):
        frame = bdc.qc("000000")
    assert frame.empty
    assert list(frame.columns) == get_table("qc").column_names


def test_qc_filters_by_asset_names_and_columns(published_root):
    frame = bdc.qc(
        "692478",
        asset_names=["ophys_692478_raw_processed_2024-03-05_10-00-00"],
        columns=["asset_name", "status"],
    )
    assert frame.to_dict("records") == [
        {"asset_name": "ophys_692478_raw_processed_2024-03-05_10-00-00", "status": "Pending"}
    ]


def test_empty_table_reads_as_empty_frame_not_error(published_root):
    frame = bdc.time_to_qc()
    assert frame.empty
    assert list(frame.columns) == ["name", "process_end_time", "qc_time", "pending", "_id"]


def test_raw_to_derived_str_gives_list_and_list_gives_dict(published_root):
    raw = "ophys_692478_raw"
    assert bdc.raw_to_derived(raw) == [
        "ophys_692478_raw_processed_2024-03-02_10-00-00",
        "ophys_692478_raw_processed_2024-03-05_10-00-00",
    ]
    assert bdc.raw_to_derived(raw, latest=True) == ["ophys_692478_raw_processed_2024-03-05_10-00-00"]
    assert bdc.raw_to_derived(raw, modality="behavior") == []  # a modality of the table, not of raw's derived
    both = bdc.raw_to_derived([raw, "behavior_828418_raw"], modality="behavior")
    assert both == {raw: [], "behavior_828418_raw": ["behavior_828418_raw_processed_2024-04-01_00-00-00"]}


def test_raw_to_derived_of_unknown_asset_is_an_error(published_root):
    with pytest.raises(TableNotFoundError, match="not-an-asset"):
        bdc.raw_to_derived("not-an-asset")


def test_registry_lists_every_table_with_rows_and_columns(published_root):
    registry = bdc.get_cache_registry()
    assert registry.names == sorted(t.name for t in bdc.TABLES)  # sorted by name, as biodata-cache 0.42
    assert registry["asset_basics"].rows == 5
    assert registry["qc"].partitioned and registry["qc"].partition_key == "subject_id"
    assert registry["qc"].partitions == 3
    assert registry["asset_basics"].location.startswith(published_root.rstrip("/"))
    assert "subject_id" in registry["qc"].column_names
    assert registry["asset_basics"].built_at.endswith("Z")


def test_versions_are_listed_and_sorted_numerically(published_root):
    publish_fixture(published_root, version="0.10")
    publish_fixture(published_root, version="0.9")
    assert bdc.get_cache_versions() == ["bdc-v0.1", "bdc-v0.9", "bdc-v0.10"]
    assert bdc.unique_subject_ids(version="0.10") == ["692478", "828418"]


def test_custom_table_round_trips_and_is_listed_in_catalog(published_root):
    df = pd.DataFrame({"subject_id": ["692478", "1"], "score": [0.5, 2.0]})
    stored = bdc.custom("my_scores", df)
    pd.testing.assert_frame_equal(stored, df, check_dtype=False)
    assert bdc.custom("my_scores")["subject_id"].tolist() == ["692478", "1"]
    assert "custom_my_scores" in bdc.get_cache_registry()
    assert "custom_my_scores" in list(bdc.open_catalog())
    # Published tables stay readable and the custom entry survives a republish.
    publish_fixture(published_root)
    assert bdc.custom("my_scores")["score"].tolist() == [0.5, 2.0]


def test_reading_missing_custom_table_lists_existing_ones(published_root):
    bdc.custom("kept", pd.DataFrame({"a": [1]}))
    with pytest.raises(TableNotFoundError, match="kept"):
        bdc.custom("absent")


@pytest.mark.parametrize("name", ["../escape", "a/b", "", "qc", "asset_basics", "x" * 200, "with space", 3])
def test_custom_rejects_bad_names_and_writes_nothing(published_root, name):
    before = bdc.get_cache_registry().names
    with pytest.raises(InvalidInputError):
        bdc.custom(name, pd.DataFrame({"a": [1]}))
    assert bdc.get_cache_registry().names == before


# The name pattern once ended in "$" and was used with .match, which also matches before a final "\n":
# custom("abc\n", df) wrote "custom/abc\n.pqt". The whole name must match.
@pytest.mark.parametrize(
    "name",
    [
        "abc\n",
        "abc\r\n",
        "abc\r",
        "\nabc",
        "ab\ncd",
        "abc\t",
        "abc\x00",
        "abc\x7f",
        "abc\x1b",
        "abc\u2028",
        "abc\u00e9",
    ],
)
def test_custom_rejects_names_with_control_characters_and_writes_nothing(published_root, name):
    before = bdc.get_cache_registry().names
    with pytest.raises(InvalidInputError, match="is not allowed"):
        bdc.custom(name, pd.DataFrame({"a": [1]}))
    with pytest.raises(InvalidInputError, match="is not allowed"):
        bdc.custom(name)  # reading one back checks the name the same way
    assert bdc.get_cache_registry().names == before
    assert Store(published_root).list_names("bdc-v0.1/custom") == []


@pytest.mark.parametrize(
    "df",
    [
        {"a": [1]},
        pd.DataFrame({"a": [object(), object()]}),
        pd.DataFrame({"a": [1, "x"]}),
        pd.DataFrame({"a": [None, None]}),
    ],
)
def test_custom_rejects_non_frames_and_unsupported_dtypes(published_root, df):
    with pytest.raises(InvalidInputError):
        bdc.custom("bad", df)
    assert "custom_bad" not in bdc.get_cache_registry()


def test_qc_with_only_the_partition_key_column_counts_every_row(published_root):
    assert bdc.qc(columns=["subject_id"])["subject_id"].value_counts().to_dict() == {
        "692478": 2,
        "828418": 1,
        "a/b=c": 1,
    }
    assert bdc.qc("692478", columns=["subject_id"])["subject_id"].tolist() == ["692478", "692478"]


def test_qc_of_one_subject_on_s3_costs_two_requests_whatever_the_partition_count(s3_root, monkeypatch):
    import s3fs

    calls: list[str] = []
    original = s3fs.S3FileSystem._call_s3

    async def counting(self, method, *args, **kwargs):
        calls.append(method)
        return await original(self, method, *args, **kwargs)

    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    counts = {}
    for partitions in (10, 200):
        rows = {
            "qc": [
                {"subject_id": str(700000 + i), "asset_name": f"a{i}", "name": "m"} for i in range(partitions)
            ]
        }
        publish_fixture(s3_root, rows=rows)
        bdc.qc("700005")  # warm: resolves the bucket's region and credentials once
        monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", counting)
        calls.clear()
        assert bdc.qc("700005")["asset_name"].tolist() == ["a5"]
        counts[partitions] = list(calls)
        monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", original)
    assert counts[10] == counts[200] == ["get_object", "get_object"]  # the catalog, then the one partition
