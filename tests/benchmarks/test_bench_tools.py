"""The measuring tools of the benchmarks: the counting proxy and the replicated store's renaming."""

from __future__ import annotations

import http.client
import sys
import urllib.parse
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import BUCKET
from counting_proxy import CountingProxy
from replicate import new_name, new_subject, replicated_store


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port)
    connection.request("GET", parsed.path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


def test_counting_proxy_counts_each_request_and_the_body_bytes_the_server_sent(s3_endpoint: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="k", aws_secret_access_key="s")
    client.put_object(Bucket=BUCKET, Key="bench/object.bin", Body=bytes(1000), ACL="public-read")
    with CountingProxy(s3_endpoint) as proxy:
        mark = proxy.mark()
        whole = _get(f"{proxy.url}/{BUCKET}/bench/object.bin")
        ranged = _get(f"{proxy.url}/{BUCKET}/bench/object.bin", {"Range": "bytes=0-99"})
        missing = _get(f"{proxy.url}/{BUCKET}/bench/missing.bin")
        exchanges = proxy.since(mark)
    assert (whole[0], len(whole[1]), ranged[0], len(ranged[1]), missing[0]) == (200, 1000, 206, 100, 404)
    assert [(e.method, e.status) for e in exchanges] == [("GET", 200), ("GET", 206), ("GET", 404)]
    assert [e.body_bytes for e in exchanges[:2]] == [1000, 100]
    assert exchanges[0].target == f"/{BUCKET}/bench/object.bin"


@pytest.mark.parametrize(
    ("copy", "expected"),
    [(0, "684000"), (1, "10684000"), (3, "30684000")],
)
def test_a_replicated_copy_offsets_numeric_subject_ids(copy: int, expected: str) -> None:
    assert new_subject("684000", copy) == expected


def test_a_replicated_copy_suffixes_a_non_numeric_subject_id() -> None:
    assert new_subject("mouse-a", 2) == "mouse-a~2"
    assert new_subject(None, 2) is None


def test_a_replicated_copy_renames_raw_and_derived_assets_with_the_same_new_subject() -> None:
    raw = "SmartSPIM_684000_2024-01-31_10-00-00"
    derived = f"{raw}_stitched_2024-02-01_08-00-00"
    assert new_name(raw, 2) == "SmartSPIM_20684000_2024-01-31_10-00-00"
    assert new_name(derived, 2) == f"{new_name(raw, 2)}_stitched_2024-02-01_08-00-00"
    assert new_name(raw, 0) == raw


def test_a_replicated_copy_suffixes_a_name_without_a_subject_id() -> None:
    assert new_name("behavior-session", 4) == "behavior-session~4"


def test_a_replicated_store_reads_as_twice_the_assets_with_lineage_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import biodata_cache as bdc
    from biodata_cache.sources import sample_path
    from biodata_cache.sync import update_all_tables

    update_all_tables(source=sample_path(), root=str(tmp_path / "built"), progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path / "built"))
    original = bdc.asset_basics()
    lineage = bdc.source_data()
    replicated_store(tmp_path / "built", tmp_path / "replicated", 2 * len(original))

    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path / "replicated"))
    basics = bdc.asset_basics()
    assert len(basics) == 2 * len(original)
    assert basics["name"].is_unique
    subject = next(s for s in original["subject_id"] if s and s.isdigit())
    copied = bdc.asset_basics(subject_id=new_subject(subject, 1))
    assert sorted(copied["name"]) == sorted(
        new_name(n, 1) for n in original[original["subject_id"] == subject]["name"]
    )
    joined = lineage["source_data"].dropna()
    joined = joined[joined.isin(set(original["name"]))]
    replicated_lineage = bdc.source_data()["source_data"].dropna()
    assert set(replicated_lineage) >= {new_name(n, 1) for n in joined}
    assert set(bdc.unique_subject_ids()) == set(basics["subject_id"].dropna())
    # Read from the projection by project, which is replicated too (not the original's copied).
    project = basics["project_name"].dropna().iloc[0]
    by_project = bdc.asset_basics(project_name=project)
    assert len(by_project) == 2 * (original["project_name"] == project).sum()
