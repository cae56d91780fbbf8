"""Test infrastructure: real parts only.

* S3 is a moto server on 127.0.0.1 (server mode), started once per session and reset before each test
  that uses it (``POST /moto-api/reset``, s3fs instance cache cleared), with fake credentials.
* Endpoint guard: for the whole session ``AWS_ENDPOINT_URL`` points at a closed port on 127.0.0.1, so an
  S3 call that forgot its endpoint fails locally instead of reaching AWS.
* The fsspec memory filesystem is emptied before each test; ``BIODATA_CACHE_*`` variables are unset.
"""

from __future__ import annotations

import os
import socket
import urllib.request

import pytest

BUCKET = "allen-data-views"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


GUARD_ENDPOINT = f"http://127.0.0.1:{_closed_port()}"
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_EC2_METADATA_DISABLED="true",
    AWS_ENDPOINT_URL=GUARD_ENDPOINT,
)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch):
    """Unset biodata-cache variables, keep the endpoint guard, empty the memory filesystem."""
    for name in list(os.environ):
        if name.startswith("BIODATA_CACHE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", GUARD_ENDPOINT)
    # Builds from a DocDB source would list s3://aind-open-data (record_consistency_*): tests that
    # want the listing point this variable at a moto bucket.
    monkeypatch.setenv("BIODATA_CACHE_OPEN_DATA_ROOT", "none")
    monkeypatch.setenv("XDG_CACHE_HOME", "/nonexistent-biodata-cache-test-home")
    from fsspec.implementations.memory import MemoryFileSystem

    MemoryFileSystem.store.clear()
    MemoryFileSystem.pseudo_dirs.clear()
    MemoryFileSystem.pseudo_dirs.append("")
    yield


@pytest.fixture(scope="session")
def moto_endpoint():
    """URL of a moto S3 server on 127.0.0.1 for this test session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_endpoint(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A freshly reset moto server with the production bucket, and the endpoint set for botocore."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).close()
    import s3fs

    from biodata_cache.publish import forget_committed

    s3fs.S3FileSystem.clear_instance_cache()
    forget_committed()  # what custom() committed on the server before its reset
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    fs = s3fs.S3FileSystem()
    fs.mkdir(BUCKET)
    return moto_endpoint


@pytest.fixture
def s3_root(s3_endpoint: str) -> str:
    """A store root on the moto server."""
    return f"s3://{BUCKET}/data-asset-cache"
