"""raw_to_derived as a drop-in for biodata-cache 0.42: newest per pipeline, raw assets without a record."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from helpers import ROWS, UTC, publish_fixture

import biodata_cache as bdc
from biodata_cache.errors import TableNotFoundError

RAW = "ophys_692478_raw"
OLD = "ophys_692478_raw_processed_2024-03-02_10-00-00"  # pipeline "ophys"
NEW = "ophys_692478_raw_processed_2024-03-05_10-00-00"  # pipeline "ophys"
SORTED = "ophys_692478_raw_sorted_2024-03-03_10-00-00"  # pipeline "spike-sort": older than NEW
NO_PIPELINE = "ophys_692478_raw_other_2024-03-04_10-00-00"  # no pipeline recorded
# A raw asset that has no DocDB record of its own (not in asset_basics), only children naming it.
ORPHAN = "ecephys_700000_2024-01-01_00-00-00"
ORPHAN_CHILD = "ecephys_700000_2024-01-01_00-00-00_sorted_2024-01-02_00-00-00"


def _lineage(name: str, source: str, pipeline: str | None, day: int, month: int = 3) -> dict:
    time = dt.datetime(2024, month, day, 10, tzinfo=UTC)
    return {"name": name, "source_data": source, "pipeline_name": pipeline, "processing_time": time}


@pytest.fixture
def root(tmp_path, monkeypatch) -> str:
    rows = copy.deepcopy(ROWS)
    rows["source_data"] = [
        _lineage(OLD, RAW, "ophys", 2),
        _lineage(NEW, RAW, "ophys", 5),
        _lineage(SORTED, RAW, "spike-sort", 3),
        _lineage(NO_PIPELINE, RAW, None, 4),
        _lineage(ORPHAN_CHILD, ORPHAN, "spike-sort", 2, month=1),
        *[r for r in ROWS["source_data"] if r["source_data"] != RAW],
    ]
    for name in (SORTED, NO_PIPELINE, ORPHAN_CHILD):
        modality = "ecephys" if name == ORPHAN_CHILD else "pophys"
        rows["asset_basics"].append(
            {"_id": name, "name": name, "data_level": "derived", "modalities": [modality]}
        )
    publish_fixture(str(tmp_path), rows=rows)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path))
    return str(tmp_path)


def test_every_derived_asset_oldest_processing_first(root):
    assert bdc.raw_to_derived(RAW) == [OLD, SORTED, NO_PIPELINE, NEW]


def test_latest_keeps_the_newest_derived_asset_of_each_pipeline(root):
    # ophys: NEW (03-05) beats OLD (03-02); spike-sort: SORTED alone; no pipeline: one group of its own.
    assert bdc.raw_to_derived(RAW, latest=True) == [SORTED, NO_PIPELINE, NEW]
    assert bdc.raw_to_derived(RAW, modality="pophys", latest=True) == [SORTED, NO_PIPELINE, NEW]


def test_latest_of_a_pipeline_ignores_a_missing_processing_time(root, tmp_path):
    rows = copy.deepcopy(ROWS)
    rows["source_data"] = [
        _lineage(OLD, RAW, "ophys", 2),
        {**_lineage(NEW, RAW, "ophys", 5), "processing_time": None},
    ]
    publish_fixture(str(tmp_path), rows=rows)
    assert bdc.raw_to_derived(RAW, latest=True) == [OLD]


def test_raw_asset_without_a_record_still_gives_its_children(root):
    assert bdc.raw_to_derived(ORPHAN) == [ORPHAN_CHILD]
    assert bdc.raw_to_derived(ORPHAN, latest=True, modality="ecephys") == [ORPHAN_CHILD]
    assert bdc.raw_to_derived([ORPHAN, RAW], latest=True) == {
        ORPHAN: [ORPHAN_CHILD],
        RAW: [SORTED, NO_PIPELINE, NEW],
    }


def test_a_list_of_names_gives_a_dict_of_each_name_to_its_derived_names(root):
    assert bdc.raw_to_derived([RAW, "behavior_828418_raw"]) == {
        RAW: [OLD, SORTED, NO_PIPELINE, NEW],
        "behavior_828418_raw": ["behavior_828418_raw_processed_2024-04-01_00-00-00"],
    }


def test_a_name_in_neither_table_is_still_an_error(root):
    with pytest.raises(TableNotFoundError, match=r"not-an-asset.*neither in asset_basics nor a source"):
        bdc.raw_to_derived([ORPHAN, "not-an-asset"])


def test_an_assets_time_is_its_processing_time_else_created_else_process_date_else_acquisition_start():
    import pyarrow as pa

    from biodata_cache.lineage import Lineage
    from biodata_cache.tables import TABLES_BY_NAME

    def at(day: int) -> dt.datetime:
        return dt.datetime(2025, 1, day, tzinfo=dt.timezone.utc)

    # name: (created, process_date, acquisition_start_time)
    given = {
        "processed": (at(1), at(2), at(3)),
        "created": (at(4), at(5), at(6)),
        "process_date": (None, at(7), at(8)),
        "started": (None, None, at(9)),
        "no_time": (None, None, None),
    }
    basics_schema = TABLES_BY_NAME["asset_basics"].arrow_schema()
    columns = {c: [None] * len(given) for c in basics_schema.names}
    columns["name"] = list(given)
    columns["subject_id"] = ["1"] * len(given)
    columns["modalities"] = [["ecephys", "Behavior", "ecephys"]] * len(given)
    for index, column in enumerate(("created", "process_date", "acquisition_start_time")):
        columns[column] = [times[index] for times in given.values()]
    basics = pa.table(columns, schema=basics_schema)
    source_schema = TABLES_BY_NAME["source_data"].arrow_schema()
    sources = {c: [None, None] for c in source_schema.names}
    sources.update(name=["processed"] * 2, source_data=["raw"] * 2, processing_time=[at(20), at(21)])
    lineage = Lineage.from_tables(basics, pa.table(sources, schema=source_schema))
    assert lineage.times == {
        "processed": at(21),  # the newest processing time of its source_data rows
        "created": at(4),
        "process_date": at(7),
        "started": at(9),
        "no_time": None,
    }
    assert lineage.parents == {"processed": ["raw"]} and lineage.subjects["started"] == "1"
    assert lineage.modalities["created"] == ("Behavior", "ecephys")


def test_an_assets_modalities_that_differ_only_in_case_are_in_one_order_whatever_the_hash_seed():
    """The modality set that groups an asset's chains is sorted ignoring case, then exactly: the same
    tuple in every process (a set's iteration order of strings follows PYTHONHASHSEED)."""
    import os
    import subprocess
    import sys

    code = """
import pyarrow as pa
from biodata_cache.lineage import Lineage
from biodata_cache.tables import TABLES_BY_NAME
schema = TABLES_BY_NAME["asset_basics"].arrow_schema()
columns = {c: [None] for c in schema.names}
columns.update(name=["a"], subject_id=["1"], modalities=[["behavior", "ecephys", "Behavior", "BEHAVIOR"]])
sources = TABLES_BY_NAME["source_data"].arrow_schema().empty_table()
print(Lineage.from_tables(pa.table(columns, schema=schema), sources).modalities["a"])
"""
    seen = set()
    for seed in range(6):
        environment = {**os.environ, "PYTHONHASHSEED": str(seed)}
        result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        seen.add(result.stdout.strip())
    assert seen == {"('BEHAVIOR', 'Behavior', 'behavior', 'ecephys')"}


def test_a_lineage_with_some_assets_taken_from_other_tables_is_the_lineage_of_those_tables():
    """``with_assets_of`` (an incremental build's previous lineage) replaces what the lineage says of the
    named assets by their rows in the other tables: equal to ``from_tables`` of those whole tables when
    they differ only in rows of those names (a new source, a new time, a new subject, a gone asset)."""
    import pyarrow as pa

    from biodata_cache.lineage import Lineage
    from biodata_cache.tables import TABLES_BY_NAME

    def at(day: int) -> dt.datetime:
        return dt.datetime(2025, 1, day, tzinfo=dt.timezone.utc)

    def tables(assets: dict[str, tuple], sources: list[tuple]) -> tuple[pa.Table, pa.Table]:
        """assets: name -> (subject, modalities, created); sources: (name, source, processing time)."""
        schema = TABLES_BY_NAME["asset_basics"].arrow_schema()
        columns = {c: [None] * len(assets) for c in schema.names}
        columns.update(
            name=list(assets),
            subject_id=[a[0] for a in assets.values()],
            modalities=[a[1] for a in assets.values()],
            created=[a[2] for a in assets.values()],
        )
        source_schema = TABLES_BY_NAME["source_data"].arrow_schema()
        rows = {c: [None] * len(sources) for c in source_schema.names}
        rows.update(
            name=[s[0] for s in sources],
            source_data=[s[1] for s in sources],
            processing_time=[s[2] for s in sources],
        )
        return pa.table(columns, schema=schema), pa.table(rows, schema=source_schema)

    before = tables(
        {
            "raw": ("1", ["ecephys"], at(1)),
            "raw2": ("1", ["ecephys"], at(2)),
            "gone": ("2", ["behavior"], at(3)),
            "p1": ("1", ["ecephys"], None),
            "p2": ("1", ["ecephys"], None),
            "q": ("2", ["behavior"], None),
        },
        [("p1", "raw", at(10)), ("p2", "p1", at(11)), ("q", "gone", at(12))],
    )
    after = tables(
        {
            "raw": ("1", ["ecephys"], at(1)),
            "raw2": ("3", ["ecephys"], at(2)),  # another subject
            "p1": ("1", ["ecephys"], None),
            "p2": ("1", ["ecephys", "behavior"], None),  # other modalities
            "q": ("2", ["behavior"], None),
            "new": ("1", ["ecephys"], None),
        },
        [("p1", "raw2", at(10)), ("p2", "p1", at(13)), ("q", "gone", at(12)), ("new", "raw", at(14))],
    )
    changed = {"raw2", "gone", "p1", "p2", "new"}
    patched = Lineage.from_tables(*before).with_assets_of(*after, changed)
    expected = Lineage.from_tables(*after)
    assert patched.parents == expected.parents and patched.times == expected.times
    assert patched.modalities == expected.modalities and patched.subjects == expected.subjects
    for name in ("raw", "raw2", "gone", "p1", "p2", "q", "new"):
        assert patched.roots(name) == expected.roots(name)
        assert patched.selection(name) == expected.selection(name)
        assert patched.partitions(name) == expected.partitions(name)
    assert Lineage.from_tables(*before).parents != expected.parents  # the tables do differ
