import pytest

from biodata_cache import config
from biodata_cache.errors import InvalidInputError


def test_defaults_are_memory_backend_docdb_source_and_installed_version():
    settings = config.resolve()
    assert settings.backend == "MEMORY"
    assert settings.root == config.MEMORY_ROOT
    assert settings.source == "docdb"
    assert settings.version == "bdc-v0.1"
    assert settings.builds_on_read


def test_argument_beats_environment_beats_default(monkeypatch):
    monkeypatch.setenv("BIODATA_CACHE_VERSION", "0.7")
    monkeypatch.setenv("BIODATA_CACHE_SOURCE", "sample")
    assert config.resolve().version == "bdc-v0.7"
    assert config.resolve(version="bdc-v0.3").version == "bdc-v0.3"
    assert config.resolve().source == "sample"
    assert config.resolve(source="/data/records").source == "/data/records"


def test_environment_is_read_at_call_time_not_import_time(monkeypatch):
    assert config.resolve().backend == "MEMORY"
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", "s3")
    assert config.resolve().backend == "S3"
    assert config.resolve().root == config.PRODUCTION_ROOT
    assert not config.resolve().builds_on_read


@pytest.mark.parametrize(
    ("root", "backend"),
    [
        ("memory://x", "MEMORY"),
        ("/tmp/cache", "LOCAL"),
        ("file:///tmp/c", "LOCAL"),
        ("s3://bucket/p", "S3"),
        ("https://mirror.example/p", "S3"),
    ],
)
def test_backend_is_inferred_from_root_when_not_set(monkeypatch, root, backend):
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    assert config.resolve().backend == backend


def test_unknown_backend_error_lists_valid_backends(monkeypatch):
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", "GCS")
    with pytest.raises(InvalidInputError, match="S3, MEMORY, LOCAL"):
        config.resolve()


@pytest.mark.parametrize(
    ("given", "folder"),
    [("0.1", "bdc-v0.1"), ("bdc-v0.10", "bdc-v0.10"), ("v1.2", "bdc-v1.2"), ("0.3.7", "bdc-v0.3")],
)
def test_version_folder_normalises_spellings(given, folder):
    assert config.version_folder(given) == folder


@pytest.mark.parametrize("bad", ["latest", "../0.1", "0", 1.0])
def test_version_folder_rejects_non_versions(bad):
    with pytest.raises(InvalidInputError):
        config.version_folder(bad)


def test_version_sort_is_numeric():
    folders = ["bdc-v0.10", "bdc-v0.9", "bdc-v1.0", "bdc-v0.2"]
    assert sorted(folders, key=config.version_sort_key) == ["bdc-v0.2", "bdc-v0.9", "bdc-v0.10", "bdc-v1.0"]


def test_only_the_installed_version_is_built_on_read():
    assert config.resolve(backend="LOCAL").builds_on_read
    assert not config.resolve(backend="LOCAL", version="0.9").builds_on_read
