"""Regenerate the reference pages in ``docs/reference/`` from the declarations and docstrings."""

from pathlib import Path

from biodata_cache.reference import render_api, render_record_shapes, write_reference

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference"

if __name__ == "__main__":
    for path in write_reference(REFERENCE / "tables"):
        print("wrote", path)
    (REFERENCE / "api.md").write_text(render_api())
    print("wrote", REFERENCE / "api.md")
    (REFERENCE / "record-shapes.md").write_text(render_record_shapes())
    print("wrote", REFERENCE / "record-shapes.md")
