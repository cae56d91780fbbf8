"""Public buckets read anonymously: the stdlib client (biodata_cache.s3_http), not s3fs.

Reads of a published bucket without credentials (how scientists read it) fetch objects with plain GETs
over kept-alive connections, without importing s3fs, aiobotocore, botocore or intake, with the same
answers and the same error translation and retry policy as the s3fs path (tests/test_faults.py).
"""

from __future__ import annotations

import http.server
import json
import logging
import re
import subprocess
import sys
import threading

import pandas as pd
import pytest
from conftest import BUCKET, GUARD_ENDPOINT
from fault_proxy import KINDS, Fault, FaultProxy
from helpers import make_bucket_public, publish_fixture

import biodata_cache as bdc
from biodata_cache.errors import StoreAccessError, StoreUnavailableError
from biodata_cache.s3_http import AnonymousS3Reader, reader_for
from biodata_cache.store import (
    CREDENTIAL_VARIABLES,
    DamagedObjectError,
    Store,
    credential_sources,
    filesystem_options,
)

EXPECTED_ERRORS = {
    "503": (StoreUnavailableError,),
    "500": (StoreUnavailableError,),
    "503-unavailable": (StoreUnavailableError,),
    "reset": (StoreUnavailableError,),
    "stall_headers": (StoreUnavailableError,),
    "403": (StoreAccessError,),
    "short": (DamagedObjectError,),
    "truncated": (DamagedObjectError,),
    "stall_body": (DamagedObjectError, StoreUnavailableError),  # as on the s3fs path (test_faults.py)
}
RETRYING = {"connect_timeout": 2, "read_timeout": 5, "retries": {"total_max_attempts": 3}}
STALL = {"connect_timeout": 1, "read_timeout": 0.3, "retries": {"total_max_attempts": 2}}
READS = {
    "unique_project_names": lambda o: bdc.unique_project_names(storage_options=o),
    "asset_basics": lambda o: bdc.asset_basics(storage_options=o),
    "qc whole table": lambda o: bdc.qc(storage_options=o),  # partitions fetched concurrently
}


def _without_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


@pytest.fixture
def public(s3_root, s3_endpoint, monkeypatch, tmp_path) -> dict:
    """The fixture store on moto, the answers read with credentials (s3fs), then no credentials."""
    publish_fixture(s3_root)
    _make_public(s3_endpoint)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    options = {"endpoint_url": s3_endpoint}
    expected = {name: read(options) for name, read in READS.items()}
    _without_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", GUARD_ENDPOINT)  # only storage_options lead to the server
    return {"endpoint": s3_endpoint, "expected": expected}


def _make_public(endpoint: str) -> None:
    make_bucket_public(endpoint, BUCKET)


def _same(value, expected) -> bool:
    if isinstance(expected, pd.DataFrame):
        return isinstance(value, pd.DataFrame) and value.equals(expected)
    return value == expected


def _anonymous(endpoint: str, config: dict | None = None) -> dict:
    return {"anon": True, "endpoint_url": endpoint, "config_kwargs": dict(config or RETRYING)}


def test_without_credentials_the_one_liner_is_two_gets_with_the_answer_of_the_credentialed_read(public):
    with FaultProxy(public["endpoint"]) as proxy:
        answer = bdc.unique_project_names(storage_options={"endpoint_url": proxy.url})
        requests = [(method, target.split("?")[0].rsplit("/", 1)[-1]) for method, target, _ in proxy.log]
    assert answer == public["expected"]["unique_project_names"]
    assert [method for method, _ in requests] == ["GET", "GET"]  # the catalog, the table's file
    assert requests[0][1] == "catalog.yaml" and requests[1][1].startswith("unique_project_names")


class _KeepAliveS3(http.server.BaseHTTPRequestHandler):
    """An HTTP/1.1 server of one object (``/bucket/key``) that honours ranges; counts connections."""

    protocol_version = "HTTP/1.1"
    connections = 0
    body = bytes(range(256)) * 4

    def setup(self) -> None:
        type(self).connections += 1
        super().setup()

    def do_GET(self) -> None:
        if self.path != "/bucket/key":
            self._send(404, b"<Error><Code>NoSuchKey</Code></Error>")
            return
        wanted = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range") or "")
        if wanted:
            self._send(206, self.body[int(wanted.group(1)) : int(wanted.group(2)) + 1])
        else:
            self._send(200, self.body)

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_gets_of_a_process_share_a_kept_alive_connection_and_ranges_read_their_bytes():
    from biodata_cache.s3_http import POOL

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveS3)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        POOL.clear()
        reader = reader_for({"anon": True, "endpoint_url": f"http://127.0.0.1:{server.server_port}"})
        assert reader.get("bucket/key") == _KeepAliveS3.body
        assert reader.get("bucket/key", byte_range=(10, 20)) == _KeepAliveS3.body[10:20]
        with pytest.raises(FileNotFoundError):
            reader.get("bucket/missing")
        assert reader.get("bucket/key") == _KeepAliveS3.body
        assert _KeepAliveS3.connections == 1
    finally:
        POOL.clear()
        server.shutdown()
        server.server_close()


def test_every_anonymous_read_gives_the_credentialed_answer(public):
    for name, read in READS.items():
        assert _same(read(_anonymous(public["endpoint"])), public["expected"][name]), name


def test_a_fresh_process_reads_a_public_bucket_without_s3fs_botocore_or_intake(public, s3_root):
    code = (
        "import sys, json, biodata_cache as bdc;"
        "names = bdc.unique_project_names();"
        "loaded = [m for m in ('s3fs', 'aiobotocore', 'botocore', 'aiohttp', 'intake', 'fsspec', 'yaml',"
        " 'pandas', 'pyarrow.dataset')"
        " if m in sys.modules];"
        "print(json.dumps({'names': names, 'loaded': loaded}))"
    )
    environment = {
        "PATH": "/usr/bin:/bin",
        "BIODATA_CACHE_ROOT": s3_root,
        "AWS_ENDPOINT_URL": public["endpoint"],
        "AWS_CONFIG_FILE": "/nonexistent/config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
        "HOME": "/nonexistent",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
    )
    output = json.loads(result.stdout)
    assert output["names"] == public["expected"]["unique_project_names"]
    # yaml parses the catalog; nothing of s3fs's stack and no intake
    assert output["loaded"] == ["yaml"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("read", ["unique_project_names", "qc whole table"])
def test_each_fault_once_is_retried_and_read_right_and_persistent_is_the_error_of_the_s3fs_path(
    public, caplog, kind, read
):
    caplog.set_level(logging.ERROR)
    config = STALL if kind.startswith("stall") else RETRYING
    expected = public["expected"][read]
    pattern = r"\.pqt"  # the data objects: the catalog is read, then the faults hit the reads of data
    with FaultProxy(public["endpoint"], [Fault(kind, method="GET", pattern=pattern, times=1)]) as proxy:
        if kind == "403":  # a refusal is not retried: the clear error at once
            with pytest.raises(StoreAccessError):
                READS[read](_anonymous(proxy.url, config))
        else:
            assert _same(READS[read](_anonymous(proxy.url, config)), expected)
        assert proxy.injected == {kind: 1}
    with FaultProxy(public["endpoint"], [Fault(kind, method="GET", pattern=pattern)]) as proxy:
        with pytest.raises(EXPECTED_ERRORS[kind]) as caught:
            READS[read](_anonymous(proxy.url, config))
        faulted = [target for _, target, injected in proxy.log if injected]
    if kind in ("503", "500", "503-unavailable"):
        # the configured attempts per object and nothing on top (as botocore's on the s3fs path)
        assert max(faulted.count(t) for t in set(faulted)) == config["retries"]["total_max_attempts"]
        assert caught.value.__cause__.response["Error"]["Code"] in (
            "SlowDown",
            "InternalError",
            "ServiceUnavailable",
        )
    if kind == "short":
        causes, current = [], caught.value
        while current is not None:
            causes.append(type(current).__name__)
            current = current.__cause__ or current.__context__
        assert "FlexibleChecksumError" in causes


def test_a_closed_endpoint_is_store_unavailable_naming_it_after_the_attempts(public):
    options = _anonymous(GUARD_ENDPOINT, {"connect_timeout": 1, "retries": {"total_max_attempts": 2}})
    with pytest.raises(StoreUnavailableError) as caught:
        bdc.unique_project_names(storage_options=options)
    assert f"endpoint {GUARD_ENDPOINT}" in str(caught.value)
    assert "EndpointConnectionError" in str(caught.value)


def test_a_missing_object_is_file_not_found_and_no_s3fs_filesystem_is_created(public):
    store = Store(f"s3://{BUCKET}/data-asset-cache", _anonymous(public["endpoint"]))
    with pytest.raises(FileNotFoundError):
        store.read_bytes("bdc-v0.1/no-such-file.json")
    assert store.read_json("cache_versions.json")
    assert store._fs is None


def test_options_the_client_does_not_implement_keep_s3fs():
    assert isinstance(reader_for({"anon": True}), AnonymousS3Reader)
    assert isinstance(
        reader_for({"anon": True, "client_kwargs": {"region_name": "us-west-2"}}), AnonymousS3Reader
    )
    assert reader_for({"anon": False}) is None
    assert reader_for({}) is None  # credentials may be found: botocore signs
    assert reader_for({"anon": True, "requester_pays": True}) is None
    assert reader_for({"anon": True, "client_kwargs": {"verify": False}}) is None
    assert reader_for({"anon": True, "config_kwargs": {"signature_version": "s3v4"}}) is None


def test_objects_are_addressed_path_style_on_an_endpoint_and_virtual_hosted_on_aws():
    assert reader_for({"anon": True, "endpoint_url": "http://127.0.0.1:9000"}).url_of("b/k=1/x y.pqt") == (
        "http://127.0.0.1:9000/b/k%3D1/x%20y.pqt"
    )
    aws = AnonymousS3Reader(endpoint=None, region=None, connect_timeout=1, read_timeout=1, attempts=1)
    assert aws.url_of("aind-open-data/a/b.json") == "https://aind-open-data.s3.amazonaws.com/a/b.json"
    assert aws.url_of("my.dotted.bucket/a") == "https://s3.amazonaws.com/my.dotted.bucket/a"


def test_any_credential_source_is_seen_without_botocore(monkeypatch, tmp_path):
    _without_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert credential_sources() == []
    monkeypatch.setenv("AWS_PROFILE", "lab")
    assert credential_sources() == ["AWS_PROFILE"]
    monkeypatch.delenv("AWS_PROFILE")
    (tmp_path / "no-credentials").write_text("[default]\n")
    assert credential_sources() == [str(tmp_path / "no-credentials")]


def test_without_credential_sources_anonymous_is_decided_without_importing_botocore(tmp_path):
    code = (
        "import sys; from biodata_cache.store import filesystem_options;"
        "options = filesystem_options('s3://bucket/prefix', None);"
        "print(options['anon'], 'botocore' in sys.modules)"
    )
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
    )
    assert result.stdout.split() == ["True", "False"]
    environment["AWS_ACCESS_KEY_ID"] = environment["AWS_SECRET_ACCESS_KEY"] = "x"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
    )
    assert result.stdout.split() == ["False", "True"]


def test_filesystem_options_of_a_public_read_select_the_client(monkeypatch, tmp_path):
    _without_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    options = filesystem_options(f"s3://{BUCKET}/x", {"endpoint_url": "http://127.0.0.1:1"})
    assert options["anon"] is True
    assert isinstance(reader_for(options), AnonymousS3Reader)
