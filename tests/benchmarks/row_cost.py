"""Benchmark: the CPU a build's read phase spends per record. Prints numbers only.

    python tests/benchmarks/row_cost.py [--corpus build/bench/corpus-10000-shapes.jsonl.gz] [--lines 2000]
                                        [--repeat 1] [--profile]

Reads the first ``--lines`` lines of a JSONL corpus (gzip or plain) into memory, then times
:func:`biodata_cache.sync.rows_of_lines` (parse, check, normalise, every table's row functions and the
arrow conversion) over them in batches of :data:`biodata_cache.sync.BATCH_RECORDS` lines, in this one
process, with ``time.process_time`` (CPU time: the machine is shared). Prints the CPU milliseconds per
record of each repeat; ``--profile`` then prints the cProfile top 15 (cumulative) of one more pass.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import io
import itertools
import pstats
import time


def read_lines(path: str, count: int) -> list[tuple[str, bytes]]:
    """The first ``count`` non-blank lines of a JSONL file as ``(file:line, bytes)``."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        numbered = ((f"{path}:{number}", line.rstrip(b"\n")) for number, line in enumerate(handle, 1))
        return list(itertools.islice(((w, line) for w, line in numbered if line.strip()), count))


def run(lines: list[tuple[str, bytes]]) -> int:
    """Every batch's rows of ``lines``, as a build's read phase computes them; the number of rows."""
    from biodata_cache.sync import BATCH_RECORDS, rows_of_lines

    total = 0
    for start in range(0, len(lines), BATCH_RECORDS):
        tables, _, _ = rows_of_lines(lines[start : start + BATCH_RECORDS])
        total += sum(table.num_rows for table in tables.values())
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="build/bench/corpus-10000-shapes.jsonl.gz")
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="print the cProfile top 15 of one more pass")
    arguments = parser.parse_args()
    lines = read_lines(arguments.corpus, arguments.lines)
    run(lines[:50])  # imports and caches that a build pays once
    for _ in range(arguments.repeat):
        started = time.process_time()
        rows = run(lines)
        seconds = time.process_time() - started
        per_record = 1000 * seconds / len(lines)
        print(f"{len(lines)} records, {rows} rows: {seconds:.2f} s CPU, {per_record:.3f} ms/record")
    if arguments.profile:
        profile = cProfile.Profile()
        profile.enable()
        run(lines)
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(15)
        print(out.getvalue())


if __name__ == "__main__":
    main()
