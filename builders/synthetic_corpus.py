"""Write a synthetic corpus of AIND-shaped metadata records (SYNTHETIC: not real data).

    python builders/synthetic_corpus.py --count 100000 --out corpus.jsonl.gz [--seed 0] [--bulky 0.1]

Deterministic from the seed, streaming (the corpus is never held in memory), any size from 1k to 1M
records. Real records (tests/data/aind_records) lend QC metric names and, for the --bulky fraction of
records, their large components (procedures, instrument, acquisition), so record sizes range from a few
KB to a few hundred KB. See biodata_cache.synthetic for the statistical shape.
"""

import argparse
import json
import time
from pathlib import Path

from biodata_cache.synthetic import generate, write_jsonl

TEMPLATES = Path(__file__).resolve().parent.parent / "tests" / "data" / "aind_records"


def templates() -> list[dict]:
    """The real records the synthetic ones borrow names and bulky components from."""
    return [json.loads(p.read_text()) for p in sorted(TEMPLATES.glob("*.json"))]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="a .jsonl or .jsonl.gz file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bulky", type=float, default=0.1, help="fraction of records with large components")
    parser.add_argument("--max-metrics", type=int, default=300)
    arguments = parser.parse_args()
    started = time.perf_counter()
    records = generate(
        arguments.count,
        seed=arguments.seed,
        templates=templates(),
        bulky=arguments.bulky,
        max_metrics=arguments.max_metrics,
    )
    written = write_jsonl(arguments.out, records)
    print(f"wrote {written} records to {arguments.out} in {time.perf_counter() - started:.1f} s")
