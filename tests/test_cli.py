"""The biodata-cache command line, run as the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run(*arguments: str, root: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "BIODATA_CACHE_ROOT": root}
    return subprocess.run(
        [sys.executable, "-m", "biodata_cache.cli", *arguments],
        capture_output=True,
        text=True,
        env=environment,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("cli") / "store")
    result = run("build", "--source", "sample", "--no-progress", root=root)
    assert result.returncode == 0, result.stderr
    assert "full build of bdc-v0.1" in result.stdout
    return root


def test_versions_and_tables(built):
    assert run("versions", root=built).stdout.split() == ["bdc-v0.1"]
    tables = run("tables", root=built).stdout
    assert "asset_basics" in tables and "subject_id" in tables


def test_show_qc_of_one_subject_as_json(built):
    subjects = run(
        "show", "unique_subject_ids", "--format", "csv", "--limit", "0", root=built
    ).stdout.split()[1:]
    arguments = ["--subject-id", subjects[0], "--columns", "subject_id,name", "--format", "json"]
    result = run("show", "qc", *arguments, root=built)
    rows = json.loads(result.stdout)
    assert rows and {r["subject_id"] for r in rows} == {subjects[0]}
    assert set(rows[0]) == {"subject_id", "name"}


def test_show_limits_rows_in_table_format(built):
    result = run("show", "asset_basics", "--columns", "name", "--limit", "3", root=built)
    assert "(3 of 410 rows)" in result.stdout  # the bundled sample: 410 records


def test_errors_exit_nonzero_with_the_fix_in_the_message(built, tmp_path):
    unknown = run("show", "nope", root=built)
    assert unknown.returncode == 1 and "valid tables" in unknown.stderr
    column = run("show", "qc", "--columns", "bogus", root=built)
    assert column.returncode == 1 and "has no column 'bogus'" in column.stderr
    empty = run("--version", "0.9", "tables", root=built)
    assert empty.returncode == 1 and "bdc-v0.1" in empty.stderr


def test_catalog_prints_the_version_catalog(built):
    result = run("catalog", root=built)
    assert result.stdout.startswith("# ") and "driver: biodata_parquet" in result.stdout


def test_global_options_work_before_and_after_the_command(tmp_path):
    root = str(tmp_path / "store")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "biodata_cache.cli",
            "build",
            "--root",
            root,
            "--source",
            "sample",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    before = run("--root", root, "tables", root="/nonexistent")
    after = run("tables", "--root", root, root="/nonexistent")
    assert before.returncode == after.returncode == 0
    assert before.stdout == after.stdout and "asset_basics" in after.stdout


def test_build_rejects_a_negative_listing_age_before_building(tmp_path):
    root = str(tmp_path / "store")
    result = run("build", "--source", "sample", "--no-progress", "--listing-max-age-days", "-1", root=root)
    assert result.returncode == 1
    assert "listing_max_age_days=-1.0 is not a number of days >= 0" in result.stderr
    assert not os.path.exists(root)
