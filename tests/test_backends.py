"""Backend names, the CODEOCEAN backend, Code Ocean asset mounts as a source, and 0.42's sync entry points."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from biodata_cache import config
from biodata_cache.errors import InvalidInputError


@pytest.mark.parametrize(
    ("given", "backend"),
    [(" s3 ", "S3"), ("Memory", "MEMORY"), ("memory", "MEMORY"), ("\tlocal\n", "LOCAL"), ("S3", "S3")],
)
def test_backend_name_is_case_insensitive_and_stripped(monkeypatch, given, backend):
    assert config.resolve(backend=given).backend == backend
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", given)
    assert config.resolve().backend == backend


@pytest.mark.parametrize("given", ["s4", "mem ory", "LOCAL_FOLDER"])
def test_unknown_backend_name_lists_the_valid_ones(monkeypatch, given):
    with pytest.raises(InvalidInputError, match=r"backend=.* is not a backend; choose one of S3, MEMORY"):
        config.resolve(backend=given)
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", given)
    with pytest.raises(InvalidInputError, match=r"BIODATA_CACHE_BACKEND=.* is not a backend"):
        config.resolve()


def test_backend_that_is_not_a_string_is_an_input_error():
    with pytest.raises(InvalidInputError, match="backend must be a string"):
        config.resolve(backend=3)  # type: ignore[arg-type]


def test_cli_backend_option_takes_any_case_and_rejects_unknown_names(tmp_path):
    environment = {**os.environ, "BIODATA_CACHE_ROOT": str(tmp_path / "store")}
    command = [sys.executable, "-m", "biodata_cache.cli"]
    built = subprocess.run(
        [*command, "--backend", " Local ", "build", "--source", "sample", "--no-progress", "--workers", "1"],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert built.returncode == 0, built.stderr
    wrong = subprocess.run([*command, "--backend", "s4", "versions"], capture_output=True, text=True, env=environment)
    assert wrong.returncode == 1
    assert "--backend 's4' is not a backend; choose one of S3, MEMORY, LOCAL" in wrong.stderr
    assert "Traceback" not in wrong.stderr
