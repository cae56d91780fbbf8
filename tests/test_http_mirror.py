"""A read-only HTTP mirror of a published store (a copied folder served by a web server)."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
from helpers import publish_fixture

import biodata_cache as bdc
from biodata_cache.errors import StoreAccessError


@pytest.fixture
def mirror(tmp_path):
    publish_fixture(str(tmp_path / "store"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/store"
    server.shutdown()


def test_one_liners_read_from_an_http_mirror(monkeypatch, mirror):
    monkeypatch.setenv("BIODATA_CACHE_ROOT", mirror)
    assert bdc.get_cache_versions() == ["bdc-v0.1"]
    assert bdc.unique_subject_ids() == ["692478", "828418"]
    assert bdc.qc("692478")["subject_id"].tolist() == ["692478", "692478"]
    assert len(bdc.asset_basics(subject_id="828418")) == 2


def test_missing_table_on_a_mirror_is_an_error_and_writing_is_refused(monkeypatch, mirror):
    import pandas as pd

    monkeypatch.setenv("BIODATA_CACHE_ROOT", mirror)
    with pytest.raises(bdc.VersionNotFoundError, match=r"bdc-v0\.1"):
        bdc.asset_basics(version="0.5")
    with pytest.raises(StoreAccessError, match="read-only"):
        bdc.custom("mine", pd.DataFrame({"a": [1]}))
