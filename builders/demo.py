"""`make demo`: build a release from the bundled sample records into a local store, then read it back.

Everything runs offline: the records are the bundled SYNTHETIC sample, the store is ./demo-store.
"""

import os
import shutil
import sys
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent / "demo-store"


def heading(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(0, 90 - len(text)))


def main() -> None:
    shutil.rmtree(ROOT, ignore_errors=True)
    os.environ["BIODATA_CACHE_ROOT"] = str(ROOT)
    pd.set_option("display.width", 140)
    pd.set_option("display.max_columns", 8)
    pd.set_option("display.max_colwidth", 48)

    import biodata_cache as bdc
    from biodata_cache.sync import update_all_tables

    heading("1. Build a release from the bundled sample (synthetic records) into ./demo-store")
    print(update_all_tables(source="sample", progress=sys.stderr.isatty()))

    heading("2. What the store holds: versions and tables (get_cache_versions, get_cache_registry)")
    print("versions:", bdc.get_cache_versions())
    registry = bdc.get_cache_registry()
    print(
        registry.to_frame()[["name", "rows", "partitions", "partition_key", "built_at"]].to_string(
            index=False
        )
    )

    heading("3. One-liners")
    print("unique_project_names():", bdc.unique_project_names())
    subjects = bdc.unique_subject_ids()
    print(f"unique_subject_ids(): {len(subjects)} subjects, e.g. {subjects[:5]}")
    basics = bdc.asset_basics(
        columns=["name", "data_level", "modalities", "subject_id", "acquisition_start_time"]
    )
    print(f"asset_basics(): {len(basics)} assets\n{basics.head(5).to_string(index=False)}")
    spelled = bdc.asset_basics(columns=["modalities", "recorded_modalities"])
    legacy = spelled[spelled["modalities"].map(list) != spelled["recorded_modalities"].map(list)]
    examples = legacy.assign(spelling=legacy["recorded_modalities"].map(tuple)).drop_duplicates("spelling")
    print(
        f"{len(legacy)} assets (v1 records) spell a modality the old way; read in today's vocabulary:\n"
        f"{examples[['recorded_modalities', 'modalities']].head(5).to_string(index=False)}"
    )

    qc_counts = bdc.qc(columns=["subject_id"]).value_counts("subject_id")
    subject = str(qc_counts.index[0])
    metrics = bdc.qc(subject, columns=["asset_name", "name", "status", "value"])
    print(f"\nqc({subject!r}): {len(metrics)} metrics from one partition")
    print(metrics.head(5).to_string(index=False))

    lineage = bdc.source_data()
    raw = lineage.value_counts("source_data").index[0]
    print(f"\nraw_to_derived({raw!r}):")
    for name in bdc.raw_to_derived(raw):
        print("   ", name)
    print("latest only:", bdc.raw_to_derived(raw, latest=True))

    fib_qc = bdc.platform_qc("fib", columns=["asset_name", "tag", "status"])
    print(f"\nplatform_qc('fib'): {len(fib_qc)} QC status keys of fiber photometry assets (one partition)")
    print(fib_qc.head(5).to_string(index=False))
    fibers = bdc.platform_fib(columns=["asset_name", "fiber", "channel", "intended_measurement"])
    print(f"platform_fib(): {len(fibers)} fiber channels\n{fibers.head(5).to_string(index=False)}")
    checks = bdc.record_consistency_checks(
        columns=["check_key", "severity", "evaluated", "evaluated_count", "failed_count"]
    )
    print(f"\nrecord_consistency_checks() (the sample lists no bucket):\n{checks.to_string(index=False)}")
    v1dd = bdc.swdb_2025_v1dd(columns=["name", "subject_id", "column", "volume", "age"])
    print(
        f"\nswdb_2025_v1dd(): {len(v1dd)} V1 Deep Dive assets (course table)\n{v1dd.to_string(index=False)}"
    )
    members = bdc.swdb_2026_visual_coding_ophys()
    print(f"swdb_2026_visual_coding_ophys(): {len(members)} assets of a public SWDB 2026 collection")

    heading("4. The same catalog through intake.open_catalog")
    import intake

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Shell command not executed")
        cat = intake.open_catalog(str(ROOT / "catalog.yaml"))
        print("top-level entries:", list(cat), "| latest has:", list(cat.latest))
        entry = cat.latest.qc(subject_id=subject)
        print(
            f"cat.latest.qc(subject_id={subject!r}).discover():", entry.discover()["shape"], "(rows, columns)"
        )
        print("subject_id dtype stays a string:", entry.read()["subject_id"].map(type).unique().tolist())

    heading("5. DuckDB straight on the parquet")
    try:
        import duckdb
    except ImportError:
        print("(duckdb not installed: pip install duckdb)")
    else:
        folder = ROOT / "bdc-v0.1"
        print(
            duckdb.sql(
                f"SELECT status, count(*) AS metrics FROM read_parquet('{folder}/qc/*/*.pqt', "
                f"hive_partitioning=true, hive_types={{'subject_id': VARCHAR}}) GROUP BY 1 ORDER BY 2 DESC"
            )
        )
    print(f"\nThe store is in {ROOT}; read it yourself with BIODATA_CACHE_ROOT={ROOT}.")


if __name__ == "__main__":
    main()
