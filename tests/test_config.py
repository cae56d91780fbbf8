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


@pytest.mark.parametrize("bad", ["0.1.2.3", "bdc-v", "٠.١", "1e3", "0.1.2garbage", "", "0.1\u200b"])
def test_version_folder_rejects_odd_spellings_with_the_expected_forms(bad):
    with pytest.raises(InvalidInputError, match=r"expected 'MAJOR\.MINOR'"):
        config.version_folder(bad)


def test_version_folder_reads_padding_and_package_versions_and_rejects_floats():
    assert config.version_folder(" 0.1\n") == "bdc-v0.1"
    assert config.version_folder("0.1.0rc1") == "bdc-v0.1"
    assert config.version_folder("0.1.0.dev3+g1a2b") == "bdc-v0.1"
    with pytest.raises(InvalidInputError, match=r"as a float, 0\.10 is 0\.1"):
        config.version_folder(0.10)


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ("", "root must not be empty"),
        (" ", "root must not be empty"),
        ("/tmp/x ", "blanks around it"),
        ("s3://", "nothing after s3://"),
        ("s3:///prefix", "names no bucket"),
        ("memory://", "nothing after memory://"),
        ("nosuch://x", "not a protocol fsspec knows"),
    ],
)
def test_odd_roots_are_rejected_naming_the_root(root, message):
    with pytest.raises(InvalidInputError, match=message):
        config.resolve(root=root)


def test_a_file_is_not_a_root_and_local_roots_are_absolute(monkeypatch, tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InvalidInputError, match=r"file\.txt is a file, expected a folder"):
        config.resolve(root=str(tmp_path / "file.txt"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config.resolve(root="store").root == str(tmp_path / "store")
    assert config.resolve(root="~/store").root == str(tmp_path / "home" / "store")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", "")
    assert config.resolve().root == config.MEMORY_ROOT  # an empty variable is unset


@pytest.mark.parametrize(
    ("root", "options", "message"),
    [
        (
            "s3://b/p",
            {"anonymous": True},
            "'anonymous' \\(did you mean 'anon'\\?\\) is not an option of s3://",
        ),
        ("s3://b/p", {"key": "AKIAEXAMPLE"}, "has key but not secret"),
        ("s3://b/p", {"secret": "x"}, "has secret but not key"),
        ("s3://b/p", {"anon": "yes"}, "'anon' must be True or False"),
        ("/tmp/store", {"anon": True}, "'anon' is not an option of local folder stores"),
        ("s3://b/p", [("anon", True)], "must be a dict"),
    ],
)
def test_storage_options_are_checked_against_the_store_before_any_request(root, options, message):
    with pytest.raises(InvalidInputError, match=message):
        config.resolve(root=root, storage_options=options)


def test_valid_storage_options_pass_unchanged():
    options = {"anon": True, "client_kwargs": {"region_name": "us-west-2"}, "skip_instance_cache": True}
    assert config.resolve(root="s3://b/p", storage_options=options).storage_options == options
    assert config.resolve(root="https://m.example/x", storage_options={"headers": {}}).storage_options


@pytest.mark.parametrize("argument", ["backend", "source", "version"])
def test_empty_or_non_string_arguments_are_rejected(argument):
    for value in ("", 5):
        with pytest.raises(InvalidInputError, match=argument):
            config.resolve(**{argument: value})


def test_a_named_local_root_that_does_not_exist_does_not_build_on_read(monkeypatch, tmp_path):
    assert not config.resolve(root=str(tmp_path / "typo")).builds_on_read
    assert config.resolve(root=str(tmp_path)).builds_on_read  # an existing folder still does
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "nothing-yet"))
    assert config.resolve(backend="LOCAL").builds_on_read  # the default cache folder is created
    assert config.resolve(root=config.default_local_root()).builds_on_read
