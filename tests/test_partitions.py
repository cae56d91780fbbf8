"""Partition folder names: every subject id round-trips exactly, never collides, stays short.

Also: a long-lived reader never works from the listing of an earlier release.
"""

from __future__ import annotations

import json

import pytest
from helpers import ROWS, publish_fixture

import biodata_cache as bdc
from biodata_cache.partitions import (
    MAX_ESCAPED,
    NULL_PARTITION,
    escape_value,
    folder_name,
    value_of_folder,
)
from biodata_cache.sync import update_all_tables

TRICKY = [
    "692478",
    "a/b=c",
    "a%2Fb%3Dc",  # the escaped spelling of the previous one, as a value of its own
    "100%",
    "x~y",
    "abc~0123456789abcdef",  # looks like a shortened name
    NULL_PARTITION,
    "%5F_HIVE_DEFAULT_PARTITION__",
    "é" * 100,
    "é" * 100 + "x",  # same readable prefix as the previous one
    "日本語の被験者" * 20,
    "..",
    ".",
    "sp ace",
    "tab\there",
    "new\nline",
    "Upper",
    "upper",
    "\ud800",  # a lone surrogate (JSON allows it)
]


def test_every_value_gets_its_own_short_folder_that_decodes_back():
    names = [folder_name("subject_id", v) for v in [*TRICKY, None]]
    assert len(set(names)) == len(names), "two values share a folder"
    for value, name in zip([*TRICKY, None], names, strict=True):
        assert len(name.encode()) < 255 and name.isascii() and "/" not in name
        escaped = name[len("subject_id=") :]
        assert len(escaped) <= MAX_ESCAPED
        if "~" not in escaped:  # shortened names are decoded from the file, not the folder
            assert value_of_folder(name, "subject_id") == value
    assert escape_value(None) == NULL_PARTITION
    assert escape_value(NULL_PARTITION) != NULL_PARTITION


def _qc_record(i: int, subject) -> dict:
    return {
        "_id": f"id-{i}",
        "name": f"asset-{i}",
        "_last_modified": "2025-01-01T00:00:00Z",
        "subject": {"subject_id": subject},
        "data_description": {"data_level": "derived"},
        "quality_control": {
            "metrics": [
                {"name": f"metric-{i}", "value": i, "status_history": [{"status": "Pass"}]},
            ]
        },
    }


SUBJECTS = [s for s in TRICKY if s != "\ud800"] + [None]


@pytest.mark.parametrize("full", [True, False], ids=["full", "incremental"])
def test_builds_keep_every_subject_id_exactly_and_lose_no_qc_rows(monkeypatch, tmp_path, full):
    records = tmp_path / "records.jsonl"
    records.write_text("".join(json.dumps(_qc_record(i, s)) + "\n" for i, s in enumerate(SUBJECTS)))
    root = str(tmp_path / "store")
    if not full:  # first a build without the tricky records, then an incremental one that adds them
        first = tmp_path / "first.jsonl"
        first.write_text(json.dumps(_qc_record(0, "692478")) + "\n")
        update_all_tables(source=str(first), root=root, progress=False)
        records.rename(first)
        records = first
    report = update_all_tables(source=str(records), root=root, progress=False)
    assert report.full is full
    assert report.rows["qc"] == len(SUBJECTS)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    whole = bdc.qc()
    found = {row["name"]: row["subject_id"] for row in whole.to_dict("records")}
    for i, subject in enumerate(SUBJECTS):
        value = found[f"metric-{i}"]
        assert (value is None or value != value) if subject is None else value == subject
        if subject is not None:
            one = bdc.qc(subject)
            assert one["name"].tolist() == [f"metric-{i}"]
            assert one["subject_id"].tolist() == [subject]
    assert bdc.get_cache_registry()["qc"].partitions == len(SUBJECTS)


def test_duckdb_reads_escaped_and_null_partitions_as_documented(tmp_path):
    import duckdb

    rows = {
        "qc": [
            {"subject_id": s, "asset_name": f"a{i}", "name": "m"}
            for i, s in enumerate(["a/b=c", NULL_PARTITION, None, "é" * 100, "692478"])
        ]
    }
    publish_fixture(str(tmp_path), rows=rows)
    found = duckdb.sql(
        f"select asset_name, subject_id from read_parquet('{tmp_path}/bdc-v0.1/qc/*/*.pqt', "
        f"hive_partitioning=true, hive_types={{'subject_id': VARCHAR}}) order by 1"
    ).fetchall()
    shortened = value_of_folder(folder_name("subject_id", "é" * 100), "subject_id")
    assert found == [
        ("a0", "a/b=c"),
        ("a1", NULL_PARTITION),
        ("a2", None),
        ("a3", shortened),  # DuckDB sees the folder's readable prefix and hash
        ("a4", "692478"),
    ]
    assert shortened.startswith("é" * 10) and len(shortened) < 60


def test_a_long_lived_reader_sees_the_partitions_of_a_newer_release(s3_root, monkeypatch):
    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    publish_fixture(s3_root)
    assert sorted(bdc.qc()["subject_id"]) == ["692478", "692478", "828418", "a/b=c"]
    newer = {name: list(values) for name, values in ROWS.items()}
    newer["qc"] = [*newer["qc"][:3], {"subject_id": "999999", "asset_name": "new", "name": "m"}]
    # Another publisher (here: another filesystem instance, as in another process) adds a subject.
    publish_fixture(s3_root, rows=newer, storage_options={"config_kwargs": {"user_agent_extra": "nightly"}})
    assert sorted(bdc.qc()["subject_id"]) == ["692478", "692478", "828418", "999999"]
    assert bdc.open_catalog().qc.read()["subject_id"].tolist().count("999999") == 1
