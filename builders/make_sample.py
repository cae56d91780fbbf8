"""Regenerate the bundled sample corpus: ``biodata_cache/data/sample_records.jsonl.gz``.

410 SYNTHETIC records (``biodata_cache.synthetic``) shaped like real AIND records: 400 generated in the
three shapes DocDB holds with the default shares (v2 65%, v1 25%, hybrid 10%): QC as ``metrics[]`` and as
v1 ``evaluations[]``, lineage as ``source_data`` and as v1 ``input_data_name``; then a family of 10
SmartSPIM / exaSPIM records for the light-sheet tables (``synthetic.light_sheet_family``). QC metric names,
descriptions and tags are taken from the real v2 records in shared/aind_records (the same three records
are in tests/data/aind_records). Deterministic: a test regenerates it and compares the bytes.

    python builders/make_sample.py [--records FOLDER]
"""

import argparse
import json
import os
from pathlib import Path

from biodata_cache.sources import sample_path
from biodata_cache.synthetic import write_sample

REPOSITORY = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--records", type=Path, default=None, help="folder of real records (default: shared/)"
    )
    arguments = parser.parse_args()
    candidates = [
        REPOSITORY.parent / "shared" / "aind_records",
        REPOSITORY / "tests" / "data" / "aind_records",
    ]
    folder = arguments.records or next(p for p in candidates if p.is_dir())
    templates = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    os.makedirs(Path(sample_path()).parent, exist_ok=True)
    written = write_sample(sample_path(), templates)
    print(f"wrote {written} synthetic records to {sample_path()} ({os.path.getsize(sample_path())} bytes)")
    print(f"QC metric names and tags from {len(templates)} real records in {folder}")
