"""Reading with the default MEMORY backend and no network, and reading a store root that does not exist."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import requests
from requests.adapters import BaseAdapter

import biodata_cache as bdc
from biodata_cache.sources import DocDBSource


class NoNetwork(BaseAdapter):
    """A transport that fails like a machine without network: the host name cannot be resolved."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def send(self, request, **kwargs):
        self.calls += 1
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except socket.gaierror as error:
            raise requests.ConnectionError(f"Failed to resolve {request.url.split('/')[2]!r}") from error

    def close(self) -> None:
        pass


@pytest.fixture
def no_network(monkeypatch) -> NoNetwork:
    """DocDB reached through a session with no network (what ``open_source('docdb')`` gives a read)."""
    adapter = NoNetwork()
    session = requests.Session()
    session.mount("https://", adapter)
    monkeypatch.setattr(
        "biodata_cache.sync.open_source", lambda spec=None, **kwargs: DocDBSource(session=session)
    )
    monkeypatch.setattr("biodata_cache.sources.time.sleep", lambda seconds: None)
    return adapter


def test_memory_backend_without_network_fails_at_once_saying_how_to_read_published_tables(no_network, caplog):
    with pytest.raises(bdc.SourceError) as caught:
        bdc.unique_project_names()
    message = str(caught.value)
    assert "api.allenneuraldynamics.org cannot be reached" in message
    assert "BIODATA_CACHE_BACKEND=S3" in message and "BIODATA_CACHE_SOURCE=sample" in message
    assert no_network.calls == 1  # one request, no retries, no crawl
    assert "building every table" not in caplog.text  # failed before starting the build
    # The cause stays chained, cut down to the network error itself.
    cause = caught.value.__cause__
    assert isinstance(cause, socket.gaierror)
    assert cause.__traceback__ is None and cause.__cause__ is None and cause.__context__ is None
    assert bdc.get_cache_versions() == []  # nothing was published


def test_get_cache_registry_and_open_catalog_fail_the_same_way_without_network(no_network):
    for call in (bdc.get_cache_registry, bdc.open_catalog, bdc.asset_basics):
        with pytest.raises(bdc.SourceError, match="BIODATA_CACHE_BACKEND=S3") as caught:
            call()
        # The cause named is the network error, not the "no registry yet" that started the build.
        assert isinstance(caught.value.__cause__, socket.gaierror), call.__name__
        assert "Name or service not known" in str(caught.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_read_without_docdb_prints_a_short_traceback(tmp_path):
    """``python -c 'import biodata_cache as b; b.unique_project_names()'`` with DocDB unreachable."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BIODATA_CACHE_")}
    environment["BIODATA_CACHE_SOURCE"] = f"docdb://127.0.0.1:{_closed_port()}"
    result = subprocess.run(
        [sys.executable, "-c", "import biodata_cache as b; b.unique_project_names()"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) <= 20, result.stderr  # was 108 lines (and 5 attempts with backoff)
    assert lines[0].startswith("ConnectionRefusedError")
    assert lines[-1].startswith("biodata_cache.errors.SourceError: DocDB at 127.0.0.1:")
    assert "BIODATA_CACHE_BACKEND=S3" in lines[-1] and "BIODATA_CACHE_SOURCE=sample" in lines[-1]


# -- a store root that does not exist ------------------------------------------------------------------


def cli(*arguments: str, cwd, source: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BIODATA_CACHE_")}
    environment["BIODATA_CACHE_SOURCE"] = source
    return subprocess.run(
        [sys.executable, "-m", "biodata_cache.cli", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
    )


def test_root_typo_in_a_read_command_builds_nothing_and_says_how_to_create_a_store(tmp_path):
    # The source would be reachable: the command must still not build into a folder that does not exist.
    for command in (["tables"], ["show", "qc"], ["versions"]):
        result = cli("--root", "./my-stor", *command, cwd=tmp_path, source="sample")
        assert result.returncode == 1, result.stdout
        assert str(tmp_path / "my-stor") in result.stderr
        assert "biodata-cache build --root" in result.stderr
        assert not (tmp_path / "my-stor").exists()


def test_readers_never_create_a_named_local_root(monkeypatch, tmp_path):
    monkeypatch.setenv("BIODATA_CACHE_SOURCE", "sample")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path / "my-stor"))
    for call in (bdc.unique_subject_ids, bdc.get_cache_registry, bdc.open_catalog, lambda: bdc.qc("1")):
        with pytest.raises(
            bdc.VersionNotFoundError, match=r"my-stor does not exist.*biodata-cache build --root"
        ):
            call()
    assert not (tmp_path / "my-stor").exists()


def test_explicit_build_creates_the_named_root_and_reads_then_work(monkeypatch, tmp_path):
    root = tmp_path / "my-store"
    result = cli(
        "--root", str(root), "build", "--source", "sample", "--no-progress", cwd=tmp_path, source="sample"
    )
    assert result.returncode == 0, result.stderr
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(root))
    assert bdc.unique_subject_ids()


def test_default_local_cache_folder_and_memory_still_build_on_first_read(monkeypatch, tmp_path):
    monkeypatch.setenv("BIODATA_CACHE_SOURCE", "sample")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", "LOCAL")
    assert bdc.unique_project_names()
    assert (tmp_path / "cache" / "biodata-cache" / "bdc-v0.1" / "catalog.yaml").exists()
    monkeypatch.delenv("BIODATA_CACHE_BACKEND")
    assert bdc.unique_project_names()  # MEMORY


def test_an_existing_named_folder_still_builds_on_first_read(monkeypatch, tmp_path):
    root = tmp_path / "empty-store"
    root.mkdir()
    monkeypatch.setenv("BIODATA_CACHE_SOURCE", "sample")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(root))
    assert bdc.unique_project_names()
