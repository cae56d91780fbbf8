"""Benchmarks: print numbers and write docs/performance.md (with a PNG plot). Never asserts timings.

    python tests/benchmarks/run.py [--sizes 10000,100000] [--repeat 5] [--partitions 100,1000,10000]

Measures, with medians over repeated runs and the machine noted:

1. read: every one-liner against the floor (pyarrow reading the same parquet object through the same
   filesystem, in the same process), on a local store and on a moto S3 server on 127.0.0.1 with the
   number of HTTP requests per call counted at the server (its access log);
2. ``qc(subject_id)`` latency and requests as the number of partitions grows;
3. build: full build time, records per second and peak RSS from a JSONL corpus and from the DocDB source
   (the real client on an in-memory transport), and an incremental build after 1% of records change;
4. ``import biodata_cache`` time and the peak RSS of a one-liner process.

Corpora and stores are kept in ``build/bench/`` between runs (delete it to start over).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[2]
WORK = REPOSITORY / "build" / "bench"
BUCKET = "bench"
sys.path.insert(0, str(REPOSITORY / "tests"))


# -- helpers -------------------------------------------------------------------------------------------


def median_time(function: Callable[[], Any], repeat: int) -> float:
    function()  # warm up (imports, caches)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


_RSS_HOOK = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: sys.stderr.write("
    "'__RSS__%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
)


def run_measured(code: str, environment: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run Python code in a fresh process: (wall seconds, its peak RSS in MB, stdout)."""
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-c", _RSS_HOOK + code],
        capture_output=True,
        text=True,
        env={**os.environ, **(environment or {})},
    )
    elapsed = time.perf_counter() - started
    if process.returncode:
        raise RuntimeError(f"benchmark process failed:\n{process.stderr[-3000:]}")
    peak = [int(line[7:]) for line in process.stderr.splitlines() if line.startswith("__RSS__")]
    return elapsed, (peak[-1] // 1024 if peak else -1), process.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """A moto S3 server in its own process; requests are counted from its access log."""

    def __init__(self) -> None:
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=self.log,
        )
        self.endpoint = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)

    def requests(self) -> int:
        with open(self.log.name, "rb") as handle:
            return sum(1 for line in handle if b'" 200 ' in line or b'" 404 ' in line or b'" 206 ' in line)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def machine() -> str:
    import pyarrow

    import biodata_cache

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError):
        pass
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}){memory}; Python "
        f"{platform.python_version()}, pyarrow {pyarrow.__version__}, biodata-cache {biodata_cache.__version__}; "
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"
    )


# -- corpora and builds ----------------------------------------------------------------------------------


def corpus(size: int) -> Path:
    # "shapes": the corpus holds v2, v1 and hybrid records; a cached v2-only corpus of earlier runs
    # (corpus-{size}.jsonl.gz) is not reused.
    path = WORK / f"corpus-{size}-shapes.jsonl.gz"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                str(REPOSITORY / "builders" / "synthetic_corpus.py"),
                "--count",
                str(size),
                "--out",
                str(path),
                "--seed",
                "1",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"  generated {size:,} records in {time.perf_counter() - started:.0f} s -> {path}")
    return path


BUILD = """
import json, sys
from biodata_cache.sync import update_all_tables
report = update_all_tables(source={source!r}, root={root!r}, full={full}, progress=False, workers=2)
print(json.dumps({{"seconds": report.seconds, "records": report.records_read,
                  "tables": report.tables_written, "partitions": report.partitions_written,
                  "rows": report.rows, "phases": report.phases}}))
"""


def build(source: str, root: Path, *, full: bool) -> dict[str, Any]:
    wall, rss, out = run_measured(BUILD.format(source=source, root=str(root), full=full))
    result = json.loads(out.strip().splitlines()[-1])
    result.update(wall=wall, rss_mb=rss)
    return result


def change_one_percent(path: Path) -> None:
    """Rewrite the corpus with every 100th record changed (newer change marker, a new location).

    The marker is the record's own envelope field: ``_last_modified``, or ``last_modified`` in v1 and
    hybrid records (the synthetic corpus holds all three shapes)."""
    changed = path.with_suffix(".tmp")
    with gzip.open(path, "rt") as source, gzip.open(changed, "wt") as target:
        for number, line in enumerate(source):
            if number % 100 == 0:
                record = json.loads(line)
                marker = "_last_modified" if "_last_modified" in record else "last_modified"
                record[marker] = "2030-01-01T00:00:00.000Z"
                record["location"] = record["location"] + "-moved"
                line = json.dumps(record) + "\n"
            target.write(line)
    os.replace(changed, path)


DOCDB_BUILD = """
import gzip, json, sys, time
sys.path.insert(0, {tests!r})
from docdb_fake import FakeDocDB, session_for
from biodata_cache.sources import DocDBSource
from biodata_cache.sync import update_all_tables
records = [json.loads(line) for line in gzip.open({corpus!r}, "rt")]
adapter = FakeDocDB(records, page_cap=500)
source = DocDBSource("docdb.example", session=session_for(adapter), batch_size=500)
full = update_all_tables(source=source, root={root!r}, full=True, progress=False, workers=2)
full_requests = len(adapter.requests)
for record in records[::100]:  # 1% of the records change (v1 and hybrid records: last_modified)
    record["_last_modified" if "_last_modified" in record else "last_modified"] = "2030-01-01T00:00:00.000Z"
    record["location"] = record["location"] + "-moved"
incremental = update_all_tables(source=source, root={root!r}, progress=False)
print(json.dumps({{"seconds": full.seconds, "records": full.records_read, "requests": full_requests,
                  "incremental_seconds": incremental.seconds, "incremental_records": incremental.records_read,
                  "incremental_requests": len(adapter.requests) - full_requests,
                  "incremental_written": len(incremental.tables_written),
                  "incremental_partitions": incremental.partitions_written}}))
"""


# -- reads ----------------------------------------------------------------------------------------------

ONE_LINERS: list[tuple[str, str, str]] = [
    # (label, one-liner call, object it reads)
    ("unique_project_names()", "bdc.unique_project_names()", "unique_project_names-*.pqt"),
    ("unique_subject_ids()", "bdc.unique_subject_ids()", "unique_subject_ids-*.pqt"),
    ("asset_basics()", "bdc.asset_basics()", "asset_basics-*.pqt"),
    ("source_data()", "bdc.source_data()", "source_data-*.pqt"),
    ("qc_status()", "bdc.qc_status()", "qc_status-*.pqt"),
    ("metadata_core()", "bdc.metadata_core()", "metadata_core-*.pqt"),
    ("time_to_qc()", "bdc.time_to_qc()", "time_to_qc-*.pqt"),
    ("qc(subject_id)", "bdc.qc(SUBJECT)", "qc/subject_id=SUBJECT/*.pqt"),
    # The index (qc_raw_assets) names the partition, then that one file is read, filtered.
    ("qc(raw_asset_name)", "bdc.qc(raw_asset_name=RAW)", "qc/subject_id=SUBJECT/*.pqt"),
]


def read_benchmarks(root: str, storage_options: dict, repeat: int, server: MotoServer | None) -> list[dict]:
    import fsspec.core
    import pyarrow.parquet as pq

    import biodata_cache as bdc

    os.environ["BIODATA_CACHE_ROOT"] = root
    if storage_options:
        os.environ["BIODATA_CACHE_BACKEND"] = "S3"
    counts = bdc.qc(columns=["subject_id"])["subject_id"].value_counts()
    subject = str(counts.index[len(counts) // 2])  # a typical subject, not the biggest
    index = bdc.read_table("qc_raw_assets", filters=[("subject_id", "==", subject)])
    raw = index.column("raw_asset_name")[0].as_py()  # one of its raw assets
    fs, base = fsspec.core.url_to_fs(root, **storage_options)
    results = []
    for label, call, relative in ONE_LINERS:
        relative = relative.replace("SUBJECT", subject)
        (path,) = fs.glob(f"{base}/bdc-v0.1/{relative}")  # file names carry the build id

        def one_liner(call: str = call) -> Any:
            return eval(call, {"bdc": bdc, "SUBJECT": subject, "RAW": raw})

        def floor(path: str = path, list_table: bool = label.startswith("unique")) -> Any:
            table = pq.read_table(path, filesystem=fs)
            return table.column(0).to_pylist() if list_table else table.to_pandas()

        requests = None
        if server is not None:
            one_liner()
            before = server.requests()
            one_liner()
            requests = server.requests() - before
            floor()
            before = server.requests()
            floor()
            floor_requests = server.requests() - before
        mine = median_time(one_liner, repeat)
        base_time = median_time(floor, repeat)
        results.append(
            {
                "call": label,
                "seconds": mine,
                "floor": base_time,
                "ratio": mine / base_time,
                "requests": requests,
                "floor_requests": floor_requests if server is not None else None,
            }
        )
    os.environ.pop("BIODATA_CACHE_ROOT", None)
    os.environ.pop("BIODATA_CACHE_BACKEND", None)
    return results


def replicated_store(source: Path, target: Path, assets: int) -> Path:
    """A store whose per-asset tables are ``source``'s repeated up to ``assets`` rows, with new ids and names.

    Read benchmarks at sizes too large to build here: the tables have the real schema and value mix, the
    copies differ only by a ``~k`` suffix on ids and names. The qc table keeps 200 partitions (reading one
    partition does not depend on the table's size).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if (target / "catalog.yaml").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("qc", "_build"))
    folder = target / "bdc-v0.1"
    (folder / "qc").mkdir()
    for partition in sorted((source / "bdc-v0.1" / "qc").iterdir())[:200]:
        shutil.copytree(partition, folder / "qc" / partition.name)
    for manifest in (folder / "_manifests").glob("qc-*.json"):  # the manifest names the kept partitions
        document = json.loads(manifest.read_text())
        kept = {p.name for p in (folder / "qc").iterdir()}
        document["files"] = {k: v for k, v in document["files"].items() if k in kept}
        manifest.write_text(json.dumps(document))
    (basics,) = (source / "bdc-v0.1").glob("asset_basics-*.pqt")
    base_rows = pq.read_metadata(basics).num_rows
    factor = max(1, assets // base_rows)
    for path in folder.glob("*.pqt"):
        if path.name.startswith("unique_"):
            continue
        table = pq.read_table(path)
        copies = [table]
        for k in range(1, factor):
            copy = table
            for column in ("_id", "name", "asset_name"):
                if column in copy.column_names:
                    index = copy.schema.get_field_index(column)
                    copy = copy.set_column(
                        index, column, pc.binary_join_element_wise(copy[column], pa.scalar(f"~{k}"), "")
                    )
            copies.append(copy)
        pq.write_table(pa.concat_tables(copies), path, compression="zstd")
    return target


def publish_partitions(root: str, count: int, storage_options: dict) -> str:
    """A store whose qc table has ``count`` partitions of 20 rows each; returns one subject id."""
    import pyarrow as pa

    from biodata_cache.publish import publish_registry, table_entry
    from biodata_cache.store import Store
    from biodata_cache.tables import TABLES_BY_NAME

    store = Store(root, storage_options)
    table = TABLES_BY_NAME["qc"]
    schema = table.arrow_schema(include_partition_key=False)
    rows = pa.Table.from_pylist(
        [
            {"asset_name": f"asset_{i % 3}", "name": f"metric {i}", "status": "Pass", "value": str(i)}
            for i in range(20)
        ],
        schema=schema,
    )
    from concurrent.futures import ThreadPoolExecutor

    from biodata_cache.partitions import folder_name
    from biodata_cache.publish import write_manifest
    from biodata_cache.release import new_build_id, partition_file, with_build

    build = new_build_id()
    rows = with_build(rows, build)

    def write(i: int) -> tuple[str, dict]:
        path = partition_file(table, str(600000 + i), build)
        size = store.write_parquet(f"bdc-v0.1/{path}", rows)
        return folder_name("subject_id", str(600000 + i)), {
            "path": path,
            "size": size,
            "rows": 20,
            "build": build,
        }

    with ThreadPoolExecutor(16) as pool:
        files = dict(pool.map(write, range(count)))
    manifest = write_manifest(store, "bdc-v0.1", table, build, files)
    entry = table_entry(
        store,
        "bdc-v0.1",
        table,
        rows=20 * count,
        partitions=count,
        source="benchmark",
        build=build,
        manifest=manifest,
    )
    publish_registry(store, "bdc-v0.1", [entry], source="benchmark")
    return str(600000 + count // 2)


def replicated_reads(
    size: int, assets: int, repeat: int, server: MotoServer, results: dict[str, Any]
) -> None:
    """Read benchmarks on a store replicated from the ``size`` store to ``assets`` assets (local and S3)."""
    import s3fs

    local = replicated_store(WORK / f"store-{size}", WORK / f"store-replicated-{assets}", assets)
    label = f"{assets:,} assets (replicated from {size:,})"
    results["reads"][f"local store, {label}"] = read_benchmarks(str(local), {}, repeat, None)
    options = {"endpoint_url": server.endpoint, "key": "bench", "secret": "bench"}
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem(**options)
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    fs.put(str(local) + "/", f"s3://{BUCKET}/replicated-{assets}/", recursive=True)
    results["reads"][f"moto S3, {label}"] = read_benchmarks(
        f"s3://{BUCKET}/replicated-{assets}", options, repeat, server
    )
    for key in (f"local store, {label}", f"moto S3, {label}"):
        for r in results["reads"][key]:
            print(
                f"  {key:<40} {r['call']:<24} {r['seconds'] * 1000:8.1f} ms  floor {r['floor'] * 1000:8.1f} ms  x{r['ratio']:.2f}"
            )


def partition_benchmarks(counts: list[int], repeat: int, server: MotoServer) -> list[dict]:
    import s3fs

    import biodata_cache as bdc

    results = []
    for count in counts:
        for kind in ("local", "s3"):
            if kind == "local":
                root, options = str(WORK / f"partitions-{count}"), {}
                if not (WORK / f"partitions-{count}" / "catalog.yaml").exists():
                    subject = publish_partitions(root, count, options)
                subject = str(600000 + count // 2)
            else:
                root = f"s3://{BUCKET}/partitions-{count}"
                options = {"endpoint_url": server.endpoint, "key": "bench", "secret": "bench"}
                s3fs.S3FileSystem.clear_instance_cache()
                subject = publish_partitions(root, count, options)
            os.environ["BIODATA_CACHE_ROOT"] = root
            os.environ["BIODATA_CACHE_BACKEND"] = "S3"
            requests = None
            if kind == "s3":
                bdc.qc(subject, storage_options=options)
                before = server.requests()
                bdc.qc(subject, storage_options=options)
                requests = server.requests() - before
            seconds = median_time(lambda s=subject, o=options: bdc.qc(s, storage_options=o or None), repeat)
            results.append({"partitions": count, "store": kind, "seconds": seconds, "requests": requests})
            print(
                f"  qc(subject) with {count:>6,} partitions on {kind:<5}: {seconds * 1000:7.1f} ms"
                + (f", {requests} requests" if requests is not None else "")
            )
    os.environ.pop("BIODATA_CACHE_ROOT", None)
    os.environ.pop("BIODATA_CACHE_BACKEND", None)
    return results


# -- report -----------------------------------------------------------------------------------------------


def plot(reads: dict[str, list[dict]], partitions: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    label, rows = max(reads.items(), key=lambda item: item[0])
    names = [r["call"] for r in rows]
    positions = range(len(names))
    left.barh([p + 0.2 for p in positions], [r["floor"] * 1000 for r in rows], 0.4, label="pyarrow floor")
    left.barh([p - 0.2 for p in positions], [r["seconds"] * 1000 for r in rows], 0.4, label="one-liner")
    left.set_yticks(list(positions), names)
    left.set_xlabel("milliseconds (median)")
    left.set_title(f"One-liner vs floor: {label}")
    left.legend()
    for kind in ("local", "s3"):
        points = [r for r in partitions if r["store"] == kind]
        right.plot(
            [r["partitions"] for r in points], [r["seconds"] * 1000 for r in points], marker="o", label=kind
        )
    right.set_xscale("log")
    right.set_xlabel("partitions in the qc table")
    right.set_ylabel("qc(subject_id) milliseconds (median)")
    right.set_title("One subject's QC as the table grows")
    right.set_ylim(bottom=0)
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def report(results: dict[str, Any], path: Path) -> None:
    lines = [
        "# Performance",
        "",
        "<!-- written by `make bench` (tests/benchmarks/run.py); numbers from the run described below -->",
        "",
        f"Machine: {results['machine']}.",
        "",
        f"Medians over {results['repeat']} runs after one warm-up. The floor is pyarrow reading the same",
        "parquet object through the same filesystem in the same process (`pq.read_table(...).to_pandas()`).",
        "Requests are HTTP requests counted in the moto server's access log for one call.",
        "",
        "![benchmarks](performance.png)",
        "",
        "## Reads: one-liners against the floor",
        "",
    ]
    for label, rows in results["reads"].items():
        lines += [
            f"### {label}",
            "",
            "| call | one-liner ms | floor ms | ratio | requests (floor) |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for r in rows:
            requests = "" if r["requests"] is None else f"{r['requests']} ({r['floor_requests']})"
            lines.append(
                f"| `{r['call']}` | {r['seconds'] * 1000:.1f} | {r['floor'] * 1000:.1f} | {r['ratio']:.2f} | {requests} |"
            )
        lines.append("")
    lines += [
        "## qc(subject_id) as partitions grow",
        "",
        "| partitions | store | ms | requests |",
        "| ---: | --- | ---: | ---: |",
    ]
    for r in results["partitions"]:
        lines.append(
            f"| {r['partitions']:,} | {r['store']} | {r['seconds'] * 1000:.1f} | {'' if r['requests'] is None else r['requests']} |"
        )
    lines += [
        "",
        "## Builds",
        "",
        "| build | records | seconds | records/s | peak RSS MB | written |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results["builds"]:
        written = r.get("written", "")
        lines.append(
            f"| {r['label']} | {r['records']:,} | {r['seconds']:.1f} | {r['records'] / max(r['seconds'], 1e-9):,.0f} | "
            f"{r.get('rss_mb', '')} | {written} |"
        )
    lines += [
        "",
        "Full-build phases (seconds): "
        + "; ".join(
            f"{r['label']}: " + ", ".join(f"{k} {v:.1f}" for k, v in r["phases"].items())
            for r in results["builds"]
            if r.get("phases")
        ),
    ]
    lines += ["", "## Targets", "", "| target | measured | met |", "| --- | --- | --- |", *targets(results)]
    lines += [
        "",
        "## Import and a one-liner process",
        "",
        f"- `import biodata_cache`: {results['import_ms']:.0f} ms (median of fresh processes, minus a bare "
        f"`python -c pass`); no S3 client, pandas, pyarrow or intake is imported.",
        f"- Peak RSS of a process running `asset_basics()` on the largest local store: {results['one_liner_rss_mb']} MB.",
        "",
        "## Notes",
        "",
        *results.get("notes", []),
        "",
    ]
    path.write_text("\n".join(lines))


NOTES = (
    "- The corpus is `builders/synthetic_corpus.py --seed 1`: synthetic records in the three DocDB shapes "
    "(v2 65%, v1 25%, hybrid 10%: `biodata_cache.synthetic.DEFAULT_SHAPES`), a tenth with bulky components.",
    "- Ratios below 1 mean the one-liner beat the floor: it fetches each object whole in one GET and parses "
    "it in memory, while `pq.read_table` through fsspec makes ranged reads (footer, then column chunks).",
    "- A one-liner has a fixed cost of about 0.5-2 ms on a local store (resolve the configuration, GET the "
    "catalog and look up its parsed form, build the source). It only shows on sub-millisecond reads "
    "(`unique_*`, one small qc partition), where a ratio above the target is a millisecond or two.",
    "- An incremental build from a JSONL file must read and parse the whole file to learn which records "
    "changed (a file has no index), so it costs a large share of a full build. From DocDB the change scan is "
    "a projected query of ids and times, and only changed records are fetched: that is the nightly case.",
    "- The DocDB build's peak RSS includes the fake API holding every record in memory.",
    "- 1M records: `python tests/benchmarks/run.py --sizes 1000000` (about 20 minutes for the build on 2 "
    "cores, plus about 30 to generate the corpus).",
    "- The machine is a shared VM: a fixed CPU-bound loop varied by about 30% between consecutive runs, so "
    "differences under ~20% are noise.",
)


def targets(results: dict[str, Any]) -> list[str]:
    """Rows of the targets table: each target, what this run measured, and whether it was met."""
    rows = []
    for label, reads in results["reads"].items():
        whole = [r for r in reads if not r["call"].startswith("qc(")]
        worst = max(whole, key=lambda r: r["ratio"])
        qc = next(r for r in reads if r["call"] == "qc(subject_id)")
        rows.append(
            f"| whole tables within 1.3x of the floor ({label}) | worst `{worst['call']}` x{worst['ratio']:.2f} "
            f"({(worst['seconds'] - worst['floor']) * 1000:+.1f} ms) | {'yes' if worst['ratio'] <= 1.3 else 'no'} |"
        )
        rows.append(
            f"| one qc partition within 1.5x ({label}) | x{qc['ratio']:.2f} | {'yes' if qc['ratio'] <= 1.5 else 'no'} |"
        )
    counts = sorted({r["requests"] for r in results["partitions"] if r["requests"] is not None})
    rows.append(
        f"| qc(subject_id) requests constant in partitions | {counts} | {'yes' if len(counts) == 1 else 'no'} |"
    )
    rows.append(
        f"| import under 0.3 s | {results['import_ms']:.0f} ms | {'yes' if results['import_ms'] < 300 else 'no'} |"
    )
    for build in results["builds"]:
        if build["label"].startswith("full, JSONL, 100,000") and "before" not in build["label"]:
            ok = build["seconds"] < 120 and build.get("rss_mb", 0) < 1024
            rows.append(
                f"| full build of 100k records under 2 min, peak RSS under 1 GB | {build['seconds']:.0f} s, "
                f"{build.get('rss_mb')} MB | {'yes' if ok else 'no'} |"
            )

    def key(label: str) -> tuple[str, str]:
        return ("DocDB" if "DocDB" in label else "JSONL", re.findall(r"\d{1,3}(?:,\d{3})+|\d+", label)[-1])

    fulls = {
        key(b["label"]): b
        for b in results["builds"]
        if b["label"].startswith("full") and "before" not in b["label"]
    }
    for build in results["builds"]:
        if (
            build["label"].startswith("incremental")
            and "before" not in build["label"]
            and key(build["label"]) in fulls
        ):
            share = build["seconds"] / fulls[key(build["label"])]["seconds"]
            rows.append(
                f"| incremental (1% changed) under 10% of a full build ({', '.join(key(build['label']))}) | "
                f"{share:.0%} | {'yes' if share < 0.1 else 'no'} |"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--partitions", default="100,1000,10000")
    parser.add_argument("--docdb-size", type=int, default=10000)
    parser.add_argument(
        "--replicated",
        type=int,
        default=1000000,
        help="read benchmarks on the largest store repeated to this many assets (0: skip)",
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPOSITORY / "docs" / "performance.md")
    arguments = parser.parse_args()
    sizes = [int(s) for s in arguments.sizes.split(",") if s]
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",  # guard: nothing may reach real AWS
    )
    results: dict[str, Any] = {
        "machine": machine(),
        "repeat": arguments.repeat,
        "reads": {},
        "builds": [],
        "notes": list(NOTES),
    }
    print(results["machine"])

    print("builds")
    for size in sizes:
        source = corpus(size)
        root = WORK / f"store-{size}"
        shutil.rmtree(root, ignore_errors=True)
        full = build(str(source), root, full=True)
        results["builds"].append(
            {
                "label": f"full, JSONL, {size:,}",
                "records": full["records"],
                "seconds": full["seconds"],
                "rss_mb": full["rss_mb"],
                "written": f"{len(full['tables'])} tables, {full['partitions']:,} partitions",
            }
        )
        print(f"  full build {size:,}: {full['seconds']:.1f} s, {full['rss_mb']} MB, phases {full['phases']}")
        backup = source.with_name(source.name + ".orig")
        shutil.copy(source, backup)
        change_one_percent(source)
        incremental = build(str(source), root, full=False)
        os.replace(backup, source)
        results["builds"].append(
            {
                "label": f"incremental (1% changed), JSONL, {size:,}",
                "records": incremental["records"],
                "seconds": incremental["seconds"],
                "rss_mb": incremental["rss_mb"],
                "written": f"{len(incremental['tables'])} tables, {incremental['partitions']:,} partitions",
            }
        )
        print(
            f"  incremental {size:,} (1% changed): {incremental['seconds']:.1f} s "
            f"({incremental['seconds'] / full['seconds']:.0%} of full)"
        )
        # Restore the store to the unchanged corpus for the read benchmarks.
        build(str(source), root, full=True)
    if arguments.docdb_size:
        source = corpus(arguments.docdb_size)
        root = WORK / f"store-docdb-{arguments.docdb_size}"
        shutil.rmtree(root, ignore_errors=True)
        _wall, rss, out = run_measured(
            DOCDB_BUILD.format(tests=str(REPOSITORY / "tests"), corpus=str(source), root=str(root))
        )
        docdb = json.loads(out.strip().splitlines()[-1])
        results["builds"].append(
            {
                "label": f"full, DocDB (real client, in-memory transport), {arguments.docdb_size:,}",
                "records": docdb["records"],
                "seconds": docdb["seconds"],
                "rss_mb": rss,
                "written": f"{docdb['requests']} API requests",
            }
        )
        results["builds"].append(
            {
                "label": f"incremental (1% changed), DocDB, {arguments.docdb_size:,}",
                "records": docdb["incremental_records"],
                "seconds": docdb["incremental_seconds"],
                "written": f"{docdb['incremental_written']} tables, {docdb['incremental_partitions']} partitions, "
                f"{docdb['incremental_requests']} API requests",
            }
        )
        print(
            f"  DocDB build {arguments.docdb_size:,}: {docdb['seconds']:.1f} s, {docdb['requests']} requests; "
            f"incremental {docdb['incremental_seconds']:.1f} s, {docdb['incremental_requests']} requests"
        )

    server = MotoServer()
    os.environ["AWS_ENDPOINT_URL"] = server.endpoint  # every S3 call goes to the local moto server
    try:
        import s3fs

        print("reads")
        for size in sizes:
            local = WORK / f"store-{size}"
            results["reads"][f"local store, {size:,} assets"] = read_benchmarks(
                str(local), {}, arguments.repeat, None
            )
            s3_root = f"s3://{BUCKET}/store-{size}"
            options = {"endpoint_url": server.endpoint, "key": "bench", "secret": "bench"}
            s3fs.S3FileSystem.clear_instance_cache()
            fs = s3fs.S3FileSystem(**options)
            if not fs.exists(BUCKET):
                fs.mkdir(BUCKET)
            fs.put(str(local) + "/", s3_root + "/", recursive=True)
            results["reads"][f"moto S3, {size:,} assets"] = read_benchmarks(
                s3_root, options, arguments.repeat, server
            )
            for label in (f"local store, {size:,} assets", f"moto S3, {size:,} assets"):
                for r in results["reads"][label]:
                    print(
                        f"  {label:<26} {r['call']:<24} {r['seconds'] * 1000:8.1f} ms  floor {r['floor'] * 1000:8.1f} ms"
                        f"  x{r['ratio']:.2f}"
                        + (
                            f"  {r['requests']} req (floor {r['floor_requests']})"
                            if r["requests"] is not None
                            else ""
                        )
                    )
        if arguments.replicated:
            replicated_reads(max(sizes), arguments.replicated, arguments.repeat, server, results)
        print("qc partitions")
        results["partitions"] = partition_benchmarks(
            [int(c) for c in arguments.partitions.split(",")], arguments.repeat, server
        )
    finally:
        server.stop()

    bare = statistics.median(run_measured("pass")[0] for _ in range(7))
    imported = statistics.median(run_measured("import biodata_cache")[0] for _ in range(7))
    results["import_ms"] = (imported - bare) * 1000
    largest = WORK / f"store-{max(sizes)}"
    _, results["one_liner_rss_mb"], _ = run_measured(
        "import biodata_cache as bdc; bdc.asset_basics()", {"BIODATA_CACHE_ROOT": str(largest)}
    )
    print(
        f"import {results['import_ms']:.0f} ms; one-liner process peak RSS {results['one_liner_rss_mb']} MB"
    )
    (WORK / "results.json").write_text(json.dumps(results, indent=1, default=str))
    plot(results["reads"], results["partitions"], arguments.out.with_suffix(".png"))
    report(results, arguments.out)
    print("wrote", arguments.out, "and", arguments.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
