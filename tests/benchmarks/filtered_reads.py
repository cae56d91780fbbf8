"""Bytes and requests of filtered reads of asset_basics / source_data at 1M assets on a moto S3 server.

    python tests/benchmarks/filtered_reads.py --store <local store of a build> [--rows 1000000]
        [--projects kept|per-copy] [--repeat 5]

The store's ``asset_basics`` and ``source_data`` (e.g. a build of a 10k synthetic corpus) are replicated
to ``--rows`` assets, each copy with new subject ids and the names renamed to match them (names that do
not embed their subject stay exceptions). ``--projects kept`` keeps the project names (each project is
spread over the whole file: the worst case for the project index); ``per-copy`` gives each copy its own
projects. Both tables are published with this checkout's writer to a fresh moto server, then each
filtered read is called cold once and warm ``--repeat`` times; the warm requests, the bytes of the GET
responses (without the catalog's), the floor (the compressed bytes of the rows returned: rows x the
file's bytes per row, and the answer written alone as one zstd parquet file) and the median time are
printed. Run it with another checkout on ``PYTHONPATH`` to measure that checkout's reads of its own
files (before / after).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import statistics
import sys
import time


def _value(value: str, copy: int) -> str:
    return str(int(value) + copy * 10**6) if value.isdigit() else f"{value}x{copy}"


def _embedded(name: str) -> str | None:
    """biodata_cache.clustered.embedded_value, repeated so that checkouts without it run this too."""
    parts = name.split("_")
    for i in range(1, len(parts)):
        if re.match(r"\d{4}-\d{2}-\d{2}\Z", parts[i]):
            return parts[i - 1] or None
    return None


def _renamed(name: str | None, copy: int) -> str | None:
    if name is None:
        return None
    embedded = _embedded(name)
    if embedded is None:
        return f"{name}-{copy}"
    return name.replace(f"_{embedded}_", f"_{_value(embedded, copy)}_", 1)


def replicate(assets, lineage, rows: int, projects: str):
    import pyarrow as pa

    copies = -(-rows // assets.num_rows)
    asset_parts, lineage_parts = [], []
    for copy in range(copies):
        part = assets
        for column, rename in (
            ("_id", lambda v, c=copy: f"{v}-{c}"),
            ("name", lambda v, c=copy: _renamed(v, c)),
            ("subject_id", lambda v, c=copy: None if v is None else _value(v, c)),
        ):
            values = [rename(v) if v is not None else None for v in part.column(column).to_pylist()]
            part = part.set_column(part.schema.get_field_index(column), column, pa.array(values, pa.string()))
        if projects == "per-copy":
            values = [None if v is None else f"{v} ({copy})" for v in part.column("project_name").to_pylist()]
            index = part.schema.get_field_index("project_name")
            part = part.set_column(index, "project_name", pa.array(values, pa.string()))
        asset_parts.append(part)
        part = lineage
        for column in ("name", "source_data", "_id"):
            values = [_renamed(v, copy) for v in part.column(column).to_pylist()]
            part = part.set_column(part.schema.get_field_index(column), column, pa.array(values, pa.string()))
        lineage_parts.append(part)
    return pa.concat_tables(asset_parts).slice(0, rows), pa.concat_tables(lineage_parts)


def _zstd_bytes(answer) -> int:
    """Size of ``answer`` (a DataFrame or a list) written alone as a zstd parquet file."""
    import io

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = answer if isinstance(answer, pd.DataFrame) else pd.DataFrame({"value": answer})
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, compression="zstd")
    return len(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--projects", choices=("kept", "per-copy"), default="kept")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import pyarrow.parquet as pq
    import s3fs
    from moto.server import ThreadedMotoServer

    import biodata_cache as bdc
    from biodata_cache.publish import publish_registry, write_table
    from biodata_cache.store import Store
    from biodata_cache.tables import TABLES_BY_NAME

    print("biodata_cache from", os.path.dirname(bdc.__file__))
    folder = f"{args.store}/bdc-v0.1"
    assets = pq.read_table(glob.glob(f"{folder}/asset_basics-*.pqt")[0])
    lineage = pq.read_table(glob.glob(f"{folder}/source_data-*.pqt")[0])
    assets, lineage = replicate(assets, lineage, args.rows, args.projects)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="x",
        AWS_DEFAULT_REGION="us-west-2",
        AWS_ENDPOINT_URL_S3=f"http://{host}:{port}",
    )
    import boto3

    boto3.client("s3", endpoint_url=f"http://{host}:{port}").create_bucket(
        Bucket="bench", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    root = "s3://bench/store"
    os.environ["BIODATA_CACHE_ROOT"] = root
    store = Store(root)
    started = time.perf_counter()
    entries = [
        write_table(store, "bdc-v0.1", TABLES_BY_NAME[name], data, source="bench")
        for name, data in (("asset_basics", assets), ("source_data", lineage))
    ]
    publish_registry(store, "bdc-v0.1", entries, source="bench")
    elapsed = time.perf_counter() - started
    print(f"wrote {assets.num_rows} assets, {lineage.num_rows} lineage rows in {elapsed:.1f} s")
    sizes = {e.name: e.size for e in entries}
    with store.fs.open(store._path(f"bdc-v0.1/{entries[0].path}"), "rb") as handle:
        footer = pq.read_metadata(handle)
    print(
        f"asset_basics: {sizes['asset_basics']} bytes, {footer.num_row_groups} row groups, "
        f"footer {footer.serialized_size} bytes"
    )
    print(f"source_data: {sizes['source_data']} bytes")
    for column, relpath in getattr(entries[0], "projections", {}).items():  # checkouts with projections
        size = store.fs.size(store._path(f"bdc-v0.1/{relpath}"))
        print(f"asset_basics projection by {column}: {size} bytes")
    per_row = sizes["asset_basics"] / assets.num_rows
    catalog = len(store.read_bytes("bdc-v0.1/catalog.yaml"))

    rows = assets.select(["subject_id", "project_name", "name"]).to_pylist()
    middle = rows[len(rows) // 2]
    projects = sorted(
        {r["project_name"] for r in rows if r["project_name"]},
        key=lambda p: sum(1 for r in rows if r["project_name"] == p),
    )
    small_project = projects[len(projects) // 2]
    sources = lineage.column("source_data").to_pylist()
    raw = next(s for s in sources[len(sources) // 2 :] if s)
    calls = {
        "asset_basics(subject_id=)": lambda: bdc.asset_basics(subject_id=middle["subject_id"]),
        "asset_basics(project_name=) (median project)": lambda: bdc.asset_basics(project_name=small_project),
        "asset_basics(name=)": lambda: bdc.asset_basics(name=middle["name"]),
        "raw_to_derived(name)": lambda: bdc.raw_to_derived(raw),
    }
    original = s3fs.S3FileSystem._call_s3
    counted = {"calls": 0, "bytes": 0}

    async def counting(fs, method, *a, **k):
        response = await original(fs, method, *a, **k)
        counted["calls"] += 1
        if method == "get_object":
            counted["bytes"] += int(response.get("ContentLength") or 0)
        return response

    s3fs.S3FileSystem._call_s3 = counting
    for label, call in calls.items():
        call()  # cold
        times = []
        for _ in range(args.repeat):
            counted.update(calls=0, bytes=0)
            started = time.perf_counter()
            answer = call()
            times.append(time.perf_counter() - started)
        data = counted["bytes"] - catalog
        floor = len(answer) * per_row  # the compressed bytes of the rows returned, at the file's rate
        compressed = _zstd_bytes(answer)  # ... and as one zstd parquet file of just the answer
        print(
            f"{label}: {len(answer)} rows, {counted['calls']} requests, {data} bytes besides the catalog "
            f"({100 * data / sizes['asset_basics']:.2f}% of asset_basics; floor {floor:.0f} bytes, "
            f"x{data / max(floor, 1):.2f}; the answer alone {compressed} bytes zstd, "
            f"x{data / max(compressed, 1):.2f}), median {1000 * statistics.median(times):.0f} ms"
        )
    s3fs.S3FileSystem._call_s3 = original
    server.stop()


if __name__ == "__main__":
    sys.exit(main())
