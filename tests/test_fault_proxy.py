"""The fault proxy itself (tests/fault_proxy.py): transparent without faults, each fault as described."""

from __future__ import annotations

import base64
import http.client
import urllib.parse
import zlib

import pytest
import s3fs
from conftest import BUCKET
from fault_proxy import KINDS, STATUS_FAULTS, Fault, FaultProxy
from helpers import publish_fixture

import biodata_cache as bdc
from biodata_cache.store import Store


def _connection(url: str, timeout: float = 2.0) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def _client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint)


def _direct_get(endpoint: str, key: str) -> bytes:
    return _client(endpoint).get_object(Bucket=BUCKET, Key=key)["Body"].read()


def _public(endpoint: str, key: str, data: bytes) -> None:
    """An object that plain (unsigned) HTTP requests may read."""
    _client(endpoint).put_object(Bucket=BUCKET, Key=key, Body=data, ACL="public-read")


def test_without_faults_publishes_conditional_writes_and_reads_pass_unchanged(
    s3_endpoint, moto_endpoint, monkeypatch
):
    root = f"s3://{BUCKET}/via-proxy"
    with FaultProxy(moto_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        s3fs.S3FileSystem.clear_instance_cache()
        publish_fixture(root)
        store = Store(root)
        store.write_bytes("counter", b"0")
        calls = []

        def change(current):
            calls.append(current)
            if len(calls) == 1:  # another writer gets there first: the If-Match PUT must fail
                Store(root).write_bytes("counter", b"10")
            return str(int(current) + 1).encode()

        store.update_bytes("counter", change)
        assert store.exists("counter") and not store.exists("nothing")
        monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
        through_proxy = (bdc.qc(), bdc.asset_basics(), bdc.unique_subject_ids())
        methods = {method for method, _, _ in proxy.log}
        assert not proxy.injected
    assert calls == [b"0", b"10"]
    assert {"GET", "PUT", "HEAD"} <= methods
    assert _direct_get(moto_endpoint, "via-proxy/counter") == b"11"
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    s3fs.S3FileSystem.clear_instance_cache()
    assert through_proxy[0].equals(bdc.qc()) and through_proxy[1].equals(bdc.asset_basics())
    assert through_proxy[2] == bdc.unique_subject_ids() == ["692478", "828418"]


def test_chunked_and_aws_chunked_uploads_with_expect_continue_are_forwarded_byte_for_byte(
    s3_endpoint, moto_endpoint
):
    data = bytes(range(256)) * 40
    with FaultProxy(moto_endpoint) as proxy:
        connection = _connection(proxy.url)
        connection.putrequest("PUT", f"/{BUCKET}/chunked.bin")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.putheader("Expect", "100-continue")
        connection.endheaders()
        for start in range(0, len(data), 3000):
            piece = data[start : start + 3000]
            connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        assert response.status == 200, response.read()
        response.read()

        # aws-chunked with a trailing checksum, as botocore streams uploads over TLS.
        checksum = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        body = (
            f"{len(data):x}\r\n".encode()
            + data
            + f"\r\n0\r\nx-amz-checksum-crc32:{checksum}\r\n\r\n".encode()
        )
        headers = {
            "Content-Encoding": "aws-chunked",
            "Content-Length": str(len(body)),
            "x-amz-decoded-content-length": str(len(data)),
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-trailer": "x-amz-checksum-crc32",
        }
        connection.request("PUT", f"/{BUCKET}/aws-chunked.bin", body=body, headers=headers)
        response = connection.getresponse()
        assert response.status == 200, response.read()
        response.read()
    assert _direct_get(moto_endpoint, "chunked.bin") == data
    assert _direct_get(moto_endpoint, "aws-chunked.bin") == data


@pytest.mark.parametrize("kind", KINDS)
def test_each_fault_kind_breaks_a_response_the_way_it_says(s3_endpoint, moto_endpoint, kind):
    data = b"x" * 1000
    _public(moto_endpoint, "object.bin", data)
    with FaultProxy(moto_endpoint, [Fault(kind, method="GET")]) as proxy:
        connection = _connection(proxy.url, timeout=0.5)
        connection.request("GET", f"/{BUCKET}/object.bin")
        if kind in STATUS_FAULTS:
            response = connection.getresponse()
            status, _, code, _ = STATUS_FAULTS[kind]
            assert response.status == status and f"<Code>{code}</Code>" in response.read().decode()
        elif kind == "reset":
            with pytest.raises(ConnectionResetError):
                connection.getresponse()
        elif kind == "stall_headers":
            with pytest.raises(TimeoutError):
                connection.getresponse()
        else:
            response = connection.getresponse()
            assert response.status == 200
            if kind == "short":
                assert response.getheader("Content-Length") == "500" and response.read() == data[:500]
            elif kind == "truncated":
                assert response.getheader("Content-Length") == "1000"
                with pytest.raises(http.client.IncompleteRead):
                    response.read()
            else:  # stall_body
                assert response.getheader("Content-Length") == "1000"
                assert response.read(500) == data[:500]
                with pytest.raises(TimeoutError):
                    response.read(1)
        assert proxy.injected == {kind: 1}


def test_schedule_is_seeded_and_matches_method_and_key_pattern(s3_endpoint, moto_endpoint):
    _public(moto_endpoint, "a.pqt", b"1")
    _public(moto_endpoint, "b.json", b"2")
    schedule = [Fault("503", method="GET", pattern=r"\.pqt$", probability=0.5)]
    logs = []
    for _ in range(2):
        with FaultProxy(moto_endpoint, schedule, seed=7) as proxy:
            connection = _connection(proxy.url)
            for method, key in [("GET", "a.pqt"), ("GET", "b.json"), ("HEAD", "a.pqt")] * 10:
                connection.request(method, f"/{BUCKET}/{key}")
                connection.getresponse().read()
            logs.append(list(proxy.log))
    assert logs[0] == logs[1]
    faulted = [(method, target) for method, target, kind in logs[0] if kind]
    assert 0 < len(faulted) < 10
    assert all(method == "GET" and target.endswith("a.pqt") for method, target in faulted)
