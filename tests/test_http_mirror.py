"""A read-only HTTP mirror of a published store (a copied folder served by ``python -m http.server``).

Every table must read the same rows from the mirror as from the store itself, whole and one partition
at a time, including partition values that need escaping (web servers percent-encode the names in
their directory listings and decode ``%XX`` in request paths once).
"""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading

import pytest
from helpers import ROWS, publish_fixture

import biodata_cache as bdc
from biodata_cache.errors import StoreAccessError
from biodata_cache.readers import read_table
from biodata_cache.tables import TABLES

#: Subject ids whose folder names need escaping, a null subject and one that is shortened with a hash.
ODD_SUBJECTS = ["a/b=c", "100%", "x~y", "__HIVE_DEFAULT_PARTITION__", "é" * 100, None, "sp ace"]


def _rows_with_odd_subjects() -> dict[str, list[dict]]:
    rows = {name: list(values) for name, values in ROWS.items()}
    rows["qc"] = rows["qc"] + [
        {"subject_id": subject, "asset_name": f"odd-{i}", "name": "m", "value": str(i), "status": "Pass"}
        for i, subject in enumerate(ODD_SUBJECTS)
    ]
    return rows


def _serve(folder):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def mirror(tmp_path):
    """(store root, mirror URL) of one store served over HTTP on 127.0.0.1."""
    publish_fixture(str(tmp_path / "store"), rows=_rows_with_odd_subjects())
    server = _serve(tmp_path)
    yield str(tmp_path / "store"), f"http://127.0.0.1:{server.server_address[1]}/store"
    server.shutdown()


def _read(monkeypatch, root: str, table: str, **kwargs):
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    return read_table(table, **kwargs)


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_every_table_reads_the_same_rows_from_a_mirror_as_from_the_store(monkeypatch, mirror, table):
    store_root, mirror_url = mirror
    expected = _read(monkeypatch, store_root, table)
    found = _read(monkeypatch, mirror_url, table)
    assert found.num_rows == expected.num_rows
    assert found.equals(expected)


@pytest.mark.parametrize("subject", ["692478", *[s for s in ODD_SUBJECTS if s is not None]])
def test_one_qc_partition_reads_the_same_from_a_mirror(monkeypatch, mirror, subject):
    store_root, mirror_url = mirror
    expected = _read(monkeypatch, store_root, "qc", parameters={"subject_id": subject})
    found = _read(monkeypatch, mirror_url, "qc", parameters={"subject_id": subject})
    assert found.num_rows >= 1
    assert found.equals(expected)
    assert set(found.column("subject_id").to_pylist()) == {subject}


def _subjects(values) -> list:
    """Subject ids (of a frame's column, or a list) with nulls as None, sorted."""
    import pandas as pd

    if isinstance(values, pd.DataFrame):
        values = values["subject_id"].tolist()
    return sorted((None if pd.isna(v) else v for v in values), key=lambda v: (v is None, v or ""))


def test_qc_from_a_mirror_through_the_one_liner_intake_dask_and_the_cli(monkeypatch, mirror):
    mirror_url = mirror[1]
    monkeypatch.setenv("BIODATA_CACHE_ROOT", mirror_url)
    expected = sorted(ROWS["qc"][i]["subject_id"] for i in range(4)) + ODD_SUBJECTS
    assert _subjects(bdc.qc()) == _subjects(expected)
    entry = bdc.open_catalog().qc
    assert _subjects(entry.read()) == _subjects(expected)
    assert _subjects(entry.to_dask().compute()) == _subjects(expected)
    one = bdc.open_catalog().qc(subject_id="a/b=c").to_dask().compute()
    assert sorted(one["asset_name"].tolist()) == ["odd", "odd-0"]
    shown = subprocess.run(
        [sys.executable, "-m", "biodata_cache.cli", "--root", mirror_url, "show", "qc", "--limit", "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"({len(expected)} of {len(expected)} rows)" in shown.stdout


def test_one_liners_read_from_an_http_mirror(monkeypatch, mirror):
    monkeypatch.setenv("BIODATA_CACHE_ROOT", mirror[1])
    assert bdc.get_cache_versions() == ["bdc-v0.1"]
    assert bdc.unique_subject_ids() == ["692478", "828418"]
    assert bdc.qc("692478")["subject_id"].tolist() == ["692478", "692478"]
    assert len(bdc.asset_basics(subject_id="828418")) == 2


def test_missing_table_on_a_mirror_is_an_error_and_writing_is_refused(monkeypatch, mirror):
    import pandas as pd

    monkeypatch.setenv("BIODATA_CACHE_ROOT", mirror[1])
    with pytest.raises(bdc.VersionNotFoundError, match=r"bdc-v0\.1"):
        bdc.asset_basics(version="0.5")
    with pytest.raises(StoreAccessError, match="read-only"):
        bdc.custom("mine", pd.DataFrame({"a": [1]}))
