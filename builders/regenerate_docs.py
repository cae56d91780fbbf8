"""Regenerate the reference pages in ``docs/reference/`` from the declarations and docstrings."""

from pathlib import Path

from biodata_cache.reference import render_api, write_reference

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference"

if __name__ == "__main__":
    for path in write_reference(REFERENCE / "tables"):
        print("wrote", path)
    (REFERENCE / "api.md").write_text(render_api())
    print("wrote", REFERENCE / "api.md")
