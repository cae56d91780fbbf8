"""Faults on the network: every answer is right or a clear error, and nothing hangs.

* The fault campaign publishes a small store on the moto server, reads every one-liner and catalog entry
  directly (the expected answers), then reads them again through a fault proxy (tests/fault_proxy.py)
  under each fault kind and classifies each outcome: *correct* (equal to the expected answer), *clear
  error* (a biodata-cache error of the class that fault calls for) or *wrong* (another answer, another
  error class, or a raw exception). The tally is printed (``pytest -s``) and written to
  ``tests/output/fault_campaign.json``.
* Publishing through the proxy with failing PUTs either publishes correctly or fails clearly, and never
  leaves a catalog that points at a missing file.
* An S3 endpoint or a DocDB that accepts connections and never answers fails with a clear error after a
  bounded number of attempts (the timeouts are shrunk here; the defaults are measured by hand and given in
  ``biodata_cache.store.S3_CONFIG`` and ``DocDBSource``).
"""

from __future__ import annotations

import pytest
from conftest import BUCKET
from fault_proxy import SilentServer

import biodata_cache as bdc
from biodata_cache.errors import SourceError, StoreUnavailableError
from biodata_cache.store import Store


def _options(endpoint: str, config: dict) -> dict:
    """storage_options that reach the store through ``endpoint`` (botocore's own endpoint is the guard)."""
    return {"endpoint_url": endpoint, "config_kwargs": dict(config)}


# -- endpoints that accept connections and never answer -----------------------------------------------


@pytest.fixture
def silent():
    with SilentServer() as server:
        yield server


QUICK = {"connect_timeout": 0.5, "read_timeout": 0.5, "retries": {"total_max_attempts": 2}}


@pytest.mark.parametrize(
    "call",
    [
        lambda o: bdc.unique_project_names(storage_options=o),
        lambda o: bdc.qc("692478", storage_options=o),
        lambda o: bdc.get_cache_versions(storage_options=o),
        lambda o: bdc.get_cache_registry(storage_options=o),
        lambda o: bdc.open_catalog(storage_options=o),
        lambda o: Store(f"s3://{BUCKET}/x", o).write_bytes("a.json", b"{}"),
        lambda o: Store(f"s3://{BUCKET}/x", o).update_bytes("a.json", lambda current: b"{}"),
        lambda o: Store(f"s3://{BUCKET}/x", o).exists("a.json"),
        lambda o: Store(f"s3://{BUCKET}/x", o).list_names("bdc-v0.1/qc"),
    ],
    ids=["reader", "qc", "versions", "registry", "catalog", "write", "update", "exists", "list"],
)
def test_silent_s3_endpoint_is_store_unavailable_naming_it_after_botocores_attempts(
    silent, monkeypatch, call
):
    monkeypatch.setenv("BIODATA_CACHE_ROOT", f"s3://{BUCKET}/data-asset-cache")
    with pytest.raises(StoreUnavailableError) as caught:
        call(_options(silent.url, QUICK))
    # botocore's attempts and nothing on top (s3fs's own retry loops multiplied them by 4).
    assert silent.connections == 2
    assert f"endpoint {silent.url}" in str(caught.value) and "ReadTimeoutError" in str(caught.value)


def test_silent_s3_endpoint_gets_the_default_number_of_attempts(silent, monkeypatch):
    from biodata_cache.store import S3_CONFIG

    monkeypatch.setenv("BIODATA_CACHE_ROOT", f"s3://{BUCKET}/data-asset-cache")
    timeouts = {"connect_timeout": 0.3, "read_timeout": 0.3}  # the default retries, shorter waits
    with pytest.raises(StoreUnavailableError) as caught:
        bdc.unique_project_names(storage_options=_options(silent.url, timeouts))
    assert silent.connections == S3_CONFIG["retries"]["total_max_attempts"]
    assert f"endpoint {silent.url}" in str(caught.value)


def test_without_credentials_a_silent_metadata_service_is_given_up_on_and_reads_go_anonymous(
    silent, monkeypatch, tmp_path
):
    # botocore's credential chain asks the instance metadata service last (1 s timeout, 1 attempt).
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", silent.url)
    store = Store(f"s3://{BUCKET}/data-asset-cache")
    store.fs  # noqa: B018  (creates the filesystem)
    assert store.storage_options["anon"] is True
    assert silent.connections >= 1  # it was asked, and gave up


def test_silent_docdb_is_a_source_error_naming_the_host_within_its_budget(silent):
    from biodata_cache.sources import DocDBSource

    source = DocDBSource(silent.host, timeout=(0.2, 0.2), attempts=100, budget=1.0)
    with pytest.raises(SourceError, match=rf"DocDB at {silent.host} failed after \d attempt"):
        list(source.records())
    assert 1 <= silent.connections < 100
