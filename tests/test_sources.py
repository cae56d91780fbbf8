"""Record sources: files, JSONL, asset mounts, the bundled sample and DocDB through the real client."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pytest
from docdb_fake import FakeDocDB, matches, project, session_for

from biodata_cache.errors import RecordError, SourceError
from biodata_cache.sources import DocDBSource, FileSource, open_source
from biodata_cache.tables import projection

RECORDS = Path(__file__).parent / "data" / "aind_records"


def real_records() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(RECORDS.glob("*.json"))]


def test_folder_of_json_records_and_ids():
    source = open_source(str(RECORDS))
    names = sorted(r["name"] for r in source.records())
    assert names[0] == "828418_2026-02-13_18-31-13"
    assert len(names) == 3
    assert dict(source.ids())["ad668ba9-326a-4b5d-abc1-63ddefaf0a41"] == "2026-02-14T12:34:44.410Z"


def test_records_since_keeps_only_newer_ones():
    source = open_source(str(RECORDS))
    newer = sorted(r["name"] for r in source.records(since="2026-01-01T00:00:00Z"))
    assert newer == ["828418_2026-02-13_18-31-13", "828418_2026-02-13_18-31-13_processed_2026-02-14_12-44-45"]


def test_jsonl_and_gzipped_jsonl(tmp_path):
    records = real_records()
    plain = tmp_path / "records.jsonl"
    plain.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    packed = tmp_path / "records.jsonl.gz"
    with gzip.open(packed, "wt") as handle:
        handle.write("\n".join(json.dumps(r) for r in records))
    assert len(list(open_source(str(plain)).records())) == 3
    assert len(list(open_source(str(packed)).records(ids=[records[0]["_id"]]))) == 1


def test_malformed_json_names_the_file_and_line(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text('{"_id": "a", "name": "ok"}\n{"_id": "b", "name": \n')
    with pytest.raises(SourceError, match=r"records\.jsonl:2: not valid JSON"):
        list(open_source(str(path)).records())


def test_missing_path_says_how_to_configure_another_source(tmp_path):
    with pytest.raises(SourceError, match="BIODATA_CACHE_SOURCE"):
        list(open_source(str(tmp_path / "absent")).records())


def test_asset_mounts_component_files_override_metadata_fields(tmp_path):
    raw = real_records()[1]
    mount = tmp_path / raw["name"]
    mount.mkdir()
    (mount / "metadata.json").write_text(json.dumps(raw))
    subject = copy.deepcopy(raw["subject"])
    subject["subject_id"] = "999999"
    (mount / "subject.json").write_text(json.dumps(subject))
    (tmp_path / "not-a-mount").mkdir()
    (record,) = list(open_source(str(tmp_path)).records())
    assert record["subject"]["subject_id"] == "999999"
    assert record["name"] == raw["name"]


def test_sample_is_labelled_synthetic_deterministic_and_small():
    source = open_source("sample")
    assert "synthetic" in source.description
    records = list(source.records())
    assert 200 <= len(records) <= 1000
    assert all("SYNTHETIC" in r["notes"] for r in records)
    # v1 records of schema 0.x spell the levels "raw data" / "derived data" (docs/reference/record-shapes.md).
    levels = {r["data_description"]["data_level"].removesuffix(" data") for r in records}
    assert levels == {"raw", "derived"}
    assert Path(source.path).stat().st_size < 2_000_000


def test_environment_selects_the_source(monkeypatch):
    monkeypatch.setenv("BIODATA_CACHE_SOURCE", "sample")
    assert isinstance(open_source(), FileSource)
    monkeypatch.delenv("BIODATA_CACHE_SOURCE")
    assert isinstance(open_source(), DocDBSource)
    assert open_source("docdb://docdb.example").host == "docdb.example"


# -- the fake DocDB follows MongoDB semantics -----------------------------------------------------------


def test_fake_filters_and_projections_follow_mongodb_through_arrays():
    record = real_records()[2]
    assert matches(record, {"data_description.modalities.abbreviation": "pophys"})
    assert not matches(record, {"data_description.modalities.abbreviation": "ecephys"})
    assert matches(record, {"quality_control.metrics.stage": {"$in": ["Processing"]}})
    assert matches(record, {"$and": [{"_id": {"$gt": "a"}}, {"name": {"$exists": True}}]})
    projected = project(record, {"data_description.modalities.abbreviation": 1, "procedures.nothing": 1})
    assert projected["data_description"]["modalities"] == [
        {"abbreviation": "pophys"},
        {"abbreviation": "behavior-videos"},
    ]
    assert projected["procedures"] == {}
    assert set(projected) == {"_id", "data_description", "procedures"}


# -- DocDB through the real MetadataDbClient ------------------------------------------------------------


def many_records(count: int) -> list[dict]:
    template = real_records()[0]
    records = []
    for index in range(count):
        record = copy.deepcopy(template)
        record["_id"] = f"id-{index:04d}"
        record["name"] = f"asset_{index:04d}"
        record["_last_modified"] = f"2026-01-{1 + index % 28:02d}T00:00:00.000Z"
        records.append(record)
    return records


def test_docdb_pages_in_bounded_batches_with_limited_projection():
    adapter = FakeDocDB(many_records(230), page_cap=40)
    source = DocDBSource("docdb.example", session=session_for(adapter), batch_size=100)
    records = list(source.records())
    assert [r["_id"] for r in records] == [f"id-{i:04d}" for i in range(230)]
    # Pages of 100 requested, the API caps at 40: the client's skip loop makes the extra calls.
    assert {int(r["params"]["limit"]) for r in adapter.requests} <= set(range(1, 101))
    assert max(int(r["params"]["skip"]) for r in adapter.requests) > 0
    sent = json.loads(adapter.requests[0]["params"]["projection"])
    assert set(sent) == set(projection())
    assert "acquisition" not in sent and "instrument" not in sent
    # platform_fib reads the patch cords of data streams, not their bulky device configurations
    streams = records[0]["acquisition"]["data_streams"]
    configurations = [c for stream in streams for c in stream.get("configurations", [])]
    read = {"object_type", "device_name", "channels"}
    assert configurations and all(set(c) <= read for c in configurations)
    assert all(r["timeout"] for r in adapter.requests)


def test_docdb_ids_and_records_by_id_and_since():
    adapter = FakeDocDB(many_records(60), page_cap=25)
    source = DocDBSource("docdb.example", session=session_for(adapter), batch_size=20)
    ids = dict(source.ids())
    assert len(ids) == 60 and ids["id-0003"] == "2026-01-04T00:00:00.000Z"
    by_id = [r["_id"] for r in source.records(ids=["id-0007", "id-0042"])]
    assert by_id == ["id-0007", "id-0042"]
    since = {r["_id"] for r in source.records(since="2026-01-27T00:00:00.000Z")}
    assert since == {f"id-{i:04d}" for i in range(60) if i % 28 == 27}


def test_docdb_retries_server_errors_then_succeeds(monkeypatch):
    monkeypatch.setattr("biodata_cache.sources.time.sleep", lambda seconds: None)
    adapter = FakeDocDB(many_records(5), fail_first=2)
    source = DocDBSource("docdb.example", session=session_for(adapter), batch_size=10)
    assert len(list(source.records())) == 5
    # Two 503s, then the page, then the client's own follow-up call that finds the page exhausted.
    assert len(adapter.requests) == 4


def test_docdb_that_keeps_failing_names_the_host_and_the_fix(monkeypatch):
    monkeypatch.setattr("biodata_cache.sources.time.sleep", lambda seconds: None)
    adapter = FakeDocDB(many_records(5), fail_first=100)
    source = DocDBSource("docdb.example", session=session_for(adapter), attempts=3)
    with pytest.raises(SourceError, match=r"docdb\.example.*BIODATA_CACHE_SOURCE"):
        list(source.records())
    assert len(adapter.requests) == 3


def test_bundled_sample_is_what_make_sample_generates(tmp_path):
    from biodata_cache.sources import sample_path
    from biodata_cache.synthetic import write_sample

    write_sample(tmp_path / "sample.jsonl.gz", real_records())
    assert (tmp_path / "sample.jsonl.gz").read_bytes() == Path(sample_path()).read_bytes(), (
        "the bundled sample is stale: run `python builders/make_sample.py` and commit the result"
    )


# -- bad lines, bytes and files -------------------------------------------------------------------------


def test_undecodable_line_outside_a_build_raises_a_record_error_naming_file_and_line(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"_id": "a", "name": "ok"}\n{"_id": "b", "name": "caf\xe9"}\n')
    with pytest.raises(RecordError, match=r"records\.jsonl:2: not UTF-8 text \(byte 0xe9"):
        list(open_source(str(path)).records())


def test_bad_lines_go_to_skip_and_every_other_record_is_read(tmp_path):
    path = tmp_path / "records.jsonl.gz"
    lines = [
        b'\xef\xbb\xbf{"_id": "a"}',
        b'{"_id": "b", "name": "\xff"}',
        b"[1]",
        b"{oops",
        b'{"_id": "c"}\r',
    ]
    path.write_bytes(gzip.compress(b"\n".join(lines)))
    skipped: list[tuple[str, str]] = []
    records = list(open_source(str(path)).records(skip=lambda where, reason: skipped.append((where, reason))))
    assert [r["_id"] for r in records] == ["a", "c"]
    assert [(w.rsplit("/", 1)[1], r.split(" (")[0]) for w, r in skipped] == [
        ("records.jsonl.gz:2", "not UTF-8 text"),
        ("records.jsonl.gz:3", "expected a record"),
        ("records.jsonl.gz:4", "not valid JSON"),
    ]


def test_folder_files_and_mounts_that_cannot_be_read_are_skipped_one_by_one(tmp_path):
    (tmp_path / "a.json").write_text('{"_id": "a"}')
    (tmp_path / "bad.json").write_bytes(b'{"_id": "\xff"}')
    (tmp_path / "list.json").write_text('[{"_id": "b"}, 7]')
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "metadata.json").write_text('{"_id": "m"}')
    (tmp_path / "m" / "subject.json").write_text('[{"subject_id": "1"}]')
    skipped: list[str] = []
    records = list(open_source(str(tmp_path)).records(skip=lambda where, reason: skipped.append(where)))
    assert [r["_id"] for r in records] == ["a", "b"]
    assert [w.removeprefix(str(tmp_path) + "/") for w in skipped] == [
        "bad.json",
        "list.json[1]",
        "m/subject.json",
    ]


def test_truncated_gzip_is_a_source_error_naming_the_file(tmp_path):
    data = gzip.compress(b"\n".join(json.dumps(r).encode() for r in real_records()))
    path = tmp_path / "records.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match=r"records\.jsonl\.gz is damaged or cut short"):
        list(open_source(str(path)).records(skip=lambda where, reason: None))


@pytest.mark.parametrize("where", ["the first deflate block", "the middle of the stream"])
def test_gzip_with_damaged_compressed_data_is_a_source_error_naming_the_file(tmp_path, where):
    # An invalid block header (the decoder's own error) and damaged data (the CRC check at the end).
    data = bytearray(gzip.compress(b"\n".join(json.dumps(r).encode() for r in real_records())))
    start = 10 if where == "the first deflate block" else len(data) // 2  # 10: after the gzip header
    data[start : start + 64] = b"\xff" * 64
    path = tmp_path / "records.jsonl.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(SourceError, match=r"records\.jsonl\.gz is damaged or cut short"):
        list(open_source(str(path)).records(skip=lambda where, reason: None))


@pytest.mark.parametrize(("spec", "message"), [("nosuch://x", "nosuch"), ("docdb://", "names no DocDB host")])
def test_unknown_protocol_and_docdb_without_host_are_source_errors(spec, message):
    with pytest.raises(SourceError, match=message):
        list(open_source(spec).records())
