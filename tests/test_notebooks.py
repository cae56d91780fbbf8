"""Every notebook in docs/ runs in a real kernel (nbclient + ipykernel) against a local store."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from biodata_cache.sync import update_all_tables

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "docs").rglob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_and_shows_the_html_catalog_and_a_plot(path, tmp_path, monkeypatch):
    root = tmp_path / "store"
    update_all_tables(source="sample", root=str(root), progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(root))  # inherited by the kernel
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("bdc-table" in h and "<b>asset_basics</b>" in h for h in html), "no HTML catalog table"
    assert any("image/png" in o.get("data", {}) for o in outputs), "no plot"


def test_committed_notebook_is_what_make_notebook_writes():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_notebook", Path(__file__).parent.parent / "builders" / "make_notebook.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = nbformat.read(NOTEBOOKS[0], as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in module.build().cells], (
        "docs/notebooks/browse_the_catalog.ipynb is stale: run `python builders/make_notebook.py`"
    )
