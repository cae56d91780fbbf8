"""Regenerate ``catalogs/`` from the table declarations (``make catalogs``)."""

from pathlib import Path

from biodata_cache.catalog import write_repository_catalogs

if __name__ == "__main__":
    for path in write_repository_catalogs(Path(__file__).resolve().parent.parent / "catalogs"):
        print("wrote", path)
