"""Requests each call sends to S3 (a moto server), counted at the botocore client: every s3fs request,
sync or async, goes through ``AioBaseClient._make_api_call``.

A warm read sends the catalog GET plus one GET per file it reads (no HEAD, no listing);
``get_cache_versions()`` and ``get_cache_registry()`` send one GET; ``custom(name, df)`` at most five
requests in two round trips, three after a ``custom()`` of the same process on the version.
"""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import ROWS, publish_fixture

import biodata_cache as bdc
from biodata_cache import config
from biodata_cache.catalog import CATALOG_FILE
from biodata_cache.registry import VERSIONS_FILE, read_registry, read_versions

VERSION = config.version_folder()
QC_ROWS = [
    {"subject_id": "700001", "asset_name": "a1", "raw_asset_name": "raw_1", "name": "m"},
    {"subject_id": "700002", "asset_name": "a2", "raw_asset_name": "raw_1", "name": "m"},
    {"subject_id": "700003", "asset_name": "a3", "raw_asset_name": "raw_3", "name": "m"},
]
PLATFORM_ROWS = [
    {"platform": "spim", "asset_name": "s1", "tag": "t", "status": "Pass"},
    {"platform": "fib", "asset_name": "f1", "tag": "t", "status": "Fail"},
]


@pytest.fixture
def requests_sent(monkeypatch):
    """The S3 operations sent while the test runs, as ``(operation, key)``; clear it to start counting."""
    from aiobotocore.client import AioBaseClient

    sent: list[tuple[str, str]] = []
    original = AioBaseClient._make_api_call

    async def counting(self, operation, params):
        sent.append((operation, str(params.get("Key") or params.get("Prefix") or "")))
        return await original(self, operation, params)

    monkeypatch.setattr(AioBaseClient, "_make_api_call", counting)
    return sent


@pytest.fixture
def s3_published(s3_root, monkeypatch):
    rows = {**ROWS, "qc": QC_ROWS, "platform_qc": PLATFORM_ROWS}
    publish_fixture(s3_root, rows=rows)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    return s3_root


def _operations(sent: list[tuple[str, str]]) -> list[str]:
    return [operation for operation, _ in sent]


# (call, number of data files it reads)
WARM_READS = {
    "unique_project_names": (lambda: bdc.unique_project_names(), 1),
    "unique_subject_ids": (lambda: bdc.unique_subject_ids(), 1),
    "asset_basics": (lambda: bdc.asset_basics(), 1),
    "source_data": (lambda: bdc.source_data(), 1),
    "qc(subject_id)": (lambda: bdc.qc("700001"), 1),
    "qc(raw_asset_name)": (lambda: bdc.qc(raw_asset_name="raw_1"), 3),  # the index, then 2 partitions
    "qc_status": (lambda: bdc.qc_status(), 1),
    "platform_qc": (lambda: bdc.platform_qc("spim"), 1),
    "custom(name)": (lambda: bdc.custom("mine"), 1),
}


@pytest.mark.parametrize("name", list(WARM_READS))
def test_a_warm_read_on_s3_sends_the_catalog_get_and_one_get_per_file_it_reads(
    s3_published, requests_sent, name
):
    call, files = WARM_READS[name]
    bdc.custom("mine", pd.DataFrame({"x": [1, 2]}))
    call()  # warm: the bucket's region, the credentials, the manifests of the release
    requests_sent.clear()
    call()
    assert _operations(requests_sent) == ["GetObject"] * (1 + files), requests_sent
    assert requests_sent[0][1].endswith(f"{VERSION}/{CATALOG_FILE}")


def test_get_cache_versions_and_get_cache_registry_send_one_get_each(s3_published, requests_sent):
    bdc.get_cache_versions(), bdc.get_cache_registry()
    requests_sent.clear()
    assert bdc.get_cache_versions() == [VERSION]
    assert requests_sent == [("GetObject", f"data-asset-cache/{VERSIONS_FILE}")]
    requests_sent.clear()
    assert "qc" in bdc.get_cache_registry()
    assert requests_sent == [("GetObject", f"data-asset-cache/{VERSION}/cache_registry.json")]


def test_warm_reads_reuse_one_s3_filesystem_and_look_for_credentials_once(s3_published, monkeypatch):
    import botocore.session
    import s3fs

    bdc.unique_project_names()
    lookups = []
    original = botocore.session.Session.get_credentials

    def counting(self, *args, **kwargs):
        lookups.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "get_credentials", counting)
    instances = dict(s3fs.S3FileSystem._cache)
    for _ in range(3):
        bdc.unique_project_names()
        bdc.qc("700001")
    assert dict(s3fs.S3FileSystem._cache) == instances
    assert lookups == []


def test_the_credential_answer_is_looked_up_again_when_aws_settings_change(monkeypatch, tmp_path):
    import botocore.session

    from biodata_cache.store import filesystem_options

    lookups = []
    original = botocore.session.Session.get_credentials

    def counting(self, *args, **kwargs):
        lookups.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "get_credentials", counting)
    credentials = tmp_path / "credentials"
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    assert filesystem_options("s3://b/k", None)["anon"] is False  # the conftest's key in the environment
    assert filesystem_options("s3://b/k", None)["anon"] is False
    assert len(lookups) == 1
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "another")
    filesystem_options("s3://b/k", None)
    assert len(lookups) == 2
    credentials.write_text("[default]\naws_access_key_id = k\naws_secret_access_key = s\n")
    filesystem_options("s3://b/k", None)
    assert len(lookups) == 3
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    credentials.unlink()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    # No credentials anywhere now (AWS_ENDPOINT_URL is no credential source): decided without botocore.
    assert filesystem_options("s3://b/k", None)["anon"] is True
    assert len(lookups) == 3


def test_custom_on_s3_sends_at_most_five_requests_and_returns_what_reads_back(s3_published, requests_sent):
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"], "c": [0.5, None, 2.0]})
    bdc.custom("warm", frame)  # the bucket's region and the credentials
    requests_sent.clear()
    written = bdc.custom("mine", frame, description="mine")
    first = list(requests_sent)
    assert len(first) <= 5, first
    assert "HeadObject" not in _operations(first)
    pd.testing.assert_frame_equal(written, frame)
    requests_sent.clear()
    again = bdc.custom("mine", frame, description="mine")
    assert len(requests_sent) <= len(first), requests_sent
    pd.testing.assert_frame_equal(again, frame)
    pd.testing.assert_frame_equal(bdc.custom("mine"), frame)
    assert {"custom_mine", "custom_warm", "qc"} <= set(read_registry(_store(s3_published), VERSION).names)


def _store(root: str):
    from biodata_cache.store import Store

    return Store(root)


def test_custom_on_s3_lists_a_version_that_is_not_listed_yet(s3_root, monkeypatch, requests_sent):
    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    frame = pd.DataFrame({"a": [1]})
    pd.testing.assert_frame_equal(bdc.custom("first", frame), frame)
    assert read_versions(_store(s3_root)) == [VERSION]
    top = _store(s3_root).read_bytes(CATALOG_FILE).decode()
    assert f"{VERSION}/{CATALOG_FILE}" in top
    pd.testing.assert_frame_equal(bdc.custom("first"), frame)


def test_custom_keeps_a_build_that_commits_between_its_read_and_its_commit(s3_published, monkeypatch):
    """A build commits the registry after custom() read it: custom()'s conditional PUT fails, it applies
    its entry to the build's registry, and the catalog names both."""
    from biodata_cache.publish import publish_registry, write_table
    from biodata_cache.publish import rows_to_arrow as arrow
    from biodata_cache.store import Store
    from biodata_cache.tables import TABLES_BY_NAME

    store = Store(s3_published)
    original = Store.write_while_reading

    def with_a_build_in_between(self, writes, reads):
        known = original(self, writes, reads)
        table = TABLES_BY_NAME["unique_project_names"]
        entry = write_table(
            store, VERSION, table, arrow(table, [{"project_name": "Concurrent"}]), source="concurrent"
        )
        publish_registry(store, VERSION, [entry], source="concurrent")
        return known

    monkeypatch.setattr(Store, "write_while_reading", with_a_build_in_between)
    bdc.custom("mine", pd.DataFrame({"a": [1]}))
    monkeypatch.setattr(Store, "write_while_reading", original)
    registry = read_registry(store, VERSION)
    assert "custom_mine" in registry
    assert registry["unique_project_names"].source == "concurrent"
    assert bdc.unique_project_names() == ["Concurrent"]
    assert bdc.custom("mine")["a"].tolist() == [1]


@pytest.mark.parametrize(
    "other_wrote_its_catalog", [True, False], ids=["other-finished", "other-committed-only"]
)
def test_custom_catalog_keeps_a_table_another_custom_published_before_it(
    s3_published, monkeypatch, other_wrote_its_catalog
):
    """Another custom() commits its registry after this one read it, and has or has not written its
    catalog yet, when this one sends its registry and catalog PUTs together: the registry PUT fails (the
    catalog PUT too when the other wrote its catalog), so this one applies its entry to the registry as it
    is then and regenerates the catalog from it: both tables, in the registry and the catalog."""
    from biodata_cache.catalog import CATALOG_FILE as VERSION_CATALOG
    from biodata_cache.store import Store

    original = Store.write_if_unchanged
    state = {"inner": False}

    def with_another_custom_first(self, writes):
        if not state["inner"]:
            state["inner"] = True
            catalog = f"{VERSION}/{VERSION_CATALOG}"
            before = self.read_bytes(catalog)
            bdc.custom("other", pd.DataFrame({"b": [2]}))
            if not other_wrote_its_catalog:
                self.write_bytes(catalog, before)
        return original(self, writes)

    monkeypatch.setattr(Store, "write_if_unchanged", with_another_custom_first)
    bdc.custom("mine", pd.DataFrame({"a": [1]}))
    monkeypatch.setattr(Store, "write_if_unchanged", original)
    assert state["inner"]
    assert {"custom_mine", "custom_other"} <= set(bdc.open_catalog())
    assert {"custom_mine", "custom_other"} <= set(read_registry(_store(s3_published), VERSION).names)
    assert bdc.custom("other")["b"].tolist() == [2]
    assert bdc.custom("mine")["a"].tolist() == [1]


@pytest.fixture
def round_trips(monkeypatch):
    """A function giving the round trips of the S3 requests sent since the last call: each a set of
    ``(operation, key name)`` sent before any of them was answered."""
    from aiobotocore.client import AioBaseClient

    events: list[tuple[str, str, str]] = []
    original = AioBaseClient._make_api_call

    async def observed(self, operation, params):
        key = str(params.get("Key") or "").rsplit("/", 1)[-1]
        events.append(("sent", operation, key))
        try:
            return await original(self, operation, params)
        finally:
            events.append(("answered", operation, key))

    monkeypatch.setattr(AioBaseClient, "_make_api_call", observed)

    def since_last_call() -> list[set[tuple[str, str]]]:
        rounds, open_calls, current = [], 0, set()
        for event, operation, key in events:
            if event == "sent":
                current.add((operation, key))
                open_calls += 1
            else:
                open_calls -= 1
                if open_calls == 0:
                    rounds.append(current)
                    current = set()
        events.clear()
        return rounds

    return since_last_call


def test_custom_on_s3_sends_its_registry_and_catalog_together(s3_published, round_trips):
    """The commit takes two round trips: the file PUT with the registry and version-list GETs, then the
    registry and catalog PUTs together (both sent before either is answered)."""
    from biodata_cache.publish import forget_committed

    bdc.custom("warm", pd.DataFrame({"a": [1]}))
    forget_committed()  # as in a process that has not published here yet
    round_trips()
    bdc.custom("mine", pd.DataFrame({"a": [1]}))
    assert round_trips() == [
        {
            ("PutObject", "mine.pqt"),
            ("GetObject", "cache_registry.json"),
            ("GetObject", "cache_versions.json"),
        },
        {("PutObject", "cache_registry.json"), ("PutObject", "catalog.yaml")},
    ]


def test_custom_after_a_custom_of_the_same_process_reads_nothing_before_its_commit(s3_published, round_trips):
    """The process committed the registry and catalog itself: the next custom() sends the file PUT alone,
    then the two PUTs on the ETags of that commit; three requests, and what it wrote reads back."""
    bdc.custom("first", pd.DataFrame({"a": [1]}))
    round_trips()
    bdc.custom("second", pd.DataFrame({"b": [2]}))
    assert round_trips() == [
        {("PutObject", "second.pqt")},
        {("PutObject", "cache_registry.json"), ("PutObject", "catalog.yaml")},
    ]
    assert {"custom_first", "custom_second"} <= set(bdc.open_catalog())
    assert {"custom_first", "custom_second"} <= set(read_registry(_store(s3_published), VERSION).names)
    assert bdc.custom("second")["b"].tolist() == [2]


@pytest.mark.parametrize(
    "other_wrote_its_catalog", [True, False], ids=["other-finished", "other-committed-only"]
)
def test_custom_after_its_own_commit_keeps_what_another_publisher_committed_since(
    s3_published, other_wrote_its_catalog, round_trips
):
    """Another publisher commits a registry (and its catalog, or not yet) after this process's custom():
    the next custom()'s conditions fail on the registry, so it reads it, applies its entry again, and the
    catalog is regenerated: both tables, in the registry and the catalog, the other's data unchanged."""
    from biodata_cache.catalog import CATALOG_FILE as VERSION_CATALOG
    from biodata_cache.catalog import render_registry_catalog
    from biodata_cache.publish import publish_registry, write_table
    from biodata_cache.publish import rows_to_arrow as arrow
    from biodata_cache.tables import TABLES_BY_NAME

    store = _store(s3_published)
    bdc.custom("mine", pd.DataFrame({"a": [1]}))
    catalog_before = store.read_bytes(f"{VERSION}/{VERSION_CATALOG}")
    table = TABLES_BY_NAME["unique_project_names"]
    entry = write_table(store, VERSION, table, arrow(table, [{"project_name": "Concurrent"}]), source="other")
    publish_registry(store, VERSION, [entry], source="other")
    if not other_wrote_its_catalog:
        store.write_bytes(f"{VERSION}/{VERSION_CATALOG}", catalog_before)
    round_trips()
    bdc.custom("later", pd.DataFrame({"b": [2]}))
    assert round_trips()[:2] == [
        {("PutObject", "later.pqt")},
        {("PutObject", "cache_registry.json"), ("PutObject", "catalog.yaml")},
    ]
    registry = read_registry(store, VERSION)
    assert {"custom_mine", "custom_later"} <= set(registry.names)
    assert registry["unique_project_names"].source == "other"
    assert store.read_bytes(f"{VERSION}/{VERSION_CATALOG}") == render_registry_catalog(registry).encode()
    assert {"custom_mine", "custom_later", "unique_project_names"} <= set(bdc.open_catalog())
    assert bdc.unique_project_names() == ["Concurrent"]
    assert bdc.custom("later")["b"].tolist() == [2]
    assert bdc.custom("mine")["a"].tolist() == [1]


def test_custom_on_s3_writes_the_catalog_when_the_version_has_a_registry_but_no_catalog(s3_published):
    """A registry without its catalog (a publish stopped between the two, a catalog deleted by hand): the
    catalog's conditional PUT finds no object to match, which is a failed condition, not an error; the
    catalog is regenerated from the registry."""
    from biodata_cache.catalog import CATALOG_FILE as VERSION_CATALOG

    store = _store(s3_published)
    store.delete(f"{VERSION}/{VERSION_CATALOG}")
    bdc.custom("mine", pd.DataFrame({"a": [1]}))
    assert {"custom_mine", "qc"} <= set(bdc.open_catalog())
    assert bdc.custom("mine")["a"].tolist() == [1]


@pytest.mark.parametrize("kind", ["500", "reset"])
def test_custom_whose_file_put_fails_while_the_registry_is_generated_publishes_it_once_retried(
    s3_published, s3_endpoint, monkeypatch, kind
):
    """The file PUT that is in flight while the registry and catalog are generated fails once: it is made
    again before the commit, so the table reads back and the catalog never names a missing file."""
    from fault_proxy import Fault, FaultProxy

    bdc.custom("first", pd.DataFrame({"a": [1]}))  # the process now commits without reading first
    with FaultProxy(s3_endpoint, [Fault(kind, method="PUT", pattern=r"second\.pqt", times=1)]) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        written = bdc.custom("second", pd.DataFrame({"b": [2]}))
        assert proxy.injected[kind] == 1
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    s3fs.S3FileSystem.clear_instance_cache()
    assert written["b"].tolist() == [2]
    assert bdc.custom("second")["b"].tolist() == [2]
    assert {"custom_first", "custom_second"} <= set(bdc.open_catalog())
