"""asset_basics query parameters: name, name_contains, acquisition time bounds, paging, modality case."""

from __future__ import annotations

import datetime as dt
import warnings

import pandas as pd
import pytest
from helpers import ROWS, publish_fixture

import biodata_cache as bdc
from biodata_cache.errors import InvalidInputError, NoMatchWarning

UTC = dt.timezone.utc


def _asset(_id: str, name: str, modalities: list[str], start: dt.datetime | None) -> dict:
    return {
        "_id": _id,
        "name": name,
        "data_level": "raw",
        "project_name": "Queries",
        "modalities": modalities,
        "subject_id": "700000",
        "acquisition_start_time": start,
    }


# Stored times are UTC instants (the column is timestamp[us, UTC]).
ASSETS = [
    _asset("a", "behavior_700000_2024-03-01", ["behavior"], dt.datetime(2024, 3, 1, 12, tzinfo=UTC)),
    _asset("b", "Behavior-Videos_700000", ["behavior-videos"], dt.datetime(2024, 3, 1, 18, tzinfo=UTC)),
    _asset("c", "ecephys_700000_100%_done", ["ecephys"], dt.datetime(2024, 3, 2, 0, tzinfo=UTC)),
    _asset("d", "ecephys_700000x100_done", ["ecephys", "behavior-videos"], None),
    _asset("e", "SPIM_700000", ["SPIM"], dt.datetime(2024, 7, 1, 19, tzinfo=UTC)),
]
BY_NAME = sorted(a["name"] for a in ASSETS)


@pytest.fixture
def store(monkeypatch):
    rows = dict(ROWS, asset_basics=ASSETS, unique_subject_ids=[{"subject_id": "700000"}])
    root = "memory://queries"
    publish_fixture(root, rows=rows)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    return root


def names(frame: pd.DataFrame) -> list[str]:
    return frame["name"].tolist()


def test_rows_are_ordered_by_name(store):
    assert names(bdc.asset_basics()) == BY_NAME
    assert names(bdc.asset_basics(columns=["name"])) == BY_NAME
    assert bdc.asset_basics(columns=["_id"]).columns.tolist() == ["_id"]


def test_name_is_exact_and_takes_a_list(store):
    assert names(bdc.asset_basics(name="SPIM_700000")) == ["SPIM_700000"]
    with pytest.warns(NoMatchWarning, match="did you mean 'SPIM_700000'"):
        assert bdc.asset_basics(name="spim_700000").empty  # exact: case matters
    both = bdc.asset_basics(name=["SPIM_700000", "Behavior-Videos_700000"], columns=["_id"])
    assert both["_id"].tolist() == ["b", "e"]  # ordered by name though name was not asked for


def test_unknown_name_warns_but_a_name_filtered_out_does_not(store):
    with pytest.warns(NoMatchWarning, match="name 'SPIM_70000'.*did you mean 'SPIM_700000'"):
        assert bdc.asset_basics(name="SPIM_70000").empty
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bdc.asset_basics(name="SPIM_700000", modality="ecephys").empty


def test_name_contains_is_a_case_insensitive_literal(store):
    assert names(bdc.asset_basics(name_contains="BEHAVIOR")) == [
        "Behavior-Videos_700000",
        "behavior_700000_2024-03-01",
    ]
    assert names(bdc.asset_basics(name_contains="100%_")) == ["ecephys_700000_100%_done"]  # not LIKE
    assert bdc.asset_basics(name_contains="%").shape[0] == 1
    assert bdc.asset_basics(name_contains="_d").shape[0] == 2
    assert bdc.asset_basics(name_contains="0.1").empty  # '.' is not a regex wildcard
    assert bdc.asset_basics(name_contains=".*").empty


def test_modality_is_case_insensitive_on_whole_abbreviations(store):
    assert names(bdc.asset_basics(modality="behavior")) == ["behavior_700000_2024-03-01"]  # no prefix match
    assert names(bdc.asset_basics(modality="ECEPHYS")) == [
        "ecephys_700000_100%_done",
        "ecephys_700000x100_done",
    ]
    assert names(bdc.asset_basics(modality="spim")) == ["SPIM_700000"]
    assert names(bdc.asset_basics(modality=["Behavior-Videos"], columns=["_id", "name"])) == [
        "Behavior-Videos_700000",
        "ecephys_700000x100_done",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a value differing only in case is not "absent"
        bdc.asset_basics(modality=["EcEphys", "BEHAVIOR"], columns=["_id"])
    with pytest.warns(NoMatchWarning, match="modality 'ephys'.*ignoring case"):
        assert bdc.asset_basics(modality="ephys").empty
    with pytest.warns(NoMatchWarning, match="modality 'behav'"):
        assert bdc.asset_basics(modality="behav").empty


def test_time_bounds_are_half_open_instants_across_offsets(store):
    # 2024-03-01T05:00:00-07:00 is 12:00Z, the start of asset a.
    assert names(bdc.asset_basics(acquisition_start_after="2024-03-01T05:00:00-07:00")) == [
        "Behavior-Videos_700000",
        "SPIM_700000",
        "behavior_700000_2024-03-01",  # after is inclusive
        "ecephys_700000_100%_done",
    ]
    assert "behavior_700000_2024-03-01" not in names(
        bdc.asset_basics(acquisition_start_before="2024-03-01T05:00:00-07:00")  # before is strict
    )
    assert names(bdc.asset_basics(acquisition_start_before="2024-03-01T05:00:00.000001-07:00")) == [
        "behavior_700000_2024-03-01"
    ]
    window = bdc.asset_basics(
        acquisition_start_after="2024-03-01T13:00:00+01:00",  # 12:00Z
        acquisition_start_before="2024-03-02T00:00:00Z",
    )
    assert names(window) == ["Behavior-Videos_700000", "behavior_700000_2024-03-01"]
    # an aware datetime in another zone is the same instant
    plus9 = dt.timezone(dt.timedelta(hours=9))
    same = bdc.asset_basics(acquisition_start_before=dt.datetime(2024, 3, 2, 3, 0, 1, tzinfo=plus9))
    assert names(same) == ["Behavior-Videos_700000", "behavior_700000_2024-03-01"]


def test_times_without_offset_are_lab_time(store):
    # 04:00 in Los Angeles on 2024-03-01 is PST (-08:00): 12:00Z, asset a's start, included by after.
    assert "behavior_700000_2024-03-01" in names(
        bdc.asset_basics(acquisition_start_after="2024-03-01T04:00:00")
    )
    assert "behavior_700000_2024-03-01" not in names(
        bdc.asset_basics(acquisition_start_after="2024-03-01T04:00:01")
    )
    # In July it is PDT (-07:00): 12:00 local is 19:00Z, SPIM's start; a naive datetime is read the same way.
    assert names(bdc.asset_basics(acquisition_start_after=dt.datetime(2024, 7, 1, 12))) == ["SPIM_700000"]
    assert bdc.asset_basics(acquisition_start_after="2024-07-01 12:00:01").empty
    # A date alone is midnight lab time: 2024-03-02T00:00-08:00 is 08:00Z, after asset c (00:00Z).
    assert "ecephys_700000_100%_done" in names(bdc.asset_basics(acquisition_start_before="2024-03-02"))
    # A date with an offset is midnight at that offset: "2024-03-02Z" is 00:00Z, not after asset c (00:00Z).
    assert "ecephys_700000_100%_done" not in names(bdc.asset_basics(acquisition_start_before="2024-03-02Z"))
    assert "ecephys_700000_100%_done" in names(bdc.asset_basics(acquisition_start_before="2024-03-02-01:00"))


def test_rows_without_a_start_time_are_left_out_by_bounds(store):
    assert "ecephys_700000x100_done" not in names(bdc.asset_basics(acquisition_start_after="2000-01-01Z"))
    assert "ecephys_700000x100_done" not in names(bdc.asset_basics(acquisition_start_before="2100-01-01Z"))


def test_limit_offset_and_total_page_through_the_name_order(store):
    pages = [bdc.asset_basics(limit=2, offset=offset, include_total=True) for offset in (0, 2, 4, 6)]
    assert [total for _, total in pages] == [5, 5, 5, 5]
    assert [names(frame) for frame, _ in pages] == [BY_NAME[0:2], BY_NAME[2:4], BY_NAME[4:], []]
    frame, total = bdc.asset_basics(modality="ecephys", columns=["_id"], limit=1, include_total=True)
    assert (frame["_id"].tolist(), total) == (["c"], 2)
    assert isinstance(total, int)
    assert bdc.asset_basics(limit=0).empty
    assert names(bdc.asset_basics(offset=3)) == BY_NAME[3:]
    empty, total = bdc.asset_basics(name_contains="zzz", include_total=True)
    assert empty.empty and total == 0


def test_no_silent_cap_on_limit(store, monkeypatch):
    many = [_asset(f"{i:03d}", f"asset_{i:03d}", ["ecephys"], None) for i in range(150)]
    monkeypatch.setenv("BIODATA_CACHE_ROOT", "memory://many")
    publish_fixture("memory://many", rows=dict(ROWS, asset_basics=many))
    assert len(bdc.asset_basics(limit=120)) == 120
    assert len(bdc.asset_basics()) == 150


def test_combined_filters(store):
    frame, total = bdc.asset_basics(
        modality="BEHAVIOR-VIDEOS",
        name_contains="video",
        acquisition_start_after="2024-03-01T00:00:00Z",
        subject_id="700000",
        include_total=True,
    )
    assert (names(frame), total) == (["Behavior-Videos_700000"], 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": -1}, "limit must be a non-negative int or None"),
        ({"limit": 2.0}, "limit must be"),
        ({"limit": True}, "limit must be"),
        ({"limit": "10"}, "limit must be"),
        ({"offset": -3}, "offset must be a non-negative int"),
        ({"offset": None}, "offset must be"),
        ({"include_total": "yes"}, "include_total must be True or False"),
        ({"name": 5}, "name must be a str or a list of str"),
        ({"name": ""}, "name must not be empty"),
        ({"name_contains": ""}, "name_contains must be a non-empty str"),
        ({"name_contains": ["a"]}, "name_contains must be a non-empty str"),
        ({"modality": 1}, "modality must be"),
        (
            {"acquisition_start_before": "yesterday"},
            "acquisition_start_before must be an ISO 8601 time such as",
        ),
        ({"acquisition_start_after": "2024-13-01"}, "acquisition_start_after must be an ISO 8601 time"),
        ({"acquisition_start_after": ""}, "acquisition_start_after must be an ISO 8601 time"),
        (
            {"acquisition_start_after": 1709294400},
            "acquisition_start_after must be an ISO 8601 str or a datetime",
        ),
        (
            {"acquisition_start_before": dt.date(2024, 3, 1)},
            "acquisition_start_before must be an ISO 8601 str",
        ),
        (
            {"acquisition_start_after": "2024-03-02Z", "acquisition_start_before": "2024-03-01Z"},
            "acquisition_start_after .* must be before acquisition_start_before",
        ),
    ],
)
def test_bad_inputs_raise_before_reading(kwargs, message, monkeypatch):
    monkeypatch.setenv("BIODATA_CACHE_ROOT", "memory://never-read")
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", "MEMORY")
    with pytest.raises(InvalidInputError, match=message):
        bdc.asset_basics(**kwargs)


def test_unparseable_time_names_an_example(store):
    with pytest.raises(InvalidInputError) as error:
        bdc.asset_basics(acquisition_start_after="03/01/2024")
    assert "acquisition_start_after='2024-03-01T12:00:00-08:00'" in str(error.value)
    assert "'03/01/2024' does not parse" in str(error.value)
