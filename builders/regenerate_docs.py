"""Regenerate the table reference pages in ``docs/reference/tables/`` from the declarations."""

from pathlib import Path

from biodata_cache.reference import write_reference

if __name__ == "__main__":
    for path in write_reference(Path(__file__).resolve().parent.parent / "docs" / "reference" / "tables"):
        print("wrote", path)
