"""Benchmarks of issue 12: print numbers and write docs/performance.md (with a PNG plot). Never asserts timings.

    python tests/benchmarks/run.py [--sizes 10000,100000] [--replicated 1000000] [--repeat 5] [--quick]

One run measures, with medians over repeated runs and the load average noted per section:

1. filtered reads (``asset_basics(subject_id=)``, ``(project_name=)``, ``(name=)``, ``raw_to_derived``) at
   each size and on a store replicated to 1M assets: requests and response bytes per warm call, counted by
   a pass-through proxy in front of a moto S3 server on 127.0.0.1 (:mod:`counting_proxy`), against the
   bytes of the rows returned and the asset_basics file;
2. per-call fixed cost: every one-liner's warm requests against the data GETs it needs (and its time
   against the floor, pyarrow reading the same object through the same filesystem), local and on S3;
   ``get_cache_versions()`` and ``get_cache_registry()``;
3. the first call in a fresh process (anonymous S3 read, and local) against a fresh
   ``import pyarrow.parquet, pandas`` plus one GET of the same object;
4. ``custom(name, df)`` on S3: requests and time;
5. builds: full build seconds, records/s and peak RSS of the whole process tree at each size, and a JSONL
   incremental build with 1% of records changed (from DocDB too); ``qc(subject_id)`` as partitions grow;
   ``import biodata_cache`` time.

Corpora and stores are kept in ``build/bench/`` between runs (delete it to start over). On a busy machine the
builds and the reads can run apart and be combined into one report::

    python tests/benchmarks/run.py --builds-only --json build/bench/builds.json
    python tests/benchmarks/run.py --skip-builds --json build/bench/reads.json
    python tests/benchmarks/run.py --merge build/bench/reads.json build/bench/builds.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from counting_proxy import CountingProxy  # noqa: E402
from replicate import replicated_store  # noqa: E402

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


def _tree_rss_bytes(pid: int) -> int:
    """The resident memory of a process and all its descendants (from /proc), in bytes."""
    total, pending, page = 0, [pid], os.sysconf("SC_PAGE_SIZE")
    while pending:
        current = pending.pop()
        try:
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * page
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def run_tree(code: str, environment: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run Python code in a fresh process: (wall seconds, peak RSS of its whole process tree in MB (sampled
    every 50 ms, worker processes included), stdout)."""
    import threading

    peak = 0
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-c", code], stdout=out, stderr=err, env={**os.environ, **(environment or {})}
        )
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.05):
                peak = max(peak, _tree_rss_bytes(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        returncode = process.wait()
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if returncode:
        raise RuntimeError(f"benchmark process failed:\n{stderr[-3000:]}")
    return elapsed, peak // (1024 * 1024), stdout


def note_load(results: dict[str, Any], section: str) -> None:
    """Record (and print) the machine's load average as a section starts: the machine is shared."""
    load = os.getloadavg()
    results["load"].append({"section": section, "load": [round(x, 2) for x in load]})
    print(f"[{section}] load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


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


#: A build with the workers a user gets from `biodata-cache build` and the nightly job (default_workers()).
#: Storage is not listed (list_storage=False, as in the DocDB build): the corpus's locations are on S3,
#: which this machine cannot reach, and waiting on unreachable endpoints (about 10 s a build) is not the
#: build's work. A nightly job's listing is network time on top of these numbers.
BUILD = """
import json, sys
from biodata_cache.sync import default_workers, update_all_tables
workers = default_workers()
report = update_all_tables(source={source!r}, root={root!r}, full={full}, progress=False, workers=workers,
                           list_storage=False)
print(json.dumps({{"seconds": report.seconds, "records": report.records_read, "workers": workers,
                  "tables": report.tables_written, "partitions": report.partitions_written,
                  "rows": report.rows, "phases": report.phases}}))
"""


def build(source: str, root: Path, *, full: bool) -> dict[str, Any]:
    wall, rss, out = run_tree(BUILD.format(source=source, root=str(root), full=full))
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
import gzip, json, os, sys, time
os.environ["BIODATA_CACHE_OPEN_DATA_ROOT"] = "none"  # no bucket listing: the build, not S3, is measured
sys.path.insert(0, {tests!r})
from docdb_fake import FakeDocDB, session_for
from biodata_cache.sources import DocDBSource
from biodata_cache.sync import update_all_tables
records = [json.loads(line) for line in gzip.open({corpus!r}, "rt")]
adapter = FakeDocDB(records, page_cap=500)
source = DocDBSource("docdb.example", session=session_for(adapter), batch_size=500)
full = update_all_tables(source=source, root={root!r}, full=True, progress=False, list_storage=False)
full_requests = len(adapter.requests)
for record in records[::100]:  # 1% of the records change (v1 and hybrid records: last_modified)
    record["_last_modified" if "_last_modified" in record else "last_modified"] = "2030-01-01T00:00:00.000Z"
    record["location"] = record["location"] + "-moved"
incremental = update_all_tables(source=source, root={root!r}, progress=False, list_storage=False)
print(json.dumps({{"seconds": full.seconds, "records": full.records_read, "requests": full_requests,
                  "incremental_seconds": incremental.seconds, "incremental_records": incremental.records_read,
                  "incremental_requests": len(adapter.requests) - full_requests,
                  "incremental_written": len(incremental.tables_written),
                  "incremental_partitions": incremental.partitions_written}}))
"""


# -- reads ----------------------------------------------------------------------------------------------

ONE_LINERS: list[tuple[str, str, str, int]] = [
    # (label, one-liner call, object it reads, data GETs the answer needs)
    ("unique_project_names()", "bdc.unique_project_names()", "unique_project_names-*.pqt", 1),
    ("unique_subject_ids()", "bdc.unique_subject_ids()", "unique_subject_ids-*.pqt", 1),
    ("asset_basics()", "bdc.asset_basics()", "asset_basics-*.pqt", 1),
    ("source_data()", "bdc.source_data()", "source_data-*.pqt", 1),
    ("qc_status()", "bdc.qc_status()", "qc_status-*.pqt", 1),
    ("metadata_core()", "bdc.metadata_core()", "metadata_core-*.pqt", 1),
    ("time_to_qc()", "bdc.time_to_qc()", "time_to_qc-*.pqt", 1),
    ("qc(subject_id)", "bdc.qc(SUBJECT)", "qc/subject_id=SUBJECT/*.pqt", 1),
    # The index (qc_raw_assets) names the partition, then that one file is read, filtered.
    ("qc(raw_asset_name)", "bdc.qc(raw_asset_name=RAW)", "qc/subject_id=SUBJECT/*.pqt", 2),
]

# Filtered reads (issue 12 item 1): (label, call); VALUES are chosen per store by filter_values().
FILTERED: list[tuple[str, str]] = [
    ("asset_basics(subject_id=)", "bdc.asset_basics(subject_id=VALUES['subject'])"),
    ("asset_basics(project_name=)", "bdc.asset_basics(project_name=VALUES['project'])"),
    ("asset_basics(name=)", "bdc.asset_basics(name=VALUES['name'])"),
    ("raw_to_derived(name)", "bdc.raw_to_derived(VALUES['name'])"),
]

# Calls that read the store's registry files (issue 12 item 2): (label, call, data GETs needed).
REGISTRY_CALLS: list[tuple[str, str, int]] = [
    ("get_cache_versions()", "bdc.get_cache_versions()", 1),
    ("get_cache_registry()", "bdc.get_cache_registry()", 1),
]


def s3_options(proxy: CountingProxy) -> dict[str, str]:
    """fsspec options of the moto store, through the counting proxy."""
    return {"endpoint_url": proxy.url, "key": "bench", "secret": "bench"}


def counted(function: Callable[[], Any], proxy: CountingProxy) -> tuple[int, int]:
    """Requests and response body bytes of one warm call (after one warm-up call)."""
    function()
    mark = proxy.mark()
    function()
    exchanges = proxy.since(mark)
    return len(exchanges), sum(e.body_bytes for e in exchanges)


def use_store(root: str) -> None:
    os.environ["BIODATA_CACHE_ROOT"] = root
    if root.startswith("s3://"):
        os.environ["BIODATA_CACHE_BACKEND"] = "S3"
    else:
        os.environ.pop("BIODATA_CACHE_BACKEND", None)


def leave_store() -> None:
    os.environ.pop("BIODATA_CACHE_ROOT", None)
    os.environ.pop("BIODATA_CACHE_BACKEND", None)


def filter_values() -> dict[str, str]:
    """Typical filter values of the current store: a subject, a project (median number of assets) and a
    raw asset with a typical number of derived assets."""
    import biodata_cache as bdc

    basics = bdc.asset_basics(columns=["name", "subject_id", "project_name"])
    subjects = basics["subject_id"].value_counts()
    projects = basics["project_name"].value_counts()
    sources = bdc.source_data()["source_data"].dropna()
    sources = sources[sources.isin(set(basics["name"]))].value_counts()
    return {
        "subject": str(subjects.index[len(subjects) // 2]),
        "project": str(projects.index[len(projects) // 2]),
        "name": str(sources.index[len(sources) // 2]),
    }


def read_benchmarks(root: str, storage_options: dict, repeat: int, proxy: CountingProxy | None) -> list[dict]:
    """Every one-liner against its floor on one store; requests and bytes counted when ``proxy`` is given."""
    import fsspec.core
    import pyarrow.parquet as pq

    import biodata_cache as bdc

    use_store(root)
    counts = bdc.qc(columns=["subject_id"])["subject_id"].value_counts()
    subject = str(counts.index[len(counts) // 2])  # a typical subject, not the biggest
    index = bdc.read_table("qc_raw_assets", filters=[("subject_id", "==", subject)])
    raw = index.column("raw_asset_name")[0].as_py()  # one of its raw assets
    fs, base = fsspec.core.url_to_fs(root, **storage_options)
    results = []
    for label, call, relative, needed in ONE_LINERS:
        relative = relative.replace("SUBJECT", subject)
        (path,) = fs.glob(f"{base}/bdc-v0.1/{relative}")  # file names carry the build id

        def one_liner(call: str = call) -> Any:
            return eval(call, {"bdc": bdc, "SUBJECT": subject, "RAW": raw})

        def floor(path: str = path, list_table: bool = label.startswith("unique")) -> Any:
            table = pq.read_table(path, filesystem=fs)
            return table.column(0).to_pylist() if list_table else table.to_pandas()

        row: dict[str, Any] = {"call": label, "needed": needed}
        if proxy is not None:
            row["requests"], row["bytes"] = counted(one_liner, proxy)
            row["floor_requests"], row["floor_bytes"] = counted(floor, proxy)
        else:
            row.update(requests=None, bytes=None, floor_requests=None, floor_bytes=None)
        row["seconds"] = median_time(one_liner, repeat)
        row["floor"] = median_time(floor, repeat)
        row["ratio"] = row["seconds"] / row["floor"]
        results.append(row)
    leave_store()
    return results


def registry_benchmarks(root: str, repeat: int, proxy: CountingProxy) -> list[dict]:
    """get_cache_versions() / get_cache_registry(): warm requests, bytes and time on one S3 store."""
    import biodata_cache as bdc

    use_store(root)
    results = []
    for label, call, needed in REGISTRY_CALLS:

        def function(call: str = call) -> Any:
            return eval(call, {"bdc": bdc})

        requests, size = counted(function, proxy)
        results.append(
            {
                "call": label,
                "needed": needed,
                "requests": requests,
                "bytes": size,
                "seconds": median_time(function, repeat),
            }
        )
    leave_store()
    return results


def filtered_benchmarks(
    root: str, storage_options: dict, repeat: int, proxy: CountingProxy | None
) -> list[dict]:
    """Filtered reads on one store: rows returned, requests and bytes the server sent per warm call, the
    share of the asset_basics file's bytes, and the floor (the compressed bytes of the rows returned)."""
    import fsspec.core
    import pyarrow.parquet as pq

    import biodata_cache as bdc

    use_store(root)
    values = filter_values()
    fs, base = fsspec.core.url_to_fs(root, **storage_options)
    files = {}
    for table in ("asset_basics", "source_data"):
        (path,) = fs.glob(f"{base}/bdc-v0.1/{table}-*.pqt")
        files[table] = (fs.size(path), pq.read_metadata(path, filesystem=fs).num_rows)
    per_row = {table: size / max(rows, 1) for table, (size, rows) in files.items()}
    results = []
    for label, call in FILTERED:

        def function(call: str = call) -> Any:
            return eval(call, {"bdc": bdc, "VALUES": values})

        answer = function()
        rows = len(answer)
        if label.startswith("raw_to_derived"):
            floor_bytes = rows * (per_row["source_data"] + per_row["asset_basics"])
        else:
            floor_bytes = rows * per_row["asset_basics"]
        row: dict[str, Any] = {
            "call": label,
            "value": values["subject" if "subject" in label else "project" if "project" in label else "name"],
            "rows": rows,
            "file_bytes": files["asset_basics"][0],
            "file_rows": files["asset_basics"][1],
            "floor_bytes": floor_bytes,
            "requests": None,
            "bytes": None,
        }
        if proxy is not None:
            row["requests"], row["bytes"] = counted(function, proxy)
            row["share"] = row["bytes"] / row["file_bytes"]
            row["bytes_ratio"] = row["bytes"] / max(floor_bytes, 1)
        row["seconds"] = median_time(function, repeat)
        results.append(row)
    leave_store()
    return results


def upload(local: Path, s3_root: str, server: MotoServer) -> None:
    """Copy a local store to the moto server (directly, not through the counting proxy)."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem(endpoint_url=server.endpoint, key="bench", secret="bench")
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    fs.rm(s3_root, recursive=True) if fs.exists(s3_root) else None
    fs.put(str(local) + "/", s3_root + "/", recursive=True)
    s3fs.S3FileSystem.clear_instance_cache()


def store_benchmarks(
    label: str,
    local: Path,
    s3_root: str,
    repeat: int,
    server: MotoServer,
    proxy: CountingProxy,
    results: dict,
) -> None:
    """Reads, filtered reads and registry calls on one store, local and on moto S3."""
    note_load(results, f"reads {label}")
    upload(local, s3_root, server)
    options = s3_options(proxy)
    for kind, root, opts, counter in (
        ("local store", str(local), {}, None),
        ("moto S3", s3_root, options, proxy),
    ):
        key = f"{kind}, {label}"
        results["reads"][key] = read_benchmarks(root, opts, repeat, counter)
        results["filtered"][key] = filtered_benchmarks(root, opts, repeat, counter)
        for r in results["reads"][key]:
            print(
                f"  {key:<44} {r['call']:<28} {r['seconds'] * 1000:8.1f} ms  floor {r['floor'] * 1000:8.1f} ms"
                f"  x{r['ratio']:.2f}"
                + (
                    f"  {r['requests']} req (floor {r['floor_requests']}, needs {r['needed']})"
                    if counter
                    else ""
                )
            )
        for r in results["filtered"][key]:
            print(
                f"  {key:<44} {r['call']:<28} {r['seconds'] * 1000:8.1f} ms  {r['rows']:,} rows"
                + (
                    f"  {r['requests']} req  {r['bytes']:,} B ({r['share']:.1%} of the file; floor "
                    f"{r['floor_bytes']:,.0f} B)"
                    if counter
                    else ""
                )
            )
    results["registry"][f"moto S3, {label}"] = registry_benchmarks(s3_root, repeat, proxy)
    for r in results["registry"][f"moto S3, {label}"]:
        print(f"  moto S3, {label:<35} {r['call']:<28} {r['seconds'] * 1000:8.1f} ms  {r['requests']} req")


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


def partition_benchmarks(counts: list[int], repeat: int, proxy: CountingProxy) -> list[dict]:
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
                options = s3_options(proxy)
                s3fs.S3FileSystem.clear_instance_cache()
                subject = publish_partitions(root, count, options)
            use_store(root)
            requests = None
            if kind == "s3":
                requests, _ = counted(lambda s=subject, o=options: bdc.qc(s, storage_options=o), proxy)
            seconds = median_time(lambda s=subject, o=options: bdc.qc(s, storage_options=o or None), repeat)
            results.append({"partitions": count, "store": kind, "seconds": seconds, "requests": requests})
            print(
                f"  qc(subject) with {count:>6,} partitions on {kind:<5}: {seconds * 1000:7.1f} ms"
                + (f", {requests} requests" if requests is not None else "")
            )
    leave_store()
    return results


# -- first call in a fresh process, custom() ------------------------------------------------------------

FIRST_CALL = "from biodata_cache import unique_project_names; unique_project_names()"
FLOOR_IMPORT = "import pyarrow.parquet, pandas"


def anonymous_environment(**extra: str) -> dict[str, str]:
    """This process's environment without AWS credentials or biodata-cache settings, plus ``extra``."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "BIODATA_CACHE_"))
        or k in ("AWS_DEFAULT_REGION", "AWS_EC2_METADATA_DISABLED")
    }
    environment.update(
        AWS_SHARED_CREDENTIALS_FILE=str(WORK / "no-credentials"),
        AWS_CONFIG_FILE=str(WORK / "no-config"),
        **extra,
    )
    return environment


def fresh_process(code: str, environment: dict[str, str]) -> float:
    """Wall seconds of ``python -c code`` in a fresh process with exactly ``environment``."""
    started = time.perf_counter()
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment)
    elapsed = time.perf_counter() - started
    if process.returncode:
        raise RuntimeError(f"benchmark process failed: {code}\n{process.stderr[-3000:]}")
    return elapsed


def make_bucket_public(server: MotoServer) -> None:
    import boto3

    client = boto3.client(
        "s3", endpoint_url=server.endpoint, aws_access_key_id="bench", aws_secret_access_key="bench"
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            }
        ],
    }
    client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))


def warm_get_seconds(url: str, repeat: int = 9) -> float:
    """Median time of one GET of ``url`` on a kept-alive connection, after a warm-up GET."""
    import http.client
    import urllib.parse

    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port)

    def get() -> bytes:
        connection.request("GET", parsed.path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url} answered {response.status}: {body[:300]!r}")
        return body

    seconds = median_time(get, repeat)
    connection.close()
    return seconds


def first_call_benchmarks(
    local: Path, s3_root: str, server: MotoServer, proxy: CountingProxy, runs: int
) -> dict:
    """``unique_project_names()`` in a fresh process (anonymous S3 read, and local) against the floor: a fresh
    ``import pyarrow.parquet, pandas`` plus one warm GET (or local read) of the same object; medians of
    ``runs`` interleaved runs."""
    import pyarrow.parquet as pq

    make_bucket_public(server)
    relative = next((local / "bdc-v0.1").glob("unique_project_names-*.pqt")).relative_to(local)
    s3_environment = anonymous_environment(BIODATA_CACHE_ROOT=s3_root, AWS_ENDPOINT_URL=proxy.url)
    local_environment = anonymous_environment(BIODATA_CACHE_ROOT=str(local))
    bare_environment = anonymous_environment()
    times: dict[str, list[float]] = {"s3": [], "local": [], "import": [], "pass": []}
    mark = proxy.mark()
    fresh_process(FIRST_CALL, s3_environment)  # warm the OS file cache
    first_requests = len(proxy.since(mark))
    for _ in range(runs):  # interleaved
        times["s3"].append(fresh_process(FIRST_CALL, s3_environment))
        times["import"].append(fresh_process(FLOOR_IMPORT, bare_environment))
        times["local"].append(fresh_process(FIRST_CALL, local_environment))
        times["pass"].append(fresh_process("pass", bare_environment))
    get = warm_get_seconds(f"{proxy.url}/{s3_root[len('s3://') :]}/{relative}")
    local_read = median_time(lambda: pq.read_table(local / relative).to_pandas(), 9)
    medians = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "runs": runs,
        "s3": medians["s3"],
        "local": medians["local"],
        "import": medians["import"],
        "python": medians["pass"],
        "get": get,
        "local_read": local_read,
        "s3_floor": medians["import"] + get,
        "local_floor": medians["import"] + local_read,
        "requests": first_requests,
    }
    result["s3_ratio"] = result["s3"] / result["s3_floor"]
    result["local_ratio"] = result["local"] / result["local_floor"]
    print(
        f"  first call on S3 {result['s3'] * 1000:.0f} ms ({first_requests} requests) vs floor "
        f"{result['s3_floor'] * 1000:.0f} ms (import {result['import'] * 1000:.0f} + GET {get * 1000:.1f}): "
        f"x{result['s3_ratio']:.2f}; local {result['local'] * 1000:.0f} ms vs {result['local_floor'] * 1000:.0f} ms:"
        f" x{result['local_ratio']:.2f}"
    )
    return result


def custom_benchmarks(
    local: Path, s3_root: str, server: MotoServer, proxy: CountingProxy, repeat: int
) -> list[dict]:
    """``custom(name, df)`` on moto S3 (a copy of a built store): a new table, and the same table written
    again unchanged; requests, bytes and median time."""
    import pandas as pd

    import biodata_cache as bdc

    upload(local, s3_root, server)
    use_store(s3_root)
    frame = pd.DataFrame({"subject_id": [str(600000 + i) for i in range(100)], "score": range(100)})
    bdc.custom("bench_warm_up", frame)
    results = []
    counter = iter(range(10**6))

    def new_table() -> Any:
        return bdc.custom(f"bench_{next(counter)}", frame)

    def same_table() -> Any:
        return bdc.custom("bench_warm_up", frame)

    def first_in_process() -> Any:
        from biodata_cache.publish import forget_committed

        forget_committed()  # as a process that has not published on this version yet
        return bdc.custom(f"bench_{next(counter)}", frame)

    def like_the_original() -> Any:
        return original_custom(f"{s3_root}/original/bench_{next(counter)}", frame)

    for label, function in (
        ("custom(new name, 100 rows)", new_table),
        ("custom(same name, unchanged)", same_table),
        (FIRST_CUSTOM, first_in_process),
        (ORIGINAL_CUSTOM, like_the_original),
    ):
        requests, size = counted(function, proxy)
        results.append(
            {"call": label, "requests": requests, "bytes": size, "seconds": median_time(function, repeat)}
        )
        print(f"  {label:<32} {results[-1]['seconds'] * 1000:7.1f} ms  {requests} requests  {size:,} B")
    # moto answers one request at a time; S3 answers each after a network round trip, in parallel.
    proxy.latency = S3_LATENCY
    try:
        for label, function in (
            (f"custom(new name, 100 rows), {S3_LATENCY_LABEL}", new_table),
            (f"{FIRST_CUSTOM}, {S3_LATENCY_LABEL}", first_in_process),
            (f"{ORIGINAL_CUSTOM}, {S3_LATENCY_LABEL}", like_the_original),
        ):
            results.append(
                {"call": label, "requests": None, "bytes": None, "seconds": median_time(function, repeat)}
            )
            print(f"  {label:<32} {results[-1]['seconds'] * 1000:7.1f} ms")
    finally:
        proxy.latency = 0.0
    leave_store()
    return results


#: Each request held this long by the proxy in the second half of the custom() benchmark: a round trip
#: to S3 from a machine in its region is tens of milliseconds for small objects.
S3_LATENCY = 0.02
S3_LATENCY_LABEL = "20 ms per request"


#: custom() in a process that has not published on the version yet: it reads the registry first.
FIRST_CUSTOM = "custom(new name), first in its process"

#: The floor of custom(): what biodata-cache 0.42.26's custom() sends, measured in the same run.
ORIGINAL_CUSTOM = "0.42.26's custom(): 2 PUTs"


def original_custom(url: str, frame: Any) -> None:
    """What 0.42.26's ``custom(name, df)`` does on S3 (its ``S3Backend.write``), rewritten here: the frame
    as zstd parquet in one ``put_object``, then a JSON list of its columns in a second one, one after the
    other through a boto3 client (made once per process, as 0.42 keeps its backend). No registry, no
    catalog."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    global _ORIGINAL_CLIENT
    if _ORIGINAL_CLIENT is None:
        import boto3

        _ORIGINAL_CLIENT = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    bucket, key = url.removeprefix("s3://").split("/", 1)
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, compression="zstd")
    _ORIGINAL_CLIENT.put_object(Bucket=bucket, Key=f"{key}.pqt", Body=buffer.getvalue())
    columns = json.dumps([{"name": str(c), "dtype": str(t)} for c, t in frame.dtypes.items()])
    _ORIGINAL_CLIENT.put_object(Bucket=bucket, Key=f"{key}.json", Body=columns.encode())


_ORIGINAL_CLIENT: Any = None


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


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _kb(size: float | None) -> str:
    return "" if size is None else f"{size / 1024:,.1f}"


def preserved_notes(path: Path) -> list[str]:
    """The hand-written "## Notes" section of the current report (kept as it is), else the default notes."""
    if path.exists():
        text = path.read_text()
        if "\n## Notes\n" in text:
            return text.split("\n## Notes\n", 1)[1].strip("\n").splitlines()
    return list(NOTES)


def report(results: dict[str, Any], path: Path) -> None:
    load = "; ".join(f"{x['section']}: {' '.join(str(v) for v in x['load'])}" for x in results["load"])
    lines = [
        "# Performance",
        "",
        "<!-- written by `make bench` (tests/benchmarks/run.py); numbers from the run described below -->",
        "",
        f"Machine: {results['machine']}. "
        + (
            f"Run took {results['minutes']:.1f} minutes."
            if results.get("runs", 1) == 1
            else f"{results['runs']} runs (builds and reads apart) took {results['minutes']:.1f} minutes."
        ),
        "",
        f"Load average (1, 5, 15 min) as each section started (the machine is shared): {load}.",
        "",
        f"Medians over {results['repeat']} runs after one warm-up. The floor of a whole-table read is pyarrow",
        "reading the same parquet object through the same filesystem in the same process",
        "(`pq.read_table(...).to_pandas()`). Requests and bytes are counted by a pass-through proxy",
        "(tests/benchmarks/counting_proxy.py) between the client and the moto S3 server on 127.0.0.1: every",
        "request forwarded, and the response body bytes the server sent, for one warm call. All S3 timings",
        "include the proxy hop (the floor's too).",
        "",
        "![benchmarks](performance.png)",
        "",
        "## Targets (issue 12)",
        "",
        "| target | measured | met |",
        "| --- | --- | --- |",
        *targets(results),
        "",
        "## 1. Filtered reads",
        "",
        "Goal: at 1M assets each call reads at most ~5% of the asset_basics file's bytes, in at most 4",
        "requests. Floor: the compressed bytes of the rows returned (rows x the file's bytes per row; for",
        "`raw_to_derived`, per derived asset one row of source_data and one of asset_basics).",
        "",
    ]
    for label, rows in results["filtered"].items():
        lines += [
            f"### {label}",
            "",
            "| call | rows | requests | KB read | % of asset_basics file | floor KB | read / floor | ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in rows:
            counted_ = r["requests"] is not None
            share = f"{r['share']:.1%}" if counted_ else ""
            ratio = f"{r['bytes_ratio']:,.0f}x" if counted_ else ""
            lines.append(
                f"| `{r['call']}` | {r['rows']:,} | {r['requests'] if counted_ else ''} | {_kb(r['bytes'])} | "
                f"{share} | {_kb(r['floor_bytes'])} | {ratio} | {_ms(r['seconds'])} |"
            )
        size = rows[0]["file_bytes"] if rows else 0
        lines += ["", f"asset_basics file: {size / 1024 / 1024:,.1f} MB, {rows[0]['file_rows']:,} rows.", ""]
    lines += [
        "## 2. Per-call fixed cost",
        "",
        "Goal: a warm call costs at most one request more than the data GETs its answer needs;",
        "`get_cache_versions()` and `get_cache_registry()` are one request each.",
        "",
    ]
    for label, rows in results["reads"].items():
        if rows[0]["requests"] is None:
            continue
        registry = results["registry"].get(label, [])
        lines += [
            f"### {label}",
            "",
            "| call | requests | data GETs needed | extra | KB read | ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in [*rows, *registry]:
            lines.append(
                f"| `{r['call']}` | {r['requests']} | {r['needed']} | {r['requests'] - r['needed']} | "
                f"{_kb(r['bytes'])} | {_ms(r['seconds'])} |"
            )
        lines.append("")
    lines += ["## Whole-table reads against the floor", ""]
    for label, rows in results["reads"].items():
        lines += [
            f"### {label}",
            "",
            "| call | one-liner ms | floor ms | ratio | requests (floor) | KB read (floor) |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in rows:
            requests = "" if r["requests"] is None else f"{r['requests']} ({r['floor_requests']})"
            size = "" if r["bytes"] is None else f"{_kb(r['bytes'])} ({_kb(r['floor_bytes'])})"
            lines.append(
                f"| `{r['call']}` | {_ms(r['seconds'])} | {_ms(r['floor'])} | {r['ratio']:.2f} | {requests} | {size} |"
            )
        lines.append("")
    lines += [
        "### qc(subject_id) as partitions grow",
        "",
        "| partitions | store | ms | requests |",
        "| ---: | --- | ---: | ---: |",
    ]
    for r in results.get("partitions", []):
        lines.append(
            f"| {r['partitions']:,} | {r['store']} | {_ms(r['seconds'])} | {'' if r['requests'] is None else r['requests']} |"
        )
    first = results.get("first_call")
    lines += ["", "## 3. The first call in a fresh process", ""]
    if first:
        lines += [
            f'`python -c "{FIRST_CALL}"` against the floor `python -c "{FLOOR_IMPORT}"` plus one GET of the',
            "same object (timed warm on a kept-alive connection) or, locally, one `pq.read_table(...).to_pandas()`",
            f"of it. Medians of {first['runs']} interleaved fresh processes; S3 is an anonymous read of a public",
            "moto bucket (no credentials in the environment), through the counting proxy. Goal: within 1.3x.",
            "",
            "| store | first call ms | floor ms | import ms | GET / read ms | ratio | requests |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| moto S3 | {_ms(first['s3'])} | {_ms(first['s3_floor'])} | {_ms(first['import'])} | "
            f"{_ms(first['get'])} | {first['s3_ratio']:.2f} | {first['requests']} |",
            f"| local | {_ms(first['local'])} | {_ms(first['local_floor'])} | {_ms(first['import'])} | "
            f"{_ms(first['local_read'])} | {first['local_ratio']:.2f} | |",
            "",
            f"A bare `python -c pass` takes {_ms(first['python'])} ms (included in both sides).",
        ]
    lines += ["", "## 4. custom(name, df)", ""]
    if results.get("custom"):
        lines += [
            f"On moto S3, a copy of the {results['custom_store']} store. Goal: at most 5 requests and no slower "
            "than the original.",
            "",
            "| call | requests | KB read | ms |",
            "| --- | ---: | ---: | ---: |",
            *(
                f"| `{r['call']}` | {r['requests'] or ''} | {_kb(r['bytes'])} | {_ms(r['seconds'])} |"
                for r in results["custom"]
            ),
            "",
            results.get("custom_original", ""),
        ]
    lines += [
        "",
        "## 5. Builds",
        "",
        "Workers: `default_workers()`, what `biodata-cache build` and the nightly job use"
        + (
            f" ({results['builds'][0]['workers']} here)"
            if results["builds"] and "workers" in results["builds"][0]
            else ""
        )
        + ". Peak RSS is the whole process tree (the build and its worker processes), sampled",
        "every 50 ms. An incremental build runs on a copy of the full build's store after 1% of the corpus",
        "records changed. Storage is not listed (`list_storage=False`): the corpus's locations are on S3,",
        "which the benchmark machine cannot reach. Goals: 100k records in <= 60 s with the tree <= 1 GB; a",
        "JSONL incremental with 1% changed <= 10% of a full build.",
        "",
        "| build | records | seconds | records/s | % of full | peak RSS MB (tree) | written |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results["builds"]:
        share = f"{r['share']:.0%}" if r.get("share") is not None else ""
        lines.append(
            f"| {r['label']} | {r['records']:,} | {r['seconds']:.1f} | {r['records'] / max(r['seconds'], 1e-9):,.0f} | "
            f"{share} | {r.get('rss_mb', '')} | {r.get('written', '')} |"
        )
    lines += [
        "",
        "Full-build phases (seconds): "
        + "; ".join(
            f"{r['label']}: " + ", ".join(f"{k} {v:.1f}" for k, v in r["phases"].items())
            for r in results["builds"]
            if r.get("phases")
        ),
        "",
        "## Import and a one-liner process",
        "",
        f"- `import biodata_cache`: {results.get('import_ms', float('nan')):.0f} ms (median of fresh processes, "
        "minus a bare `python -c pass`).",
        "- Peak RSS of a process running `asset_basics()` on the largest built local store: "
        f"{results.get('one_liner_rss_mb')} MB.",
        "",
        "## Notes",
        "",
        *results["notes"],
        "",
    ]
    path.write_text("\n".join(lines))


NOTES = (
    "- The corpus is `builders/synthetic_corpus.py --seed 1`: synthetic records in the three DocDB shapes "
    "(v2 65%, v1 25%, hybrid 10%: `biodata_cache.synthetic.DEFAULT_SHAPES`), a tenth with bulky components.",
    "- 1M assets: `tests/benchmarks/replicate.py` repeats the largest built store's per-asset tables with new "
    "subject ids and consistently rewritten names, written with the builder's writer.",
    "- The machine is a shared VM: differences under ~20% are noise.",
)


def targets(results: dict[str, Any]) -> list[str]:
    """Rows of the targets table: each goal of issue 12, what this run measured, and whether it was met."""
    rows = []

    def met(ok: bool) -> str:
        return "yes" if ok else "no"

    for label, filtered in results["filtered"].items():
        if not label.startswith("moto S3") or filtered[0]["requests"] is None:
            continue
        worst_share = max(filtered, key=lambda r: r["share"])
        worst_requests = max(r["requests"] for r in filtered)
        ok = worst_share["share"] <= 0.05 and worst_requests <= 4
        rows.append(
            f"| 1. filtered reads <= 5% of the file and <= 4 requests ({label}) | worst `{worst_share['call']}` "
            f"{worst_share['share']:.1%}; most requests {worst_requests} | {met(ok)} |"
        )
    for label, reads in results["reads"].items():
        if reads[0]["requests"] is None:
            continue
        calls = [*reads, *results["registry"].get(label, [])]
        worst = max(calls, key=lambda r: r["requests"] - r["needed"])
        extra = worst["requests"] - worst["needed"]
        rows.append(
            f"| 2. warm call <= 1 request more than its data ({label}) | worst `{worst['call']}` +{extra} | "
            f"{met(extra <= 1)} |"
        )
        for r in results["registry"].get(label, []):
            rows.append(
                f"| 2. `{r['call']}` one request ({label}) | {r['requests']} | {met(r['requests'] <= 1)} |"
            )
    first = results.get("first_call")
    if first:
        rows.append(
            f"| 3. first call on S3 within 1.3x of import + one GET | x{first['s3_ratio']:.2f} "
            f"({_ms(first['s3'])} vs {_ms(first['s3_floor'])} ms) | {met(first['s3_ratio'] <= 1.3)} |"
        )
    for r in results.get("custom", [])[:1]:
        most = max(c["requests"] or 0 for c in results["custom"] if not c["call"].startswith(ORIGINAL_CUSTOM))
        rows.append(f"| 4. custom() <= 5 requests | {most} | {met(most <= 5)} |")
        calls = {f["call"]: f for f in results["custom"]}
        for ours, floor, where in (
            (r["call"], ORIGINAL_CUSTOM, "moto"),
            (FIRST_CUSTOM, ORIGINAL_CUSTOM, "moto, first in its process"),
            (
                f"custom(new name, 100 rows), {S3_LATENCY_LABEL}",
                f"{ORIGINAL_CUSTOM}, {S3_LATENCY_LABEL}",
                f"moto, {S3_LATENCY_LABEL}",
            ),
            (
                f"{FIRST_CUSTOM}, {S3_LATENCY_LABEL}",
                f"{ORIGINAL_CUSTOM}, {S3_LATENCY_LABEL}",
                f"moto, {S3_LATENCY_LABEL}, first in its process",
            ),
        ):
            if ours in calls and floor in calls:
                ours_s, floor_s = calls[ours]["seconds"], calls[floor]["seconds"]
                rows.append(
                    f"| 4. custom() no slower than 0.42.26's ({where}) | {_ms(ours_s)} vs {_ms(floor_s)} ms "
                    f"| {met(ours_s <= floor_s)} |"
                )
    for build in results["builds"]:
        if build["label"] == "full, JSONL, 100,000":
            ok = build["seconds"] <= 60 and build.get("rss_mb", 0) <= 1024
            rows.append(
                f"| 5. full build of 100k records <= 60 s, process tree <= 1 GB | {build['seconds']:.0f} s, "
                f"{build.get('rss_mb')} MB | {met(ok)} |"
            )
        if build["label"].startswith("incremental (1% changed), JSONL") and build.get("share") is not None:
            rows.append(
                f"| 5. JSONL incremental (1% changed) <= 10% of a full build ({build['label'].split(', ')[-1]}) | "
                f"{build['share']:.0%} | {met(build['share'] <= 0.1)} |"
            )
    for label, reads in results["reads"].items():
        whole = [r for r in reads if not r["call"].startswith("qc(")]
        worst = max(whole, key=lambda r: r["ratio"])
        rows.append(
            f"| whole tables within 1.3x of the floor ({label}) | worst `{worst['call']}` x{worst['ratio']:.2f} "
            f"({(worst['seconds'] - worst['floor']) * 1000:+.1f} ms) | {met(worst['ratio'] <= 1.3)} |"
        )
    counts = sorted({r["requests"] for r in results.get("partitions", []) if r["requests"] is not None})
    rows.append(f"| qc(subject_id) requests constant in partitions | {counts} | {met(len(counts) == 1)} |")
    return rows


def build_benchmarks(
    sizes: list[int], docdb_size: int, results: dict[str, Any], stores: Path = WORK, save: Path | None = None
) -> None:
    """Full and incremental (1% changed, on a copy of the full build's store) builds of each corpus; the
    results so far are saved to ``save`` after each build."""
    for size in sizes:
        note_load(results, f"build {size:,}")
        source = corpus(size)
        root = stores / f"store-{size}"
        shutil.rmtree(root, ignore_errors=True)
        full = build(str(source), root, full=True)
        results["builds"].append(
            {
                "label": f"full, JSONL, {size:,}",
                "records": full["records"],
                "seconds": full["seconds"],
                "rss_mb": full["rss_mb"],
                "phases": full["phases"],
                "workers": full["workers"],
                "written": f"{len(full['tables'])} tables, {full['partitions']:,} partitions",
            }
        )
        if save is not None:
            save_partial(results, save)
        print(
            f"  full build {size:,}: {full['seconds']:.1f} s, tree {full['rss_mb']} MB, phases {full['phases']}"
        )
        copy = stores / f"store-{size}-incremental"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(root, copy)
        backup = source.with_name(source.name + ".orig")
        shutil.copy(source, backup)
        try:
            change_one_percent(source)
            incremental = build(str(source), copy, full=False)
        finally:
            os.replace(backup, source)
        shutil.rmtree(copy, ignore_errors=True)
        results["builds"].append(
            {
                "label": f"incremental (1% changed), JSONL, {size:,}",
                "records": incremental["records"],
                "seconds": incremental["seconds"],
                "share": incremental["seconds"] / full["seconds"],
                "rss_mb": incremental["rss_mb"],
                "written": f"{len(incremental['tables'])} tables, {incremental['partitions']:,} partitions",
            }
        )
        print(
            f"  incremental {size:,} (1% changed): {incremental['seconds']:.1f} s "
            f"({incremental['seconds'] / full['seconds']:.0%} of full)"
        )
    if docdb_size:
        note_load(results, f"DocDB build {docdb_size:,}")
        source = corpus(docdb_size)
        root = stores / f"store-docdb-{docdb_size}"
        shutil.rmtree(root, ignore_errors=True)
        _wall, rss, out = run_tree(
            DOCDB_BUILD.format(tests=str(REPOSITORY / "tests"), corpus=str(source), root=str(root))
        )
        docdb = json.loads(out.strip().splitlines()[-1])
        results["builds"].append(
            {
                "label": f"full, DocDB (real client, in-memory transport), {docdb_size:,}",
                "records": docdb["records"],
                "seconds": docdb["seconds"],
                "rss_mb": rss,
                "written": f"{docdb['requests']} API requests",
            }
        )
        results["builds"].append(
            {
                "label": f"incremental (1% changed), DocDB, {docdb_size:,}",
                "records": docdb["incremental_records"],
                "seconds": docdb["incremental_seconds"],
                "share": docdb["incremental_seconds"] / docdb["seconds"],
                "written": f"{docdb['incremental_written']} tables, {docdb['incremental_partitions']} partitions, "
                f"{docdb['incremental_requests']} API requests",
            }
        )
        print(
            f"  DocDB build {docdb_size:,}: {docdb['seconds']:.1f} s, {docdb['requests']} requests; "
            f"incremental {docdb['incremental_seconds']:.1f} s, {docdb['incremental_requests']} requests"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000", help="corpus sizes to build and read")
    parser.add_argument("--partitions", default="100,1000,10000")
    parser.add_argument("--docdb-size", type=int, default=10000, help="DocDB build size (0: skip)")
    parser.add_argument(
        "--replicated",
        type=int,
        default=1000000,
        help="read benchmarks on the largest store replicated to this many assets (0: skip)",
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--first-call-runs", type=int, default=7)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="10k only, no DocDB build, 100 partitions, 3 repeats (a smoke run)",
    )
    parser.add_argument("--out", type=Path, default=REPOSITORY / "docs" / "performance.md")
    parser.add_argument("--json", type=Path, default=WORK / "results.json", help="where to write the results")
    parser.add_argument(
        "--skip-builds",
        action="store_true",
        help="reuse the stores built by an earlier run (no build numbers)",
    )
    parser.add_argument(
        "--stores", type=Path, default=WORK, help="folder of the built stores (corpora stay in build/bench)"
    )
    parser.add_argument("--builds-only", action="store_true", help="only the builds (run the reads apart)")
    parser.add_argument(
        "--stores-only",
        action="store_true",
        help="only the reads of each store (no first call, custom(), partitions or import)",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        help="combine the results files of several runs (e.g. builds and reads run apart) into one report",
    )
    arguments = parser.parse_args()
    if arguments.merge:
        results = merged([json.loads(path.read_text()) for path in arguments.merge])
        results["notes"] = preserved_notes(arguments.out)
        write_results(results, arguments.json, arguments.out)
        return
    if arguments.quick:
        arguments.sizes, arguments.partitions, arguments.docdb_size = "10000", "100", 0
        arguments.replicated, arguments.repeat, arguments.first_call_runs = 100000, 3, 5
    sizes = [int(s) for s in arguments.sizes.split(",") if s]
    started = time.perf_counter()
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
        "load": [],
        "reads": {},
        "filtered": {},
        "registry": {},
        "builds": [],
        "notes": preserved_notes(arguments.out),
    }
    print(results["machine"])

    if not arguments.skip_builds:
        print("builds")
        build_benchmarks(sizes, arguments.docdb_size, results, arguments.stores, arguments.json)
        save_partial(results, arguments.json)
    if arguments.builds_only:
        results["minutes"] = (time.perf_counter() - started) / 60
        write_results(results, arguments.json, arguments.out)
        return

    server = MotoServer()
    proxy = CountingProxy(server.endpoint)
    os.environ["AWS_ENDPOINT_URL"] = proxy.url  # every S3 call goes through the proxy to the moto server
    try:
        print("reads")
        for size in sizes:
            store_benchmarks(
                f"{size:,} assets",
                arguments.stores / f"store-{size}",
                f"s3://{BUCKET}/store-{size}",
                arguments.repeat,
                server,
                proxy,
                results,
            )
            save_partial(results, arguments.json)
        if arguments.replicated:
            largest = max(sizes)
            note_load(results, f"replicate {arguments.replicated:,}")
            local = replicated_store(
                arguments.stores / f"store-{largest}",
                arguments.stores / f"store-replicated-{arguments.replicated}-from-{largest}",
                arguments.replicated,
            )
            store_benchmarks(
                f"{arguments.replicated:,} assets (replicated from {largest:,})",
                local,
                f"s3://{BUCKET}/replicated-{arguments.replicated}",
                arguments.repeat,
                server,
                proxy,
                results,
            )
        save_partial(results, arguments.json)
        if arguments.stores_only:
            results["minutes"] = (time.perf_counter() - started) / 60
            write_results(results, arguments.json, arguments.out)
            return
        print("first call in a fresh process")
        note_load(results, "first call")
        smallest = min(sizes)
        results["first_call"] = first_call_benchmarks(
            arguments.stores / f"store-{smallest}",
            f"s3://{BUCKET}/store-{smallest}",
            server,
            proxy,
            arguments.first_call_runs,
        )
        save_partial(results, arguments.json)
        print("custom()")
        note_load(results, "custom")
        results["custom_store"] = f"{smallest:,}-asset"
        results["custom"] = custom_benchmarks(
            arguments.stores / f"store-{smallest}",
            f"s3://{BUCKET}/custom-{smallest}",
            server,
            proxy,
            arguments.repeat,
        )
        results["custom_original"] = (
            f"`{ORIGINAL_CUSTOM}` is the floor: what 0.42.26's custom() sends (a parquet PUT, then a "
            "columns JSON PUT, one after the other through a boto3 client; no registry, no catalog), "
            "rewritten in tests/benchmarks/run.py (`original_custom`) and timed in the same run. moto "
            "answers one request at a time, so requests sent together still cost one after the other "
            "here; on S3 a round trip is what costs."
        )
        print("qc partitions")
        note_load(results, "qc partitions")
        results["partitions"] = partition_benchmarks(
            [int(c) for c in arguments.partitions.split(",") if c], arguments.repeat, proxy
        )
    finally:
        proxy.close()
        server.stop()

    note_load(results, "import")
    bare = statistics.median(run_measured("pass")[0] for _ in range(7))
    imported = statistics.median(run_measured("import biodata_cache")[0] for _ in range(7))
    results["import_ms"] = (imported - bare) * 1000
    largest_store = arguments.stores / f"store-{max(sizes)}"
    # Sampled from /proc: a fresh process's ru_maxrss keeps the high-water mark of the forked benchmark
    # process (which holds the 1M-asset tables), not the one-liner's own.
    _, results["one_liner_rss_mb"], _ = run_tree(
        "import biodata_cache as bdc; bdc.asset_basics()", {"BIODATA_CACHE_ROOT": str(largest_store)}
    )
    print(
        f"import {results['import_ms']:.0f} ms; one-liner process peak RSS {results['one_liner_rss_mb']} MB"
    )
    results["minutes"] = (time.perf_counter() - started) / 60
    note_load(results, "end")
    write_results(results, arguments.json, arguments.out)


def save_partial(results: dict[str, Any], path: Path) -> None:
    """Write the results so far (a run stopped later still leaves its finished sections)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**results, "partial": True}, indent=1, default=str))


def merged(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several runs: the tables of each (a later run's section replaces an earlier one's
    of the same label), the builds and load notes of all, the run minutes summed."""
    result: dict[str, Any] = {"reads": {}, "filtered": {}, "registry": {}, "builds": [], "load": []}
    for run in runs:
        for key in ("reads", "filtered", "registry"):
            result[key].update(run.get(key, {}))
        result["builds"] += run.get("builds", [])
        result["load"] += run.get("load", [])
        for key, value in run.items():
            if key not in result and key != "partial":
                result[key] = value
        result["machine"] = run["machine"]
        result["repeat"] = max(result.get("repeat", 0), run.get("repeat", 0))
    result["minutes"] = sum(run.get("minutes", 0) for run in runs)
    result["runs"] = len(runs)
    return result


def write_results(results: dict[str, Any], json_path: Path, out: Path) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, default=str))
    if results["reads"] and results.get("partitions"):
        plot(results["reads"], results["partitions"], out.with_suffix(".png"))
    report(results, out)
    print(
        f"wrote {out}, {out.with_suffix('.png')} and {json_path} in {results.get('minutes', 0):.1f} minutes"
    )


if __name__ == "__main__":
    main()
