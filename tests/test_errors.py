"""Outcomes a caller must tell apart: missing table, missing version, no access, no network, bad input."""

from __future__ import annotations

import pytest
from helpers import publish_fixture

import biodata_cache as bdc
from biodata_cache.errors import (
    InvalidInputError,
    StoreAccessError,
    StoreUnavailableError,
    TableNotFoundError,
    VersionNotFoundError,
)


def test_missing_version_on_shared_store_names_version_and_existing_ones(s3_root, monkeypatch):
    publish_fixture(s3_root)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    with pytest.raises(VersionNotFoundError) as caught:
        bdc.asset_basics(version="0.7")
    message = str(caught.value)
    assert "bdc-v0.7" in message and "bdc-v0.1" in message and "BIODATA_CACHE_VERSION" in message


def test_missing_table_on_shared_store_is_an_error_and_nothing_is_written(s3_root, monkeypatch):
    store = publish_fixture(s3_root)
    # Drop one table from the catalog, as an older release without it would look.
    text = store.read_bytes("bdc-v0.1/catalog.yaml").decode()
    import yaml

    document = yaml.safe_load(text)
    del document["sources"]["time_to_qc"]
    store.write_bytes("bdc-v0.1/catalog.yaml", yaml.safe_dump(document).encode())
    before = sorted(store.fs.find(s3_root))
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", "S3")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    with pytest.raises(TableNotFoundError) as caught:
        bdc.time_to_qc()
    assert "time_to_qc" in str(caught.value) and "bdc-v0.1" in str(caught.value)
    assert "asset_basics" in str(caught.value)
    store.fs.invalidate_cache()
    assert sorted(store.fs.find(s3_root)) == before
    assert len(bdc.asset_basics()) == 5


def test_empty_store_on_s3_says_no_versions_were_published(s3_root, monkeypatch):
    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    with pytest.raises(VersionNotFoundError, match=r"no cache_versions\.json"):
        bdc.unique_project_names()
    assert bdc.get_cache_versions() == []


def test_unreachable_store_is_a_network_error_not_an_empty_result(monkeypatch):
    # The session's endpoint guard points AWS_ENDPOINT_URL at a closed port on 127.0.0.1.
    monkeypatch.setenv("BIODATA_CACHE_ROOT", "s3://allen-data-views/data-asset-cache")
    options = {"config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}}}
    with pytest.raises(StoreUnavailableError, match="could not reach the store"):
        bdc.unique_project_names(storage_options=options)


def test_access_denied_is_a_store_access_error(s3_root, monkeypatch):
    from moto import settings as moto_settings

    publish_fixture(s3_root)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    # moto enforces IAM when the number of unauthenticated actions allowed is exhausted.
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    with pytest.raises(StoreAccessError, match="refused access"):
        bdc.unique_project_names()


def test_https_store_is_read_only(monkeypatch):
    from biodata_cache.store import Store

    store = Store("https://127.0.0.1:9/mirror")
    with pytest.raises(StoreAccessError, match="read-only"):
        store.write_bytes("x.json", b"{}")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bdc.qc(692478), "subject_id must be a non-empty str"),
        (lambda: bdc.qc(""), "subject_id must be a non-empty str"),
        (lambda: bdc.asset_basics(subject_id=692478), "subject ids are strings"),
        (lambda: bdc.asset_basics(columns=["name", "nope"]), "has no column 'nope'"),
        (lambda: bdc.asset_basics(columns="name"), "columns must be a list"),
        (lambda: bdc.qc("1", columns=["drop table qc"]), "has no column"),
        (lambda: bdc.raw_to_derived(["a", 3]), "asset_name must be a str or a list of str"),
        (lambda: bdc.raw_to_derived("a", latest="yes"), "latest must be True or False"),
        (lambda: bdc.read_table("no_such_table"), "is not in version"),
    ],
)
def test_bad_input_is_rejected_with_a_message_naming_the_fix(monkeypatch, tmp_path, call, message):
    publish_fixture(str(tmp_path))
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path))
    with pytest.raises((InvalidInputError, TableNotFoundError), match=message):
        call()


@pytest.mark.parametrize("value", ["../../etc/passwd", "1' OR '1'='1", "x/../../y", "%2e%2e"])
def test_injection_shaped_subject_ids_read_nothing_outside_their_partition(monkeypatch, tmp_path, value):
    publish_fixture(str(tmp_path))
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path))
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.warns(bdc.NoMatchWarning):
        assert bdc.qc(value).empty
    with pytest.warns(bdc.NoMatchWarning):
        assert bdc.asset_basics(subject_id=value).empty
    assert sorted(p for p in tmp_path.rglob("*")) == before


# -- damaged store files ---------------------------------------------------------------------------------


@pytest.fixture
def damaged(monkeypatch, tmp_path):
    """Publish the fixture to a folder; return a function that overwrites one of its files."""
    publish_fixture(str(tmp_path))
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path))
    monkeypatch.setattr(
        "biodata_cache.store.time.sleep", lambda seconds: None
    )  # damaged content is refetched

    def write(relative: str, data: bytes) -> None:
        (tmp_path / relative).write_bytes(data)

    return write


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"bdc-v0.1": true}', "expected a JSON array of version folder names"),
        (b'["../x", "bdc-v0.1"]', "are not version folder names"),
        (b'["bdc-v0.1\\n"]', "are not version folder names"),  # "$" with .match took a final newline
        (b'["bdc-v0.1"', "not valid JSON"),
    ],
)
def test_damaged_version_list_is_an_error_naming_the_file_and_the_fix(damaged, data, message):
    damaged("cache_versions.json", data)
    with pytest.raises(bdc.BiodataCacheError, match=rf"cache_versions\.json.*{message}") as caught:
        bdc.get_cache_versions()
    assert "JSON" in str(caught.value) or "Republish" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[]", "must be an object with a 'tables' list"),
        (b'{"tables": [1]}', "must be an object, found int"),
        (b'{"tables": [{"name": "qc"}]}', "'qc' lacks description"),
    ],
)
def test_damaged_registry_is_an_error_naming_the_file_and_the_fix(damaged, data, message):
    damaged("bdc-v0.1/cache_registry.json", data)
    with pytest.raises(
        bdc.BiodataCacheError, match=rf"cache_registry\.json is damaged: .*{message}.*Republish"
    ):
        bdc.get_cache_registry()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"sources: [\n", "is not valid YAML"),
        (b"\xff\xfe\x00", "is not valid YAML"),
        (b"sources: {asset_basics: 5}\n", "entry 'asset_basics' has no 'args' mapping"),
        (b"- 1\n", "expected a mapping with a 'sources' mapping"),
    ],
)
def test_damaged_catalog_is_an_error_naming_the_file(damaged, data, message):
    damaged("bdc-v0.1/catalog.yaml", data)
    with pytest.raises(bdc.BiodataCacheError, match=rf"catalog\.yaml.*{message}"):
        bdc.asset_basics()


def test_a_build_never_overwrites_a_damaged_version_list(damaged, tmp_path):
    from biodata_cache.sync import update_all_tables

    damaged("cache_versions.json", b'{"bdc-v0.1": true}')
    with pytest.raises(bdc.BiodataCacheError, match=r"cache_versions\.json is damaged"):
        update_all_tables(source="sample", root=str(tmp_path), progress=False, version="0.2")
    assert (tmp_path / "cache_versions.json").read_bytes() == b'{"bdc-v0.1": true}'


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"columns": ["nope"]}, "has no column 'nope'"),
        ({"columns": "name"}, "columns must be a list"),
        ({"filters": [("nope", "==", "x")]}, "has no column 'nope'"),
        ({"filters": "x"}, "filters must be a list"),
        ({"filters": [("name", "LIKE", "x")]}, "operator 'LIKE'"),
        ({"filters": [("name", "in", "x")]}, "take a list of values"),
        ({"parameters": {"subject_id": 692478}}, "subject ids are strings"),
    ],
)
def test_read_table_checks_its_arguments(monkeypatch, tmp_path, arguments, message):
    publish_fixture(str(tmp_path))
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path))
    with pytest.raises(InvalidInputError, match=message):
        bdc.read_table("asset_basics" if "parameters" not in arguments else "qc", **arguments)
