"""Regenerate the bundled sample corpus: ``biodata_cache/data/sample_records.jsonl.gz``.

SYNTHETIC records shaped like the real AIND records in shared/aind_records (the generator lives in
``biodata_cache.synthetic``). Deterministic: the same seed gives the same file.

    python builders/make_sample.py [--count 400] [--seed 20261124]
"""

import argparse
import os
from pathlib import Path

from biodata_cache.sources import sample_path
from biodata_cache.synthetic import generate, write_jsonl

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--max-metrics", type=int, default=60)
    arguments = parser.parse_args()
    os.makedirs(Path(sample_path()).parent, exist_ok=True)
    written = write_jsonl(
        sample_path(), generate(arguments.count, seed=arguments.seed, max_metrics=arguments.max_metrics)
    )
    print(f"wrote {written} synthetic records to {sample_path()} ({os.path.getsize(sample_path())} bytes)")
