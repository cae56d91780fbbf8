"""Write a synthetic corpus of AIND-shaped metadata records (SYNTHETIC: not real data).

    python builders/synthetic_corpus.py --count 100000 --out corpus.jsonl.gz [--seed 0] [--bulky 0.1]
        [--shapes v2=0.65,v1=0.25,hybrid=0.10]

Deterministic from the seed, streaming (the corpus is never held in memory), any size from 1k to 1M
records. The records come in the three shapes DocDB holds (v2, v1, hybrid; docs/reference/record-shapes.md)
with the --shapes shares; --shapes v2=1 --v2-last-modified 0 writes the v2-only corpus of earlier
versions. Real records (tests/data/aind_records) lend QC metric names and, for the --bulky fraction of
records, their large components (procedures, instrument, acquisition), so record sizes range from a few
KB to a few hundred KB. See biodata_cache.synthetic for the statistical shape.
"""

import argparse
import json
import time
from pathlib import Path

from biodata_cache.synthetic import DEFAULT_SHAPES, DEFAULT_V2_LAST_MODIFIED, generate, write_jsonl

TEMPLATES = Path(__file__).resolve().parent.parent / "tests" / "data" / "aind_records"


def templates() -> list[dict]:
    """The real records the synthetic ones borrow names and bulky components from."""
    return [json.loads(p.read_text()) for p in sorted(TEMPLATES.glob("*.json"))]


def shares(text: str) -> dict[str, float]:
    """``v2=0.65,v1=0.25,hybrid=0.1`` -> {"v2": 0.65, "v1": 0.25, "hybrid": 0.1}."""
    try:
        return {name.strip(): float(value) for name, value in (part.split("=") for part in text.split(","))}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected shape=share,... (e.g. v2=0.65,v1=0.25,hybrid=0.1), found {text!r}"
        ) from None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="a .jsonl or .jsonl.gz file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bulky", type=float, default=0.1, help="fraction of records with large components")
    parser.add_argument("--max-metrics", type=int, default=300)
    parser.add_argument(
        "--shapes",
        type=shares,
        default=DEFAULT_SHAPES,
        help="share of each record shape (default: "
        + ",".join(f"{k}={v}" for k, v in DEFAULT_SHAPES.items())
        + ")",
    )
    parser.add_argument(
        "--v2-last-modified",
        type=float,
        default=DEFAULT_V2_LAST_MODIFIED,
        help="fraction of v2 records with last_modified instead of _last_modified",
    )
    arguments = parser.parse_args()
    started = time.perf_counter()
    try:
        records = generate(
            arguments.count,
            seed=arguments.seed,
            templates=templates(),
            bulky=arguments.bulky,
            max_metrics=arguments.max_metrics,
            shapes=arguments.shapes,
            v2_last_modified=arguments.v2_last_modified,
        )
    except ValueError as error:
        parser.error(str(error))
    written = write_jsonl(arguments.out, records)
    print(f"wrote {written} records to {arguments.out} in {time.perf_counter() - started:.1f} s")
